"""Sending with rsync: a local folder, a mounted share, or user@host:/path over ssh.

`rsync -a --update` does the incremental work; output.py reads its itemized output and its
--stats. The %b in --out-format makes rsync print a file's line when its data has been sent,
not when it starts, so a file cut off by a timeout or an interrupt is never counted as sent;
after a run with any error a dry run over the files claimed confirms which are really there.
A destination's own folder (base_path, or a <source>_path) is never created unless the
destination says `create: true`: a missing one is usually a disk or share not mounted.
"""

import os
import re

from ... import proc
from ...errors import DestinationFull, NotFound, Refused, Stalled, TimedOut, TransportError, Unreachable
from ...localtree import folder_problem
from ...locations import is_inside, is_remote_location
from ...times import now
from ...versions import VERSIONS_SUFFIX, version_stamp, versions_folder
from .. import Transport
from . import partial
from .output import OutputReader, unescape  # noqa: F401 (unescape: part of this module's face)
from .ssh import connect_failure, host_of, rsh_options, seconds, stalled, timeout_options

EXIT_MEANINGS = {
    1: "syntax or usage error", 2: "protocol incompatibility", 3: "errors selecting input/output files",
    5: "error starting client-server protocol", 10: "error in socket I/O", 11: "error in file I/O",
    12: "error in rsync protocol data stream", 20: "interrupted", 30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection", 255: "ssh could not connect",
}
CLOSED = r"^rsync: connection unexpectedly closed \((\d+) bytes received so far\)"
SSH_WARNING = r"^(Warning: |\*\* WARNING: |\*\* )"
NOT_MOUNTED = "{root} does not exist: is the disk or share mounted? (`create: true` on the destination lets " \
              "backup_system make it)"
NOT_YET = "reachable; the folder is not there yet (a run makes it)"
OWN_FOLDER = ".backup_system"  # the manifest's folder at the top of a target (manifest.py): a mirror keeps it


def rsync_argv(job, partial_dir=None, temp_dir=None, resume=False, mkpath=True, max_size=None, stamp=None,
               link_dest=()):
    """The rsync command for one job; a pure function of its arguments, tested without running it.

    partial_dir: the --partial-dir, if any (partial.py decides); temp_dir: the --temp-dir, if any; resume: the
    partial dir holds a piece to resume from, so delta transfer even locally; mkpath: make missing folders
    above the target (only below the destination's own folder); max_size: leave bigger files, naming them;
    stamp: the name of this run's versions folder, when the job keeps what it replaces (see keeping_options);
    link_dest: folders (relative to the target) whose identical files are hard-linked, not sent (snapshot.py)."""
    argv = ["rsync", "-a", "--update", *(["--mkpath"] if mkpath else []), "--out-format=%i|%l|%b|%n",
            "--stats", "--no-h"]
    if not is_remote_location(job.target):
        # Both ends on this machine: one whole file list (about 100 bytes a file) instead of one per folder
        # exchanged between rsync's processes; measured 12-21% faster on a no-change run (bench/run.py).
        argv.append("--no-inc-recursive")
    if job.dry_run:
        argv.append("--dry-run")
    else:  # the name of each file as it starts, so that a message can say what was on its way
        argv.append("--info=name1,progress1" + (",skip1" if max_size else ""))
    argv.extend([f"--max-size={max_size}"] if max_size else [])
    if partial_dir and not job.dry_run:
        argv.append(f"--partial-dir={partial_dir}")
        argv.extend(["--no-whole-file"] if resume else [])
    argv.extend([f"--temp-dir={temp_dir}"] if temp_dir and not job.dry_run else [])
    argv.extend(rsh_options(job))
    argv.extend(timeout_options(job))
    argv.extend(keeping_options(job, stamp))
    argv.extend(f"--link-dest={folder}" for folder in link_dest)
    argv.extend(f"--exclude={pattern}" for pattern in job.source.exclude)
    if job.only_paths is not None:
        argv.extend(["--files-from=-", "--from0"])  # the paths come on stdin, NUL-separated: any name works
    argv.extend(job.destination.options.rsync_options)
    argv.extend([job.source.path.rstrip("/") + "/", job.target.rstrip("/") + "/"])
    return argv


def keeps_versions(destination):
    """Whether this destination's runs keep what they overwrite or delete: versions: true or a mirror (a snapshot
    keeps each run's whole tree instead)."""
    mode = getattr(destination.options, "mode", "copy")
    return mode == "mirror" or (mode != "snapshot" and getattr(destination, "versions", False))


def versions_dir(target, stamp):
    """--backup-dir for a run: <target>-versions/<stamp>. Over ssh rsync takes it relative to the target folder on
    the other side, so it goes one up from there; a local one is absolute."""
    if is_remote_location(target):
        return f"../{os.path.basename(target.rstrip('/'))}{VERSIONS_SUFFIX}/{stamp}"
    return versions_folder(target, stamp)


