"""rclone destinations: Box, Google Drive, S3 and S3-compatible stores, WebDAV, SFTP — any rclone remote.

One rclone command per job, built by the pure function rclone_argv():

    push  (default)  rclone copy --update LOCAL REMOTE:folder/source/    (mode mirror: rclone sync)
    pull             rclone copy --update REMOTE:folder/source/ LOCAL    (mode mirror: rclone sync)
    bisync           rclone bisync LOCAL REMOTE:folder/source/            (first run: --resync-mode newer)

What mirror and bisync delete or replace on a side goes to a dated folder beside it:
<folder>-versions/<date>/ (bisync: on both sides, the local one beside the source folder).

We read rclone's JSON log (`--use-json-log -v`), never its human text: "Copied (new)" and
"Copied (replaced existing)" entries name each file sent, entries at level error name each
file that failed, and the periodic stats entries drive the progress line. Unchanged files are
the `= path` lines of a `--combined FILE` report (copy and sync; bisync counts its listing
instead): the log has nothing for them below debug level, and its checks counter also counts
deletions and counts again on each retry. A file, not stdout: 10,000 lines down a pipe cost
rclone ~10% of a no-change run, into a file ~4%. Stdout and stderr come merged, in order.

Secrets stay out of argv: they travel in the destination's `rclone_env` (RCLONE_CONFIG_<REMOTE>_<KEY>)
or in the rclone config file, and every message we log or report has their values masked.
Retries are rclone's own (--retries, --low-level-retries); `flags` come last, so a user's own
values win (rclone keeps the last value of a repeated flag).
"""

import json
import os
import re
import sys
import time

from .. import log as logs
from .. import proc
from ..config import RCLONE_LOG_VARIABLES
from ..errors import TransportError
from ..localtree import folder_problem

RETRIES = ("--retries", "3", "--low-level-retries", "5")
PROGRESS_STATS_INTERVAL = "500ms"
QUIET_STATS_INTERVAL = "1m"  # rclone's default; the final stats entry is printed whatever the interval
VERSIONS_SUFFIX = "-versions"  # mirror: what sync deletes or overwrites goes to <target>-versions/<date>
BISYNC_FOLDER = "rclone-bisync"
LISTREMOTES_TIMEOUT = 30
PLAIN_LINES_KEPT = 20

COPIED = re.compile(r"^(?:Multi-thread )?Copied \((?:Rcat, )?(?:new|replaced existing)\)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MISSING_REMOTE = re.compile(r"didn't find section in config file \(\"(.*?)\"\)")
BISYNC_PATHS = re.compile(r'^Synching Path1 "(.*)" with Path2 "(.*)"$')
BISYNC_CONFLICT = re.compile(r"New or changed in both paths\s+-\s+(.*)$")
BISYNC_RENAME = re.compile(r"^-\s+Path([12])\s+Renaming Path[12] copy\s+-\s+(.*)$")
ATTEMPT = re.compile(r"^Attempt (\d+)/(\d+) failed")
CONFLICT_COPY = re.compile(r"^(.*)\.conflict\d+$")  # bisync's --conflict-suffix, rclone's default
RETRY_NOTES = ("Fatal error received - not attempting retries", "Can't retry any of the errors - not attempting retries")
NOT_FOUND = "directory not found"
ROOT_ERRORS = ("error reading source root directory", "error reading destination root directory")
# What rclone and the servers behind it say (lower case), sorted into the failures a user can act on.
FULL = ("quota", "no space left", "disk full", "remaining disk space", "insufficient storage", "storage_limit_exceeded",
        "507 insufficient")
REFUSED = ("401 unauthorized", "statuscode: 401", "statuscode: 403", "403 forbidden", "signaturedoesnotmatch",
           "invalidaccesskeyid", "accessdenied", "unable to authenticate", "invalid_grant", "invalid_client",
           "authentication failed", "token expired")
UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
               "connection reset", "tls handshake timeout", "server misbehaving", "dial tcp")
