"""The run history: every run, dry runs too, in SQLite at <state_dir>/history.sqlite.

A run is written as `running` once it holds the lock and finished when it ends, so one
killed on the spot reads `interrupted` from the next command on (its process is gone),
never missing and never `running` forever. The history is never the only record of what
was backed up (the destinations are): a history file that is corrupt is renamed aside and
started anew, one that is locked or on a read-only disk is skipped, each with one warning,
and the backup's result never changes. WAL mode lets `status` read while a backup writes.
"""

import os
import sqlite3
import time

FILE_NAME = "history.sqlite"
BUSY_SECONDS = 2.0
SCHEMA_VERSION = 2
_unusable = set()  # histories this process has warned about once: the rest of the run goes without them
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, config_path TEXT, config_name TEXT, host TEXT, user TEXT, pid INTEGER,
    pid_started TEXT, trigger TEXT, action TEXT, dry_run INTEGER, started REAL, ended REAL, state TEXT,
    exit_code INTEGER, pipeline_command TEXT, pipeline_exit INTEGER);
CREATE TABLE IF NOT EXISTS jobs (
    run_id TEXT, config_name TEXT, destination TEXT, source TEXT, transport TEXT, target TEXT, dry_run INTEGER,
    started REAL, status TEXT, files_sent INTEGER, bytes_sent INTEGER, files_unchanged INTEGER,
    files_failed INTEGER, files_removed INTEGER, seconds REAL, error TEXT, error_kind TEXT,
    PRIMARY KEY (run_id, destination, source));