def keeping_options(job, stamp):
    """versions: true and mode: mirror: --backup into this run's versions folder; a mirror also --delete, with our
    own folders at the top of the target (the manifest, the partial folder) protected. A pass over a list of
    paths (--files-from) deletes nothing: rsync allows --delete only over whole folders."""
    if stamp is None or not keeps_versions(job.destination):
        return []
    options = ["--backup", f"--backup-dir={versions_dir(job.target, stamp)}"]
    if job.destination.options.mode == "mirror" and job.only_paths is None:
        protected = (OWN_FOLDER, partial.folder_name(job.source.path))
        options += ["--delete", *(f"--filter=P /{name}/" for name in protected)]
    return options


def destination_root(job):
    """The destination's own folder this job lands in (base_path, or the source's <source>_path), or None
    when the target is elsewhere (a mounted share)."""
    spec = job.source.name.split("/", 1)[0]
    return root_of(job.destination, job.target, (job.destination.paths.get(spec), job.destination.base_path))


def root_of(destination, target, roots=None):
    """The destination's own folder holding target (of `roots`, by default all of them), or None."""
    for root in roots or (*destination.paths.values(), destination.base_path):
        if root and is_inside(target.rstrip("/"), root.rstrip("/")):
            return root.rstrip("/") or "/"
    return None