DETAIL_STARTS = ("api error ", "dial tcp ", "ssh: ")
EXIT_MEANINGS = {
    1: "syntax or usage error", 2: "error not otherwise categorised", 3: "directory not found",
    4: "file not found", 5: "temporary error", 6: "less serious errors", 7: "fatal error",
    8: "--max-transfer limit reached", 9: "no files transferred", 10: "--max-duration limit reached",
}


# --- where things go (pure) ------------------------------------------------------------------------

def rclone_binary(destination):
    """`rclone_binary`, else the pinned rclone beside this Python (the .venv's), else `rclone` on PATH."""
    if destination.rclone_binary:
        return destination.rclone_binary
    pinned = os.path.join(os.path.dirname(sys.executable), "rclone")
    return pinned if os.access(pinned, os.X_OK) else "rclone"


def as_folder(location):
    """remote:path/ — the slash tells rclone it is a folder, so S3 skips a HEAD request that turns
    'server unreachable' or 'wrong key' into a misleading 'is a file not a directory'."""
    return location if location.endswith((":", "/")) else location + "/"


def versions_folder(location, stamp):
    """Where mirror mode keeps what it deletes or overwrites: beside the backup, dated."""
    return f"{location.rstrip('/')}{VERSIONS_SUFFIX}/{stamp}"


def rclone_argv(job, target=None, *, binary="rclone", progress=False, stamp=None, workdir=None, first_bisync=False,
                report=None):
    """The rclone command for one job; a pure function of its arguments, tested without running it.

    target: job.target unless given. stamp: the date of the versions folders (mirror, bisync).
    workdir and first_bisync: bisync's state folder, and whether this is the pair's first run.
    report: the file for copy and sync's --combined report.
    """
    destination = job.destination
    target = job.target if target is None else target
    local, remote = job.source.path, as_folder(target)
    argv = [binary, *(["--config", destination.rclone_config] if destination.rclone_config else [])]
    stamp = stamp or time.strftime("%Y-%m-%d-%H%M%S")
    if destination.direction == "bisync":
        argv += ["bisync", local, remote, "--workdir", workdir, "--conflict-resolve", "none",
                 "--resilient", "--recover", "--max-lock", "2m",
                 # what either side loses (an older copy replaced, a file deleted) is kept beside it, dated
                 "--backup-dir1", versions_folder(local, stamp), "--backup-dir2", versions_folder(remote, stamp)]
        if first_bisync:
            argv += ["--resync-mode", "newer"]  # the newer copy of a file on both sides wins; nothing is deleted
    else:
        source, destination_path = (local, remote) if destination.direction == "push" else (remote, local)
        argv += ["sync" if destination.mode == "mirror" else "copy", source, destination_path, "--update"]
        if report:
            argv += ["--combined", report]
        if destination.mode == "mirror":
            argv += ["--backup-dir", versions_folder(destination_path, stamp)]
    argv += ["--use-json-log", "-v", "--stats", PROGRESS_STATS_INTERVAL if progress else QUIET_STATS_INTERVAL,
             "--transfers", str(destination.transfers), "--checkers", str(destination.checkers), *RETRIES]
    if job.dry_run:
        argv.append("--dry-run")
    for pattern in job.source.exclude:
        argv += ["--exclude", pattern]
    argv += destination.flags
    return argv


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


# --- reading rclone's JSON log ---------------------------------------------------------------------

