"""The run history as the reading commands see it: SQLite at <state_dir>/history.sqlite.

connect() first moves what backups appended to the journal (history.py) into the database,
in one transaction, then answers queries. A database that is damaged is renamed aside and
started anew; one that is locked or cannot be opened is skipped; each with one warning. The
journal is only deleted once its entries are committed, so nothing is lost either way.
"""

import fcntl
import glob
import os
import sqlite3
import time

from .history import host_name, is_alive, journal_path, read_entries, warn_once

FILE_NAME = "history.sqlite"
BUSY_SECONDS = 2.0
SCHEMA_VERSION = 2
_unusable = set()  # histories this process found unusable: warned once, then left alone
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


def connect(config, log):
    """The history with the journal moved in, or None: nothing recorded yet, or (after one warning) a
    history that cannot be used; a damaged one is set aside and a new one started."""
    path = history_path(config)
    if path in _unusable or not (os.path.exists(path) or journals(config)):
        return None
    database = open_or_set_aside(path, log)
    if database is not None:
        ingest(database, config, log)
    return database


def open_or_set_aside(path, log):
    try:
        return open_database(path)
    except sqlite3.DatabaseError as error:
        if not is_corrupt(error):
            _unusable.add(path)
            warn_once(log, path, f"the run history {path} cannot be used ({error})")
            return None
    aside = f"{path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
        os.replace(path, aside)
        warn_once(log, path, f"the run history {path} was damaged: set aside as {aside}; a new one is started")
        return open_database(path)
    except (OSError, sqlite3.DatabaseError) as error:
        _unusable.add(path)
        warn_once(log, path, f"the run history {path} is damaged and cannot be set aside ({error})")
        return None


def readable(config):
    """False when this config's history exists but cannot be read (what it says about a run is unknown)."""
    path = history_path(config)
    return path not in _unusable


def open_database(path):
    """A connection, the tables made the first time; a damaged file raises DatabaseError here."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    database = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        if database.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            database.execute("PRAGMA journal_mode=WAL")  # kept in the file: one reader never blocks another
            database.executescript(SCHEMA)
            database.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        database.execute("SELECT 1 FROM runs LIMIT 1")
    except sqlite3.DatabaseError:
        database.close()
        raise
    return database


def is_corrupt(error):
    """A file that is no database, or a damaged one (not: locked, read-only, no room)."""
    return type(error) is sqlite3.DatabaseError or "malformed" in str(error)


# --- the journal, moved in ----------------------------------------------------------------------------

def journals(config):
    """The journal and any taken by a reader that stopped before it was done, oldest first."""
    path = journal_path(config)
    return sorted(glob.glob(glob.escape(path) + ".*.ingest"), key=os.path.getmtime) + \
        ([path] if os.path.exists(path) else [])


def ingest(database, config, log):
    """Move every journal's entries into the database, one transaction each; a journal is deleted only
    once committed. A backup appending meanwhile writes to a new journal (history.write_entry)."""
    path = journal_path(config)
    for journal in journals(config):
        taken = journal
        if journal == path:
            taken = f"{path}.{os.getpid()}.ingest"
            try:
                os.rename(path, taken)
            except FileNotFoundError:
                continue  # another reader took it
        try:
            apply_journal(database, taken)
        except sqlite3.DatabaseError as error:
            warn_once(log, history_path(config), f"the run history cannot take in {taken} ({error}); it is kept "
                                                 f"for the next reader")
            return


def apply_journal(database, taken):
    """The entries of one taken journal, applied and committed; then the journal is deleted."""
    try:
        descriptor = os.open(taken, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # a backup may be half-way through an append
        if os.fstat(descriptor).st_nlink == 0:
            return  # another reader took it in already
        database.execute("BEGIN IMMEDIATE")
        try:
            for kind, facts in read_entries(taken):
                APPLY[kind](database, facts)
            mark_interrupted(database)
            database.execute("COMMIT")
        except BaseException:
            database.execute("ROLLBACK")
            raise
        os.unlink(taken)
    finally:
        os.close(descriptor)


RUN_COLUMNS = ("run_id", "config_path", "config_name", "host", "user", "pid", "trigger", "action", "dry_run",
               "started")


def apply_start(database, facts):
    database.execute(f"INSERT OR IGNORE INTO runs ({', '.join(RUN_COLUMNS)}, pid_started, state) "
                     f"VALUES ({', '.join('?' * (len(RUN_COLUMNS) + 2))})",
                     (*(facts[column] for column in RUN_COLUMNS), facts["pid_started"], "running"))


def apply_finish(database, facts):
    database.execute(f"INSERT OR IGNORE INTO runs ({', '.join(RUN_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})", tuple(facts[column] for column in RUN_COLUMNS))
    database.execute("UPDATE runs SET ended = ?, state = ?, exit_code = ?, pipeline_command = ?, pipeline_exit = ? "
                     "WHERE run_id = ?", (facts["ended"], facts["state"], facts["exit_code"],
                                          facts["pipeline_command"], facts["pipeline_exit"], facts["run_id"]))
    for job in facts["jobs"]:
        database.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         job_row(facts, job))
        database.execute("DELETE FROM failures WHERE run_id = ? AND destination = ? AND source = ?",
                         (facts["run_id"], job["destination"], job["source"]))
        database.executemany("INSERT INTO failures VALUES (?, ?, ?, ?, ?)",
                             [(facts["run_id"], job["destination"], job["source"], path, reason)
                              for path, reason in job["failures"]])


def apply_notice(database, facts):
    database.execute("DELETE FROM notices WHERE run_id = ? AND notifier = ?", (facts["run_id"], facts["notifier"]))
    database.execute("INSERT INTO notices VALUES (?, ?, ?, ?, ?)", (facts["run_id"], facts["notifier"],
                                                                    int(facts["delivered"]), facts["detail"],
                                                                    facts["sent"]))


APPLY = {"start": apply_start, "finish": apply_finish, "notice": apply_notice}


def job_row(run, job):
    return (run["run_id"], run["config_name"], job["destination"], job["source"], job["transport"], job["target"],
            int(run["dry_run"]), run["started"], job["status"], job["files_sent"], job["bytes_sent"],
            job["files_unchanged"], job["files_failed"], job["files_removed"], job["seconds"], job["error"],
            job["error_kind"])


def mark_interrupted(database):
    """Runs of this host still `running` whose process is gone: they were killed."""
    host = host_name()
    for run_id, pid, started in database.execute(
            "SELECT run_id, pid, pid_started FROM runs WHERE state = 'running' AND host = ?", (host,)).fetchall():
        if not is_alive(pid, started):
            database.execute("UPDATE runs SET state = 'interrupted' WHERE run_id = ?", (run_id,))


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