class Rsync(Transport):
    """Sends a source folder with `rsync -a --update`."""

    name = "rsync"
    stamp = None  # this job's versions folder name, when it keeps what it replaces (see keeping_options)

    def send(self, job):
        """See Transport.send."""
        problem = folder_problem(job.source.path)
        if problem:
            raise NotFound(problem)
        remote = is_remote_location(job.target)
        mkpath = self.check_root(job, remote)
        self.stamp = version_stamp(now()) if keeps_versions(job.destination) else None
        if getattr(job.destination.options, "mode", "copy") == "snapshot":
            from . import snapshot  # only a snapshot destination pays for it (shutil, tempfile)

            return snapshot.take(self, job, mkpath)
        keep = job.destination.options.keep_partial and not job.dry_run
        if remote:
            return self.send_remote(job, keep, mkpath)
        if not keep:
            return self.transfer(job, rsync_argv(job, stamp=self.stamp))[0]
        return self.send_local(job)

    def send_remote(self, job, keep, mkpath):
        """Over ssh: one rsync, with our partial folder at the top of the target (see partial.py)."""
        unfinished = keep and partial.begin_remote(job)
        done, returncode = self.transfer(job, rsync_argv(job, partial.partial_dir(job) if keep else None,
                                                         mkpath=mkpath, stamp=self.stamp))
        if keep and returncode in (0, 24):
            partial.end_remote(job, unfinished, rsh_options(job), self.log)
        return done

    def send_local(self, job):
        """Locally, keeping interrupted files: our folder as the temp dir, and the big files in a second pass
        with the partial dir (see partial.py); a retry's few paths go in one pass."""
        folder = partial.our_folder(job)
        usable, resume = partial.prepare_local(folder)
        temp_dir = folder if usable else None
        returncode = None

        def second_pass(reader):
            paths = partial.to_resend(job, reader.big, resume)
            second = job._replace(only_paths=tuple(paths))
            return paths and (second, rsync_argv(second, partial.partial_dir(job), temp_dir, resume, stamp=self.stamp))

        try:
            if job.only_paths is not None:
                done, returncode = self.transfer(job, rsync_argv(job, partial.partial_dir(job), temp_dir, resume,
                                                                 stamp=self.stamp))
            else:
                done, returncode = self.transfer(job, rsync_argv(job, temp_dir=temp_dir, max_size=partial.BIG,
                                                                 stamp=self.stamp), then=second_pass)
        finally:
            partial.finish_local(folder, clean=returncode in (0, 24))
        return done

    def check_root(self, job, remote):
        """Refuse a missing destination folder; True when folders above the target may be made (--mkpath).

        Over ssh, a target right inside the destination's folder needs no --mkpath (rsync makes the last
        folder only, and fails when the one above is missing); a deeper one is checked with one listing."""
        root = destination_root(job)
        if job.destination.create or root is None:
            return True
        if not remote:
            if not os.path.isdir(root):
                raise NotFound(NOT_MOUNTED.format(root=root))
            return True
        if os.path.dirname(job.target.rstrip("/")) == root:
            return False
        if not self.list_remote(job, root, self.destination.stall_timeout):
            raise NotFound(NOT_MOUNTED.format(root=root))
        return True

    def list_remote(self, job, path, stall_timeout):
        """Whether the folder `path` exists on job's server: one listing of only that folder, through the job's
        ssh options. Raises Unreachable or Stalled when the server cannot be reached or stops answering."""
        location = f"{job.target.split(':', 1)[0]}:{path.rstrip('/') or '/'}/"
        ran = proc.run(["rsync", "--list-only", "--dirs", "--exclude=*", "--no-h", *rsh_options(job),
                        f"--timeout={seconds(stall_timeout)}", location],
                       timeout=self.destination.connect_timeout + stall_timeout, log=self.log, env={"LC_ALL": "C"})
        if ran.timed_out:
            raise Unreachable(f"cannot reach {host_of(job.target)}: timed out")
        problem = connection_problem(job, ran, "listing files")
        if problem:
            raise problem
        if ran.returncode == 23 or any("No such file or directory" in line for line in ran.stderr_lines):
            return False
        if ran.returncode:
            kind = failure(ran.returncode, ran.stderr_lines)
            raise kind(explain(ran.returncode, ran.stderr_lines, host=host_of(job.target)))
        return True

    def transfer(self, job, argv, then=None):
        """Run rsync, then the second command `then(reader)` may return as (job, argv) once the first has ended
        well enough; the job's Outcome and rsync's worst exit code, or raise what went wrong with what was done."""
        reader = OutputReader(job, self.log)
        reader.kept_in = versions_folder(job.target, self.stamp) if self.stamp else None
        ran = self.run_rsync(job, argv, reader)
        following = then(reader) if then and not ran.timed_out and ran.returncode in (0, 23, 24) else None
        if following:
            ran = worst(ran, self.run_rsync(*following, reader))
        moved = bool(reader.tally.sent)
        if ran.returncode and (reader.tally.sent or reader.receiving_reason) and not job.dry_run:
            self.confirm(job, reader)
        done = reader.outcome()
        problem = run_problem(job, ran, reader, moved)
        if problem:
            problem.outcome = done
            raise problem
        return done, ran.returncode

    def run_rsync(self, job, argv, reader):
        """One rsync command, its output read into reader; its proc.Result."""
        ran = proc.run(argv, timeout=self.destination.timeout, log=self.log, env={"LC_ALL": "C"},
                       on_line=reader.take_stdout, input_bytes=paths_input(job.only_paths))
        reader.take_stderr(ran.stderr_lines)
        return ran

    def confirm(self, job, reader):
        """After an error, a dry run says which files are not at the destination: of those claimed sent, or,
        when the destination refused to write (full, read-only), of the whole source."""
        check = OutputReader(job._replace(dry_run=True), self.log)
        claimed = tuple(reader.tally.sent)
        paths = None if reader.receiving_reason else claimed
        ran = proc.run(rsync_argv(job._replace(dry_run=True, only_paths=paths), mkpath=False),
                       timeout=self.destination.timeout, log=self.log, env={"LC_ALL": "C"},
                       on_line=check.take_stdout, input_bytes=paths_input(paths))
        if ran.returncode not in (0, 23, 24):
            reader.confirm(claimed, "not confirmed at the destination (it could not be checked after the error)")
        else:
            reader.confirm(tuple(check.tally.sent))

    def snapshot_at(self, target, at):
        """The folder holding target's tree as it was at `at` (seconds) when the destination takes snapshots (the
        newest complete one not newer than `at`), else None: the live tree and its versions folder hold it."""
        if getattr(self.destination.options, "mode", "copy") != "snapshot":
            return None
        from . import snapshot

        return snapshot.snapshot_at(self, target, at)

    def reach(self, target):
        """See Transport.reach: a local folder is looked at; over ssh one listing, through the ssh options a run
        uses, bounded by connect_timeout."""
        if is_remote_location(target):
            return self.reach_remote(target)
        return reach_local(self.destination, target)

    def reach_remote(self, target):
        """reach() over ssh: list the target folder only; when it is missing, whether the destination's own
        folder is there (a run makes the rest) or not (not mounted, as a run would say)."""
        from ...plan import Job

        job = Job(self.destination, None, target, False)
        connect = self.destination.connect_timeout
        if self.list_remote(job, remote_path(target), connect):
            return "reachable"
        root = root_of(self.destination, target)
        if self.destination.create or root is None:
            return NOT_YET
        if root == target.rstrip("/") or not self.list_remote(job, remote_path(root), connect):
            raise NotFound(NOT_MOUNTED.format(root=root))
        return NOT_YET


def remote_path(location):
    """The path part of [user@]host:path ("." for the login folder)."""
    return location.split(":", 1)[1] or "."