class LogReader:
    """Reads rclone's merged output, one line at a time, into what happened to each file."""

    def __init__(self, log, secrets, progress=None, pushing=True):
        self.log = log
        self.secrets = secrets
        self.progress = progress
        self.pushing = pushing
        self.sent = {}  # path -> bytes, in order
        self.unchanged = set()  # a set: each retry lists every file again
        self.moved_to_versions = 0
        self.failures = {}  # path -> reason, for the last attempt
        self.fatal = None  # a message that means the whole job failed
        self.cause = None  # rclone's closing "Failed to <command>: <cause>", the reason it gives for its exit
        self.errors = []
        self.plain = []  # the first lines that are not JSON: a usage error and its help text, a panic
        self.conflicts = []
        self.renamed = {}  # bisync: side -> renamed conflict copies, as rclone prints them
        self.roots = ("", "")

    def mask(self, text):
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def take(self, line):
        if not line.startswith("{"):
            if line.strip():
                self.keep_plain(self.mask(line))
                self.log.debug(f"rclone: {self.mask(line)}")
            return
        try:
            entry = json.loads(line)
        except ValueError:
            self.keep_plain(self.mask(line))
            return
        if "stats" in entry:
            if self.progress:
                self.progress.show(entry["stats"])
            return
        self.take_entry(entry.get("level", ""), self.mask(ANSI.sub("", entry.get("msg", ""))), entry)

    def keep_plain(self, line):
        if len(self.plain) < PLAIN_LINES_KEPT:
            self.plain.append(line)

    def take_entry(self, level, message, entry):
        name = entry.get("object")
        copied = COPIED.match(message)
        if copied and name:
            self.count_sent(name, entry)
        elif message.startswith("Skipped copy as --dry-run") and name:
            self.sent[name] = entry.get("size", 0)
            self.log.debug(f"would send {name}")
        elif entry.get("skipped") and name:  # a dry run's delete, or move into the versions folder
            self.log.info(f"would {entry['skipped']}: {name}")
        elif message == "Moved into backup dir":
            self.moved_to_versions += 1
        elif level == "notice" and not name and message.startswith("Failed to "):
            self.cause = message.split(": ", 1)[-1]
            self.log.debug(f"rclone: {message}")
        elif level in ("error", "critical"):
            self.take_error(level, message, name, entry)
        else:
            self.take_bisync(message)
            self.log.debug(f"rclone: {name + ': ' if name else ''}{message}")

    def count_sent(self, name, entry):
        self.sent[name] = entry.get("size", 0)
        self.failures.pop(name, None)
        local_object = str(entry.get("objectType", "")).startswith("*local.")
        self.log.debug(f"{'sent' if local_object == self.pushing else 'received'} {name}")

    def take_error(self, level, message, name, entry):
        self.log.debug(f"rclone {level}: {name + ': ' if name else ''}{message}")
        attempt = ATTEMPT.match(message)
        if attempt:
            if attempt.group(1) != attempt.group(2):  # rclone tries the whole job again: only the last attempt counts
                self.failures.clear()
                self.errors.clear()
                self.fatal = None
            return
        if message in RETRY_NOTES:
            return
        if level == "critical" or message.startswith(ROOT_ERRORS) or "Bisync critical error" in message:
            self.fatal = self.fatal or message
        elif name and str(entry.get("objectType", "")).endswith("Object"):
            self.failures[name] = message.removeprefix("Failed to copy: ")
        self.errors.append(message)

    def take_bisync(self, message):
        paths = BISYNC_PATHS.match(message)
        conflict = BISYNC_CONFLICT.search(message)
        renamed = BISYNC_RENAME.match(message)
        if paths:
            self.roots = paths.groups()
        elif conflict:
            self.conflicts.append(go_unquote(conflict.group(1)))
        elif renamed:
            side, full = renamed.group(1), go_unquote(renamed.group(2))
            root = self.roots[int(side) - 1]
            self.renamed.setdefault(side, []).append(full[len(root):] if full.startswith(root) else full)

    def conflict_reason(self, path):
        """Both copies are kept under new names; say which."""
        def copy_on(side):
            return next((name for name in self.renamed.get(side, []) if name.startswith(path + ".")), None)

        here, there = copy_on("1"), copy_on("2")
        kept = f": both kept, as {here} (here) and {there} (remote)" if here and there else ": both kept"
        return f"changed on both sides since the last run{kept}"


# --- explaining failures ---------------------------------------------------------------------------

