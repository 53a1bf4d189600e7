"""The rclone command for one job, built by the pure function rclone_argv():

    push  (default)  rclone copy --update LOCAL REMOTE:folder/source/    (mode mirror: rclone sync)
    pull             rclone copy --update REMOTE:folder/source/ LOCAL    (mode mirror: rclone sync)
    bisync           rclone bisync LOCAL REMOTE:folder/source/            (first run: --resync-mode newer)

What mirror and bisync delete or replace on a side goes to a dated folder beside it:
<folder>-versions/<date>/ (bisync: on both sides, the local one beside the source folder).
Retries are rclone's own (--retries, --low-level-retries), for the errors that pass (a 500
mid-transfer); the destination's connect_timeout and stall_timeout are rclone's --contimeout and
--timeout (idle). `flags` come last, so a user's own values win (rclone keeps the last value of a
repeated flag). Secrets never go in argv.

Before a job, probe_argv()'s listing contacts the server once, without retries (see transport.py).
"""

import os
import sys

from ...manifest import FOLDER as MANIFEST_FOLDER
from ...versions import version_stamp, versions_folder

RETRIES = ("--retries", "3", "--low-level-retries", "5")
NO_RETRIES = ("--retries", "1", "--low-level-retries", "1")
PROGRESS_STATS_INTERVAL = "500ms"
# the stall watch reads the stats entries (a line of JSON a second costs nothing measurable)
QUIET_STATS_INTERVAL = "1s"
BISYNC_FOLDER = "rclone-bisync"


def rclone_binary(options):
    """`rclone_binary`, else the pinned rclone beside this Python (the .venv's), else `rclone` on PATH."""
    if options.rclone_binary:
        return options.rclone_binary
    pinned = os.path.join(os.path.dirname(sys.executable), "rclone")
    return pinned if os.access(pinned, os.X_OK) else "rclone"


def as_folder(location):
    """remote:path/ — the slash tells rclone it is a folder, so S3 skips a HEAD request that turns
    'server unreachable' or 'wrong key' into a misleading 'is a file not a directory'."""
    return location if location.endswith((":", "/")) else location + "/"



def rclone_argv(job, target=None, *, binary="rclone", progress=False, stamp=None, workdir=None, first_bisync=False,
                report=None, files_from=None, exclude_from=None, native_versions=False):
    """The rclone command for one job; a pure function of its arguments, tested without running it.

    target: job.target unless given. stamp: the date of the versions folders (mirror, bisync).
    workdir and first_bisync: bisync's state folder, and whether this is the pair's first run.
    report: the file for copy and sync's --combined report. files_from: a retry's list of paths to send.
    exclude_from: a file of the files refused by name, left out (see names.py).
    native_versions: the S3 bucket keeps what is replaced or deleted itself (s3_versions.py): no --backup-dir.
    """
    options = job.destination.options
    target = job.target if target is None else target
    local, remote = job.source.path, as_folder(target)
    argv = [binary, *config_option(options)]
    stamp = stamp or version_stamp()
    if options.direction == "bisync":
        argv += ["bisync", local, remote, "--workdir", workdir, "--conflict-resolve", "none",
                 "--resilient", "--recover", "--max-lock", "2m",
                 # what either side loses (an older copy replaced, a file deleted) is kept beside it, dated
                 "--backup-dir1", versions_folder(local, stamp), "--backup-dir2", versions_folder(remote, stamp)]
        if first_bisync:
            argv += ["--resync-mode", "newer"]  # the newer copy of a file on both sides wins; nothing is deleted
    else:
        source, destination_path = (local, remote) if options.direction == "push" else (remote, local)
        argv += ["sync" if options.mode == "mirror" else "copy", source, destination_path, "--update"]
        if report:
            argv += ["--combined", report]
        if (options.mode == "mirror" or job.destination.versions) and not native_versions:
            argv += ["--backup-dir", versions_folder(destination_path, stamp)]
        argv += ["--exclude", f"/{MANIFEST_FOLDER}/**"]  # our manifest beside the data: never sent, moved or fetched
    argv += ["--use-json-log", "-v", "--stats", PROGRESS_STATS_INTERVAL if progress else QUIET_STATS_INTERVAL,
             "--transfers", str(options.transfers), "--checkers", str(options.checkers), *RETRIES,
             *timeout_flags(job.destination)]
    if job.dry_run:
        argv.append("--dry-run")
    for pattern in job.source.exclude:
        for rule in as_rclone_excludes(pattern):
            argv += ["--exclude", rule]
    if exclude_from:
        argv += ["--exclude-from", exclude_from]
    if files_from:
        argv += ["--files-from-raw", files_from]  # raw: a name is taken as it is, spaces and # included
    argv += options.flags
    return argv


