"""Are we protected? Per enabled destination x source: the last success, its age, and a verdict.

    ok        the last run succeeded, and a success is younger than stale_after
    failing   the last run failed, but a success is younger than stale_after
    stale     no success younger than stale_after
    never     never succeeded

Dry runs do not count. "Now" is BACKUP_SYSTEM_NOW when set (times.now).
"""

from collections import namedtuple

from . import history
from .plan import build_jobs
from .times import format_duration

Verdict = namedtuple("Verdict", "destination source verdict last_success last_run last_state last_error "
                                "failed_files stale_after")
Verdict.__doc__ = ("One pair's verdict: times are seconds since the epoch (None: no such run); failed_files are "
                   "[(path, reason)] of the last run; stale_after in seconds.")
PROTECTED = ("ok", "failing")


def verdicts(config, now, log, quick=False):
    """The Verdict of every (enabled destination, source) pair a backup of this config would run; None when
    the history cannot be read, so nothing can be said. `quick`: from history.latest, the facts the last
    backups left (failed files only counted), which needs no database; the database when there is none."""
    jobs, _ = build_jobs(config, to_run=False)  # listing pairs needs no destination's secrets
    latest = history.read_latest(config) if quick else None
    if latest is not None:
        return [judge(config, job.destination, job.source.name, quick_facts(latest, config, job), now)
                for job in jobs]
    from . import history_db

    database = history_db.connect(config, log)
    if database is None and not history_db.readable(config):
        return None
    try:
        return [judge(config, job.destination, job.source.name, database_facts(database, config, job), now)
                for job in jobs]
    finally:
        if database is not None:
            database.close()


def quick_facts(latest, config, job):
    """(last success, last run, its status, its error, failed files: not named here) from history.latest."""
    success, last_run, status, error, _failed = latest.get((config.name, job.destination.name, job.source.name),
                                                           (None, None, None, None, 0))
    return success, last_run, status, error, ()


def database_facts(database, config, job):
    """The same facts from the database, every failed file of the last run named."""
    if database is None:
        return None, None, None, None, []
    from .history_db import last_failures, last_job

    pair = (database, config.name, job.destination.name, job.source.name)
    success, last = last_job(*pair, "status = 'ok'"), last_job(*pair)
    return (success and success[1], last and last[1], last and last[2], last and last[3],
            last_failures(*pair) if last else [])


def judge(config, destination, source, facts, now):
    success, last_run, status, error, failed = facts
    stale_after = destination.stale_after or config.stale_after
    if success is None:
        verdict = "never"
    elif now - success > stale_after:
        verdict = "stale"
    else:
        verdict = "ok" if status == "ok" else "failing"
    return Verdict(destination.name, source, verdict, success, last_run, status, error, failed, stale_after)


def verdict_line(found, now):
    """One line for the end of every summary and of `status`: ok, or what is stale, never backed up, failing."""
    if found is None:
        return "status: unknown: the run history cannot be read (see the warning above)"
    if not found:
        return "status: no destinations to watch"
    by_kind = {kind: [item for item in found if item.verdict == kind] for kind in ("stale", "never", "failing", "ok")}
    parts = []
    if by_kind["stale"]:
        parts.append("STALE: " + ", ".join(f"{item.destination}/{item.source} (last success "
                                             f"{format_duration(now - item.last_success)} ago, stale after "
                                             f"{format_duration(item.stale_after)})" for item in by_kind["stale"]))
    if by_kind["never"]:
        parts.append("NEVER backed up: " + ", ".join(f"{item.destination}/{item.source}" for item in by_kind["never"]))
    if by_kind["failing"]:
        parts.append("failing: " + ", ".join(f"{item.destination}/{item.source} (last success "
                                               f"{format_duration(now - item.last_success)} ago)"
                                               for item in by_kind["failing"]))
    if not parts:
        pairs = "1 destination/source pair" if len(found) == 1 else f"all {len(found)} destination/source pairs"
        return f"status: ok: {pairs} backed up within stale_after"
    if by_kind["ok"]:
        parts.append(f"{len(by_kind['ok'])} ok")
    return "status: " + "; ".join(parts)


def protected(found):
    """True when every pair is ok or failing: what `status` exits 0 for (not when the history is unreadable)."""
    return found is not None and all(item.verdict in PROTECTED for item in found)


VERIFIED_FILE = "last-verified.json"  # in state_dir: what the last `verify --sample` found


def remember_verification(config, ok, checked, now=None):
    """Keep what a `verify --sample` found, for `status`."""
    import json
    import os
    import time

    problems = [f"{item.destination}/{item.source}{'@' + item.snapshot if item.snapshot else ''}: "
                f"{item.error or 'differences found'}" for item in checked
                if item.error or item.missing or item.changed or item.unexpected]
    os.makedirs(config.state_dir, exist_ok=True)
    path = os.path.join(config.state_dir, VERIFIED_FILE)
    with open(path + ".tmp", "w") as stream:
        json.dump({"time": time.time() if now is None else now, "ok": ok, "problems": problems}, stream)
    os.replace(path + ".tmp", path)


def verification_line(config, now):
    """`last verified: <when> (<age> ago), ok` or `..., FAILED: <first problem>`; or that it never was."""
    import json
    import os

    from .times import format_time

    try:
        with open(os.path.join(config.state_dir, VERIFIED_FILE)) as stream:
            last = json.load(stream)
        when, ok, problems = float(last["time"]), bool(last["ok"]), list(last.get("problems", []))
    except (OSError, ValueError, KeyError, TypeError):
        return "last verified: never (run: backup_system.py verify --sample 20)"
    result = "ok" if ok else "FAILED: " + "; ".join(problems[:3])
    return f"last verified: {format_time(when)} ({format_duration(now - when)} ago), {result}"