def short_detail(message):
    """The telling part of a long error: from 'api error', 'dial tcp' or 'ssh:' on, else after the last 'for "x": '."""
    for marker in DETAIL_STARTS:
        at = message.find(marker)
        if at >= 0:
            return message[at:].strip()
    if message.startswith("Failed to create file system for"):
        return message.split('": ', 1)[-1]
    return message.strip()


def says(message, words):
    lowered = message.lower()
    return any(word in lowered for word in words)


def classify(message, target):
    """One line a user can act on, from rclone's own message about `target` (remote:path)."""
    where = f"'{remote_name(target)}'"
    detail = short_detail(message)
    if NOT_FOUND in message:
        return f"{target} does not exist ({detail})"
    if says(message, FULL):
        return f"{where} is full (quota or disk): {detail}"
    if says(message, REFUSED):
        return f"authentication refused by {where}: {detail}"
    if says(message, UNREACHABLE):
        return f"cannot reach {where}: {detail}"
    return f"rclone failed at {where}: {detail}"


# --- progress --------------------------------------------------------------------------------------

class ProgressLine:
    """One live line on a terminal: bytes so far, total, rate and time left, from rclone's stats."""

    def __init__(self, stream, label):
        self.stream = stream
        self.label = label
        self.shown = False

    def show(self, stats):
        from ..record import format_bytes

        eta = stats.get("eta")
        left = f"{int(eta) // 60}:{int(eta) % 60:02d}" if isinstance(eta, (int, float)) else "-"
        text = (f"{self.label}: {format_bytes(stats.get('bytes', 0))} / {format_bytes(stats.get('totalBytes', 0))}, "
                f"{format_bytes(stats.get('speed', 0))}/s, ETA {left}")
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def wants_progress(log):
    """Live progress only for a person at a terminal: not under -q or --json, not in cron or a pipe."""
    stream = log.stream or sys.stderr
    return log.progress and log.console_level <= logs.INFO and stream.isatty() and sys.stdout.isatty()


# --- the transport ---------------------------------------------------------------------------------

