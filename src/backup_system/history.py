"""The run history, as a backup writes it: two small appends to a journal, no database on the way.

Every run, dry runs too, goes to `<state_dir>/history.journal` when it starts (holding the lock)
and when it ends, so one killed on the spot reads `interrupted` from the next command on (its
process is gone), never missing and never `running` forever. The commands that read the history
(`history`, `status`, `--retry-failed`) first move the journal into SQLite (history_db.py): a
backup never imports sqlite3, never waits on a reader, and costs its run well under a
millisecond. `history.latest` keeps, per destination and source, what the verdict line at the
end of every summary needs. The history is never the only record of what was backed up (the
destinations are): when it cannot be written, the run warns once and its result stands.
"""

import fcntl
import marshal
import os

JOURNAL = "history.journal"
LATEST = "history.latest"
LATEST_VERSION = 1
_warned = set()  # paths this process has warned about: one warning a run


def journal_path(config):
    return os.path.join(config.state_dir, JOURNAL)


def latest_path(config):
    return os.path.join(config.state_dir, LATEST)


# --- the steps around every run (runner.BEFORE_RUN, runner.AFTER_RUN) ------------------------------

def record_start(config, start, log):
    """The run as `running`, with this process's id and start time so a later reader can tell it died."""
    append(config, log, ("start", {
        "run_id": start.run_id, "config_path": start.config_path, "config_name": start.config_name,
        "host": host_name(), "user": user_name(), "pid": os.getpid(), "pid_started": process_start(os.getpid()),
        "trigger": start.trigger, "action": start.action, "dry_run": start.dry_run, "started": start.started}))


def record_finish(config, record, log):
    """The finished run: state, exit code, every job and every file that failed, with its reason."""
    command, pipeline_exit = record.pipeline or (None, None)
    append(config, log, ("finish", {
        "run_id": record.run_id, "config_path": record.config_path, "config_name": record.config_name,
        "host": host_name(), "user": user_name(), "pid": os.getpid(), "trigger": record.trigger,
        "action": record.action, "dry_run": record.dry_run, "started": record.started, "ended": record.ended,
        "state": "ok" if record.ok else "failed", "exit_code": record.exit_code,
        "pipeline_command": None if command is None else shell_line(command), "pipeline_exit": pipeline_exit,
        "jobs": [job_facts(job) for job in record.jobs]}))
    if not record.dry_run:
        update_latest(config, record, log)


def record_notice(config, run_id, notifier, delivered, detail):
    """One notice of a run (notify.py): the notifier's name, delivered or not, what came back (no secret)."""
    import time

    from .log import WARNING, Log

    append(config, Log(None, WARNING), ("notice", {"run_id": run_id, "notifier": notifier,
                                                   "delivered": bool(delivered), "detail": detail,
                                                   "sent": time.time()}))


def shell_line(command):
    """The pipeline's argv as a shell would take it back (only `run` has one, and it imports shlex anyway)."""
    import shlex

    return shlex.join(command)


def job_facts(job):
    return {"destination": job.destination, "source": job.source, "transport": job.transport, "target": job.target,
            "status": job.status, "files_sent": job.files_sent, "bytes_sent": job.bytes_sent,
            "files_unchanged": job.files_unchanged, "files_failed": job.files_failed,
            "files_removed": job.files_removed, "seconds": job.seconds, "error": job.error,
            "error_kind": job.error_kind, "failures": [list(failure) for failure in job.failures]}


# --- the journal -----------------------------------------------------------------------------------

def append(config, log, entry):
    """Add one entry to the journal; a journal that cannot be written is one warning, never an error."""
    path = journal_path(config)
    try:
        os.makedirs(config.state_dir, exist_ok=True)
        write_entry(path, marshal.dumps(entry))
    except (OSError, ValueError) as error:
        warn_once(log, path, f"the run history cannot be written to {path} "
                             f"({getattr(error, 'strerror', None) or error}); this run is not recorded there")


def write_entry(path, data):
    """Append under an flock, to the file that is at `path` once the lock is held: a reader that took
    the journal away meanwhile (renamed it to read it) never loses what is written."""
    while True:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if os.fstat(descriptor).st_ino == inode_of(path):
                written = 0
                while written < len(data):
                    written += os.write(descriptor, data[written:])
                return
        finally:
            os.close(descriptor)


def inode_of(path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def read_entries(path):
    """The entries of one journal file in order; a torn last entry (a crash mid-write) is left out."""
    entries = []
    with open(path, "rb") as stream:
        while True:
            try:
                entries.append(marshal.load(stream))
            except EOFError:
                return entries
            except (ValueError, TypeError):
                return entries  # the rest is a torn write: nothing after it can be read


def warn_once(log, path, message):
    if path not in _warned:
        _warned.add(path)
        log.warning(message)


# --- the latest facts per destination and source, for the verdict line ----------------------------

def update_latest(config, record, log):
    """Remember per (destination, source) the last run, its result, and the last success."""
    facts = read_latest(config) or {}
    for job in record.jobs:
        key = (record.config_name, job.destination, job.source)
        success = record.started if job.status == "ok" else (facts.get(key) or (None,))[0]
        facts[key] = (success, record.started, job.status, job.error, job.files_failed)
    path = latest_path(config)
    try:
        with open(path + ".tmp", "wb") as stream:
            marshal.dump((LATEST_VERSION, facts), stream)
        os.replace(path + ".tmp", path)
    except OSError as error:
        warn_once(log, path, f"cannot write {path} ({error.strerror}); the verdict line may be out of date")


def read_latest(config):
    """{(config name, destination, source): (last success, last run, last status, last error, files failed)},
    or None when there is no such file (or it cannot be read)."""
    try:
        with open(latest_path(config), "rb") as stream:
            version, facts = marshal.load(stream)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return facts if version == LATEST_VERSION and isinstance(facts, dict) else None


# --- processes -------------------------------------------------------------------------------------

def is_alive(pid, started):
    """True when process `pid` runs and is the one that started at `started` (pids are reused)."""
    now = process_start(pid)
    if now is None:
        return False
    return started is None or now == started


def process_start(pid):
    """When a process started, in clock ticks since boot (from /proc), or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            return stream.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def user_name():
    """Who runs this (as getpass.getuser says it, without its import cost)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def host_name():
    return os.uname().nodename  # socket.gethostname's answer; importing socket costs ~10 ms