def reach_local(destination, target):
    """reach() for a local (or mounted) folder: it is there and we may write in it, or a run would make it."""
    if os.path.isdir(target):
        if not os.access(target, os.W_OK | os.X_OK) and os.stat(target).st_uid != os.geteuid():
            raise Refused(f"permission denied writing {target}")  # rsync -a makes a folder of our own writable
        return "reachable"
    if os.path.lexists(target):
        raise NotFound(f"{target} is not a folder")
    root = root_of(destination, target)
    if root is not None and not destination.create and not os.path.isdir(root):
        raise NotFound(NOT_MOUNTED.format(root=root))
    above = os.path.dirname(target.rstrip("/"))
    while not os.path.lexists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise NotFound(f"{target} cannot be made: {above} is not a folder")
    return NOT_YET


def worst(first, second):
    """Of two rsync runs, the one whose end says more is wrong: a timeout, then an exit other than 0 and 24 (some
    files vanished), then any exit but 0; the first on a tie."""
    return max(first, second, key=lambda ran: (ran.timed_out, ran.returncode not in (0, 24), ran.returncode != 0))


def run_problem(job, ran, reader, moved):
    """The TransportError for an rsync run that failed as a whole (None when it did not), naming the cause."""
    if ran.timed_out:
        return TimedOut(f"rsync stopped after the {job.destination.timeout:g} s timeout while {reader.doing()}")
    if is_remote_location(job.target):
        problem = connection_problem(job, ran, reader.doing())
        if problem:
            return problem
    if missing_root(job, ran.returncode, reader.other_errors):
        return NotFound(NOT_MOUNTED.format(root=destination_root(job)))
    if reader.target_refused and not reader.tally.sent and ran.returncode:
        return Refused(reader.target_refused.replace("permission denied", f"permission denied writing {job.target}",
                                                     1))
    if ran.returncode not in (0, 23, 24) or (ran.returncode and reader.other_errors):
        kind = failure(ran.returncode, reader.other_errors, reader.receiving_reason)
        host = host_of(job.target) if is_remote_location(job.target) else None
        return kind(explain(ran.returncode, reader.other_errors, reader.receiving_reason, host, moved))
    return None


def connection_problem(job, ran, doing):
    """Unreachable when ssh could not connect, Stalled when the server stopped answering midway, else None."""
    host = host_of(job.target)
    reason = connect_failure(ran.stderr_lines)
    if reason:
        return Unreachable(f"cannot reach {host}: {reason}")
    if stalled(ran.returncode, ran.stderr_lines):
        return Stalled(f"the server stopped answering: no answer from {host} for "
                       f"{job.destination.stall_timeout:g} s while {doing}")
    return None


def missing_root(job, returncode, errors):
    """rsync could not make the target because the destination's folder is missing (over ssh)."""
    root = destination_root(job)
    return (root is not None and not job.destination.create and returncode in (3, 11, 23)
            and any(" mkdir " in line and "No such file or directory" in line for line in errors))


def paths_input(paths):
    """--files-from's list for a retry, NUL-separated; None when the whole tree goes."""
    if paths is None:
        return None
    return b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in paths)


def explain(returncode, errors, receiving_reason=None, host=None, moved=False):
    """One line saying why rsync failed: a connection lost midway, else its own first complaint, else what its
    exit code means. host: the ssh host of a user@host:/path target; moved: files had gone before the error."""
    if host and connection_lost(returncode, errors, moved):
        return f"connection to {host} lost during the transfer (rsync exit {returncode})"
    first = (receiving_reason and f"the destination cannot store files: {receiving_reason}") or first_complaint(errors)
    meaning = "ssh could not connect" if first and first.startswith("ssh:") else EXIT_MEANINGS.get(returncode, "failed")
    return f"{first} (rsync exit {returncode}: {meaning})" if first else f"rsync exit {returncode}: {meaning}"


def connection_lost(returncode, errors, moved):
    """The ssh connection broke after it was made: rsync had heard from the other side (a refused login or an
    unknown host closes it before a single byte), or exit 255 after files had moved."""
    heard = any(int(match.group(1)) > 0 for match in (re.match(CLOSED, line) for line in errors) if match)
    return returncode in (12, 255) and (heard or moved) and not any(line.startswith("ssh:") for line in errors)


def first_complaint(errors):
    """rsync's or ssh's first line that says something: not ssh's warnings (`Warning: Permanently added ...
    to the list of known hosts`) nor rsync's echo of a closed connection."""
    telling = [line for line in errors if not re.match(SSH_WARNING, line)]
    return next((line for line in telling if not re.match(CLOSED, line)), telling[0] if telling else None)


def failure(returncode, errors, receiving_reason=None):
    """The kind of a failed run, from rsync's exit code and its first complaint."""
    first = (first_complaint(errors) or "") + " " + (receiving_reason or "")
    if returncode == 255 or first.startswith("ssh:"):
        return Unreachable
    if "No space left" in first or "Disk quota exceeded" in first or "disk full" in first:
        return DestinationFull
    if "Permission denied" in first or "permission denied" in first:
        return Refused
    return TransportError