class Rclone:
    """Sends a source folder to an rclone remote (or pulls it, or keeps both in step)."""

    name = "rclone"

    def __init__(self, destination, log):
        self.destination = destination
        self.log = log
        self.secrets = [value for value in destination.rclone_env.values() if value]
        # rclone reads every flag from RCLONE_<FLAG> too: none of the user's may hide the log we count from
        self.env = {**dict.fromkeys(RCLONE_LOG_VARIABLES), **destination.rclone_env}

    def send(self, job, result):
        """See transports/__init__.py. With direction pull or bisync, files also come down."""
        self.check_setup(job)
        target = job.target
        result.target = target
        workdir, first = self.prepare_bisync(job, target) if self.destination.direction == "bisync" else (None, False)
        report = None if workdir else report_file(job)
        try:
            outcome, reader = self.run_rclone(job, target, workdir, first, report)
            reader.unchanged = _identical_in(report) if report else set()
        finally:
            if report:
                _remove(report)
        if first and job.dry_run and NOT_FOUND in (reader.fatal or ""):
            # bisync --dry-run needs the remote folder, which only the real first run creates
            self.log.info(f"{target} does not exist yet: the first bisync will create it and send everything here")
            push = Rclone(self.destination._replace(direction="push"), self.log)
            return push.send(job._replace(destination=push.destination), result)
        self.fill(result, reader, workdir)
        problem = self.job_failure(outcome, reader, job)
        if problem:
            if reader.fatal:
                result.failures = []  # each file's error only repeats the one the job fails with
            raise TransportError(problem)
        for path, reason in result.failures:
            self.log.warning(f"{'conflict' if path in reader.conflicts else 'not sent'}: {path}: {reason}")

    def check_setup(self, job):
        destination = self.destination
        problem = folder_problem(job.source.path)
        if problem and (destination.direction != "pull" or os.path.lexists(job.source.path)):
            raise TransportError(problem)  # a pull makes its folder; it cannot make it where a file is
        if destination.rclone_config and not os.path.isfile(destination.rclone_config):
            raise TransportError(f"rclone config file {destination.rclone_config} does not exist")
        remote, colon, folder = job.target.partition(":")
        if destination.mode == "mirror" and colon and not folder.strip("/"):
            raise TransportError(f"mode: mirror needs a folder inside {remote}: for its versions folder beside it; "
                                 f"{job.target} is the remote's top")

    def run_rclone(self, job, target, workdir, first, report):
        """Run the job's rclone command, reading its log as it comes; (proc.Result, LogReader)."""
        progress = ProgressLine(self.log.stream or sys.stderr, f"{job.destination.name}/{job.source.name}") \
            if wants_progress(self.log) else None
        reader = LogReader(self.log, self.secrets, progress, pushing=self.destination.direction != "pull")
        argv = rclone_argv(job, target, binary=rclone_binary(self.destination), progress=progress is not None,
                           workdir=workdir, first_bisync=first, report=report)
        try:
            outcome = proc.run(argv, timeout=self.destination.timeout, log=self.log, secrets=self.secrets,
                               env=self.env, on_line=reader.take, merge_stderr=True)
        finally:
            if progress:
                progress.close()
        return outcome, reader

    def prepare_bisync(self, job, target):
        """The pair's state folder; on a first run (or after one that found both sides empty: rclone
        will not sync from an empty listing), say so and make sure the remote folder exists."""
        workdir = bisync_workdir(job, target)
        if any(name.endswith(".lst-err") for name in _list(workdir)):
            raise TransportError(f"the last bisync of {job.source.path} with {target} stopped with a critical error "
                                 f"and rclone set the pair aside; check both sides, then delete {workdir} to start "
                                 f"again with a resync")
        listed = bisync_listing(workdir)
        first = not listed
        if first:
            how = "first bisync" if listed is None else "nothing was on either side last time: new bisync"
            self.log.info(f"{how} of {job.source.path} with {target}: rclone bisync --resync-mode newer "
                          f"(each side gets the other's new files, the newer copy wins and the older one is "
                          f"kept in <folder>{VERSIONS_SUFFIX}/, nothing is deleted)")
            if not job.dry_run:
                os.makedirs(workdir, exist_ok=True)
                self.run_quietly(["mkdir", as_folder(target)], target)
        return workdir, first

    def run_quietly(self, words, target):
        """A short rclone command (mkdir, listremotes); its output lines, or a TransportError."""
        config = ["--config", self.destination.rclone_config] if self.destination.rclone_config else []
        lines = []
        outcome = proc.run([rclone_binary(self.destination), *config, *words, *RETRIES[2:]],
                           timeout=min(self.destination.timeout, LISTREMOTES_TIMEOUT), log=self.log,
                           secrets=self.secrets, env=self.env, on_line=lines.append,
                           merge_stderr=True)
        if outcome.returncode != 0 and words[0] != "listremotes":
            reader = LogReader(self.log, self.secrets)
            for line in lines:
                reader.take(line)
            raise TransportError(self.explain(reader, outcome.returncode, target))
        return lines

    def fill(self, result, reader, workdir):
        """Counts and names from what rclone said."""
        result.sent = list(reader.sent)
        result.files_sent = len(reader.sent)
        result.bytes_sent = sum(reader.sent.values())
        result.failures = list(reader.failures.items())
        result.failures += [(path, reader.conflict_reason(path)) for path in reader.conflicts]
        if workdir:
            listed = bisync_listing(workdir) or []
            result.files_unchanged = max(0, len(listed) - len(reader.sent))
            result.failures += unsettled_conflicts(listed, reader.conflicts)
        else:
            result.files_unchanged = len(reader.unchanged - set(reader.sent) - set(reader.failures))
        if reader.moved_to_versions:
            self.log.info(f"{reader.moved_to_versions} files that mirror mode deleted or replaced are kept in the "
                          f"versions folder")

    def job_failure(self, outcome, reader, job):
        """Why the whole job failed, in one line, or None; failures of single files are the result's."""
        if outcome.timed_out:
            return f"rclone stopped after the {self.destination.timeout:g} s timeout"
        if outcome.returncode == 0:
            return None  # whatever an earlier attempt said, rclone's last one succeeded
        if outcome.returncode < 0:
            return f"rclone ended by signal {-outcome.returncode}"
        if reader.fatal:
            return self.explain(reader, outcome.returncode, job.target)
        full = next((reason for reason in reader.failures.values() if says(reason, FULL)), None)
        if full:  # the side that was written to is full: the local folder when pulling
            return classify(full, job.source.path if self.destination.direction == "pull" else job.target)
        if not reader.failures and not reader.conflicts:
            return self.explain(reader, outcome.returncode, job.target)
        return None

    def explain(self, reader, returncode, target):
        """One line saying why rclone failed: the cause rclone closes with, else its first error."""
        message = reader.cause or reader.fatal or (reader.errors[0] if reader.errors else None)
        missing = MISSING_REMOTE.search(message or "")
        if missing:
            return self.unknown_remote(missing.group(1))
        if message:
            return classify(message, target)
        usage = next((line for line in reader.plain if line.startswith("Error: ")), None)
        if usage or reader.plain:
            return f"rclone: {(usage or reader.plain[0]).removeprefix('Error: ')} (rclone exit {returncode})"
        return f"rclone exit {returncode}: {EXIT_MEANINGS.get(returncode, 'failed')}"

    def unknown_remote(self, name):
        """Name the remotes that do exist, so a typo is obvious."""
        where = self.destination.rclone_config or "rclone's default file (see: rclone config file)"
        lines = self.run_quietly(["listremotes"], f"{name}:")
        known = [line.rstrip(":") for line in lines if line.endswith(":") and not line.startswith("{")]
        there = f"remotes there: {', '.join(known)}" if known else "no remotes are configured there (run rclone config)"
        return f"remote '{name}' is not in the rclone configuration {where}; {there}"