CREATE TABLE IF NOT EXISTS failures (run_id TEXT, destination TEXT, source TEXT, path TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS jobs_by_pair ON jobs (config_name, destination, source, started);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (config_name, started);
CREATE INDEX IF NOT EXISTS failures_by_run ON failures (run_id, destination, source);
CREATE TABLE IF NOT EXISTS notices (run_id TEXT, notifier TEXT, delivered INTEGER, detail TEXT, sent REAL);
"""


def history_path(config):
    return os.path.join(config.state_dir, FILE_NAME)


def connect(config, log, create=True):
    """An open history, or None after one warning: a corrupt file is set aside and a new one started;
    a locked or read-only one is skipped. Without `create`, a missing history is None, silently."""
    path = history_path(config)
    if path in _unusable or not create and not os.path.exists(path):
        return None
    try:
        return open_database(path, prepare=create)
    except sqlite3.DatabaseError as error:
        if not is_corrupt(error):
            _unusable.add(path)
            log.warning(f"the run history {path} cannot be used ({error}); this run is not recorded there")
            return None
    aside = f"{path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
        os.replace(path, aside)
        log.warning(f"the run history {path} was damaged: set aside as {aside}; a new one is started")
        return open_database(path)
    except (OSError, sqlite3.DatabaseError) as error:
        _unusable.add(path)
        log.warning(f"the run history {path} is damaged and cannot be set aside ({error}); not recorded")
        return None


def readable(config):
    """False when this config's history exists but cannot be read (what it says about a run is unknown)."""
    path = history_path(config)
    return path not in _unusable


def open_database(path, prepare=True):
    """A connection; `prepare` makes the tables the first time, which a reader of an existing file skips."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    database = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        # No fsync per commit: the destinations, not this file, are the record of what was backed up,
        # and two fsyncs a run cost a no-change backup tens of milliseconds on a VM disk.
        database.execute("PRAGMA synchronous=NORMAL")
        version = database.execute("PRAGMA user_version").fetchone()[0]
        if prepare and version != SCHEMA_VERSION:
            database.execute("PRAGMA journal_mode=WAL")  # kept in the file: readers never block the backup
            database.executescript(SCHEMA)
            database.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif not prepare:
            database.execute("SELECT 1 FROM runs LIMIT 1")  # a damaged file says so here
    except sqlite3.DatabaseError:
        database.close()
        raise
    return database


def is_corrupt(error):
    """A file that is no database, or a damaged one (not: locked, read-only, no room)."""
    return type(error) is sqlite3.DatabaseError or "malformed" in str(error)


# --- writing: the two steps around every run (runner.BEFORE_RUN, runner.AFTER_RUN) ----------------

def record_start(config, start, log):
    """The run as `running`, with this process's id so a later command can tell it died."""
    database = connect(config, log)
    if database is None:
        return
    try:
        database.execute("BEGIN IMMEDIATE")
        mark_interrupted(database)
        database.execute(
            "INSERT INTO runs (run_id, config_path, config_name, host, user, pid, pid_started, trigger, action, "
            "dry_run, started, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
            (start.run_id, start.config_path, start.config_name, host_name(), user_name(), os.getpid(),
             process_start(os.getpid()), start.trigger, start.action, int(start.dry_run), start.started))
        database.execute("COMMIT")
    finally:
        finish(database)


def record_finish(config, record, log):
    """The finished run: its state, exit code, every job and every file that failed, with its reason."""
    database = connect(config, log)
    if database is None:
        return
    command, pipeline_exit = record.pipeline or (None, None)
    try:
        database.execute("BEGIN IMMEDIATE")
        database.execute(
            "INSERT OR IGNORE INTO runs (run_id, config_path, config_name, host, user, pid, trigger, action, "
            "dry_run, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.run_id, record.config_path, record.config_name, host_name(), user_name(), os.getpid(),
             record.trigger, record.action, int(record.dry_run), record.started))
        database.execute("UPDATE runs SET ended = ?, state = ?, exit_code = ?, pipeline_command = ?, "
                         "pipeline_exit = ? WHERE run_id = ?",
                         (record.ended, "ok" if record.ok else "failed", record.exit_code,
                          None if command is None else " ".join(command), pipeline_exit, record.run_id))
        database.executemany("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [job_row(record, job) for job in record.jobs])
        database.executemany("INSERT INTO failures VALUES (?, ?, ?, ?, ?)",
                             [(record.run_id, job.destination, job.source, path, reason)
                              for job in record.jobs for path, reason in job.failures])
        database.execute("COMMIT")
    finally:
        finish(database)


def finish(database):
    """Roll back what an error left half-written, and close."""
    if database.in_transaction:
        database.execute("ROLLBACK")
    database.close()


def record_notice(config, run_id, notifier, delivered, detail):
    """One notice of a run (notify.py): the notifier's name, delivered or not, and what came back (no secret)."""
    from .log import WARNING, Log

    database = connect(config, Log(None, WARNING))
    if database is None:
        return
    try:
        database.execute("INSERT INTO notices VALUES (?, ?, ?, ?, ?)",
                         (run_id, notifier, int(delivered), detail, time.time()))
    finally:
        finish(database)


def job_row(record, job):
    return (record.run_id, record.config_name, job.destination, job.source, job.transport, job.target,
            int(record.dry_run), record.started, job.status, job.files_sent, job.bytes_sent, job.files_unchanged,
            job.files_failed, job.files_removed, job.seconds, job.error, job.error_kind)


def mark_interrupted(database):
    """Runs of this host still `running` whose process is gone: they were killed."""
    host = host_name()
    for run_id, pid, started in database.execute(
            "SELECT run_id, pid, pid_started FROM runs WHERE state = 'running' AND host = ?", (host,)).fetchall():
        if not is_alive(pid, started):
            database.execute("UPDATE runs SET state = 'interrupted' WHERE run_id = ?", (run_id,))


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


# --- reading ---------------------------------------------------------------------------------------

def state_of(row_state, host, pid, started):
    """A `running` run of this host whose process is gone reads `interrupted`."""
    if row_state == "running" and host == host_name() and not is_alive(pid, started):
        return "interrupted"
    return row_state


def recent_runs(database, config_name, limit=20, destination=None, source=None, failed=False):
    """The newest runs first, each a dict with its jobs (dicts); filtered by destination, source, failed."""
    where, values = ["r.config_name = ?"], [config_name]
    if destination or source:
        pair = ["j.run_id = r.run_id"]
        for column, value in (("destination", destination), ("source", source)):
            if value:
                pair.append(f"j.{column} = ?")
                values.append(value)
        where.append(f"EXISTS (SELECT 1 FROM jobs j WHERE {' AND '.join(pair)})")
    rows = database.execute(f"SELECT * FROM runs r WHERE {' AND '.join(where)} ORDER BY started DESC",
                            values)
    runs = []
    for row in rows:
        run = run_dict(database, row)
        if failed and run["state"] not in ("failed", "interrupted"):
            continue
        runs.append(run)
        if len(runs) >= limit:
            break
    return runs


def run_dict(database, row):
    columns = ("run_id", "config_path", "config_name", "host", "user", "pid", "pid_started", "trigger", "action",
               "dry_run", "started", "ended", "state", "exit_code", "pipeline_command", "pipeline_exit")
    run = dict(zip(columns, row, strict=True))
    run["state"] = state_of(run["state"], run["host"], run["pid"], run.pop("pid_started"))
    run["dry_run"] = bool(run["dry_run"])
    run["jobs"] = [job_dict(job) for job in database.execute(
        "SELECT destination, source, transport, target, status, files_sent, bytes_sent, files_unchanged, "
        "files_failed, files_removed, seconds, error, error_kind FROM jobs WHERE run_id = ? ORDER BY rowid",
        (run["run_id"],))]
    return run


def job_dict(row):
    columns = ("destination", "source", "transport", "target", "status", "files_sent", "bytes_sent",
               "files_unchanged", "files_failed", "files_removed", "seconds", "error", "error_kind")
    return dict(zip(columns, row, strict=True))


def failures_of(database, run_id, job):
    return [{"path": path, "reason": reason} for path, reason in database.execute(
        "SELECT path, reason FROM failures WHERE run_id = ? AND destination = ? AND source = ? ORDER BY rowid",
        (run_id, job["destination"], job["source"]))]


def one_run(database, config_name, run_id):
    """One run whole, failed files included, or None; `run_id` may be a unique beginning of an id."""
    rows = database.execute("SELECT * FROM runs WHERE config_name = ? AND run_id LIKE ? ORDER BY started DESC",
                            (config_name, run_id.replace("%", "") + "%")).fetchall()
    if len(rows) != 1:
        return None if not rows else "ambiguous"
    run = run_dict(database, rows[0])
    for job in run["jobs"]:
        job["failures"] = failures_of(database, run["run_id"], job)
    run["notices"] = [{"notifier": notifier, "delivered": bool(delivered), "detail": detail}
                      for notifier, delivered, detail in database.execute(
                          "SELECT notifier, delivered, detail FROM notices WHERE run_id = ? ORDER BY rowid",
                          (run["run_id"],))]
    return run


def last_job(database, config_name, destination, source, condition="1"):
    """(run_id, started, status, error) of the newest real (not dry) run of one pair meeting `condition`."""
    return database.execute(
        f"SELECT run_id, started, status, error FROM jobs WHERE config_name = ? AND destination = ? AND source = ? "
        f"AND dry_run = 0 AND {condition} ORDER BY started DESC LIMIT 1",
        (config_name, destination, source)).fetchone()


def last_failures(database, config_name, destination, source):
    """The files that failed in the newest real run of one pair, [(path, reason)]."""
    newest = last_job(database, config_name, destination, source)
    if newest is None:
        return []
    return [(item["path"], item["reason"]) for item in
            failures_of(database, newest[0], {"destination": destination, "source": source})]