def timeout_flags(destination):
    """rclone's --contimeout (connect_timeout) and --timeout (stall_timeout: no data either way this long)."""
    return ["--contimeout", f"{destination.connect_timeout:g}s", "--timeout", f"{destination.stall_timeout:g}s"]


def probe_argv(destination, location, binary="rclone"):
    """One listing of `location` (its first level), to contact the server before a job or for `reach`.

    The connect and idle timeouts are both connect_timeout, and there is no retry: a refused connection
    ends it at once. `--dump headers` shows the host each request goes to ("connecting to 127.0.0.1:9000")
    and sets the log to debug; it stays on stderr, apart from the listing on stdout.
    """
    options = destination.options
    seconds = f"{destination.connect_timeout:g}s"
    return [binary, *config_option(options), "lsf", "--max-depth", "1", as_folder(location), "--use-json-log",
            "--dump", "headers", "--contimeout", seconds, "--timeout", seconds, *options.flags, *NO_RETRIES]


def as_rclone_excludes(pattern):
    """One exclude pattern, read by rsync's rule (as every transport reads it), as rclone filters.

    rsync's pattern matches a file or a folder of that name (and so all under it); rclone's only
    a file, unless it ends in /**. A trailing / means folders only, for both.
    """
    if pattern.endswith("/"):
        return [pattern.rstrip("/") + "/**"]
    return [pattern, pattern + "/**"]


def config_option(options):
    """--config FILE when the destination names its rclone config file."""
    return ["--config", options.rclone_config] if options.rclone_config else []


def bisync_workdir(job, target):
    """bisync's listings for one (local folder, remote) pair; a new pair starts with a fresh resync.

    Under the job's state folder: <state_dir>/<destination>/rclone-bisync/.
    """
    import hashlib

    pair = f"{os.path.abspath(job.source.path)}\0{target}".encode("utf-8", "surrogateescape")
    name = f"{job.source.name.replace('/', '_')}-{hashlib.blake2b(pair, digest_size=6).hexdigest()}"
    return os.path.join(state_folder(job), BISYNC_FOLDER, name)


def state_folder(job):
    """The job's state folder (<state_dir>/<destination>/), else, for a job made without one,
    ~/.cache/backup_system/state/<destination>/."""
    if job.state_dir:
        return job.state_dir
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "backup_system", "state", job.destination.name)




def report_file(job):
    """An empty file for rclone's --combined report, in the job's state folder."""
    return state_file(job, "rclone-report", "")


def retry_file(job):
    """A retry's paths for --files-from-raw, one a line, in the job's state folder; None for the whole tree."""
    if job.only_paths is None:
        return None
    return state_file(job, "rclone-retry", "".join(path + "\n" for path in job.only_paths))


def refused_file(job, paths):
    """The --exclude-from file that leaves out the files refused by name; None when there are none."""
    if not paths:
        return None
    from .names import exclude_lines

    return state_file(job, "rclone-refused", exclude_lines(paths))


def state_file(job, name, text):
    """A file in the job's state folder (the run holds the lock, so one name per process is enough;
    `tempfile` would cost every run ~4 ms to import)."""
    folder = state_folder(job)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}-{os.getpid()}.txt")
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as stream:
        stream.write(text)
    return path