def go_unquote(text):
    """rclone quotes a name holding '"', '\\' or control characters as Go does; JSON reads most of that."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def remote_name(target):
    return target.split(":", 1)[0]


def _list(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def bisync_listing(workdir):
    """The names in bisync's newest Path1 listing, or None when there is none yet.

    A listing line ends with the name, Go-quoted: `-  6 - - 2026-11-25T01:38:28.66+0000 "a b.csv"`."""
    for name in _list(workdir):
        if name.endswith(".path1.lst"):
            with open(os.path.join(workdir, name), encoding="utf-8", errors="replace") as listing:
                return [listed_name(line) for line in listing if line.startswith("-")]
    return None


def listed_name(line):
    text = line.rstrip("\n")
    quote = text.find(' "')
    return go_unquote(text[quote + 1:]) if quote >= 0 else ""


def unsettled_conflicts(listed, found_now):
    """(path, reason) for each conflict of an earlier run whose two copies are both still there:
    reported every run until the user keeps one."""
    copies = {}
    for name in listed:
        match = CONFLICT_COPY.match(name)
        if match:
            copies.setdefault(match.group(1), []).append(name)
    return [(path, f"an earlier conflict is not settled: both copies are still here and there "
                   f"({', '.join(sorted(names))}); keep one as {path} and delete the other")
            for path, names in sorted(copies.items()) if path not in found_now and len(names) > 1]


def report_file(job):
    """An empty file for rclone's --combined report, in the job's state folder (the run holds the
    lock, so one name per process is enough; `tempfile` would cost every run ~4 ms to import)."""
    folder = state_folder(job)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"rclone-report-{os.getpid()}.txt")
    with open(path, "w", encoding="utf-8"):
        pass
    return path


def _identical_in(report):
    """The paths rclone's --combined report marks `= path`: at the destination and identical (a set: a
    retry reports every file again)."""
    try:
        with open(report, encoding="utf-8", errors="surrogateescape") as lines:
            return {line[2:].rstrip("\n") for line in lines if line.startswith("= ")}
    except OSError:
        return set()


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
