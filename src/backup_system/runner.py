"""One backup run: lock, the compression stage, jobs in turn (each isolated), a frozen record, after-run hooks."""

import importlib
import os
import time
from collections import namedtuple

from . import guard, manifest
from . import log as logs
from .config import load_config
from .errors import BackupError, LockHeld, Stalled, TransportError, Unreachable
from .locations import server_of
from .lock import RunLock
from .plan import build_jobs, start_line
from .record import JobRecord, RunRecord, plural
from .transports import Outcome, transport_for

# Steps around every run, each a "module:function" of this package imported only when it runs (or a
# callable): before the jobs, step(config, start, log) with the RunStart; after, step(config, record,
# log) with the finished RunRecord. A step that fails is a warning: it never changes the run's result.
# notify after history: the status verdict a notice carries then includes this run.
BEFORE_RUN = ["history:record_start", "notify:before_run"]
AFTER_RUN = ["history:record_finish", "keeping:prune_after_run", "notify:after_run"]

# A job that fails with one of these leaves its server's other jobs in the run failing at once.
UNREACHABLE_KINDS = (Unreachable.kind, Stalled.kind)

RunStart = namedtuple("RunStart", "run_id action dry_run trigger config_path config_name started jobs")
RunStart.__doc__ = "A run as it begins, holding the lock: its id, what it does and why, and its (destination, source) pairs."


def run_backup(config=None, *, only=(), dry_run=False, compress=None, console_level=logs.WARNING, stream=None,
               progress=True, trigger="notebook", pipeline=None, retry_failed=False, notify=None, before_run=None,
               after_run=None, force=False):
    """Back up every enabled destination (or those named in `only`) and return the run's RunRecord.

    Never exits the interpreter: a config mistake raises ConfigError, a held lock LockHeld,
    both with the message the command line prints. A failing job is recorded in the report
    and the other jobs still run. `compress` (True/False/None) overrides every destination's
    use_compression for this run. `progress`: a live progress line while files move, when the
    console is a terminal (the command line turns it off for --json). `trigger`: who started
    the run (cli, run-before, run-after, notebook, schedule); `pipeline`: (command, exit status)
    of the pipeline that ran before this backup. `retry_failed`: send only the files that failed in
    each job's last run. `notify`: send the config's notices (True), none (False), or (None) unless
    this is a dry run. `before_run`, `after_run`: the steps around the run (default BEFORE_RUN,
    AFTER_RUN). `force`: run a mirror whose source looks vanished or shrunk (see guard.py) this once.
    """
    config = load_config(config)
    if not (notify if notify is not None else not dry_run):
        config = config._replace(notifications=())  # a run that sends no notices sees no notifiers
    log = logs.Log(config.log_file, console_level, stream)
    log.progress = progress
    start = RunStart(new_run_id(), "backup", dry_run, trigger, config.path, config.name, time.time(), ())
    try:
        if not config.enabled:
            log.record("backups are disabled (backups.enabled: false): nothing to do")
            return finished(start, (), (), (), pipeline, disabled=True)
        jobs, notes = build_jobs(config, (only,) if isinstance(only, str) else tuple(only), dry_run, compress)
        if retry_failed:
            jobs, notes = retries(config, jobs, notes, log)
        for note in notes:
            log.record(note)
        start = start._replace(jobs=tuple((job.destination.name, job.source.name) for job in jobs))
        steps = BEFORE_RUN if before_run is None else before_run
        records, archives = run_locked(config, jobs, log, lambda: run_steps(steps, config, start, log), force)
        record = finished(start, records, archives, notes, pipeline)
        log.record(record.verdict())
        run_steps(AFTER_RUN if after_run is None else after_run, config, record, log)
        return record
    finally:
        log.close()


def finished(start, jobs, archives, notes, pipeline, disabled=False):
    """The RunRecord of a run that began as `start` and ends now."""
    return RunRecord(start.run_id, start.action, start.dry_run, start.trigger, start.config_path, start.config_name,
                     start.started, time.time(), tuple(jobs), tuple(archives), tuple(notes), disabled, pipeline)


def run_locked(config, jobs, log, begin, force=False):
    """Holding the config's lock: `begin()`, the compression stage, then every job; (JobRecords, ArchiveResults)."""
    dry_run = jobs[0].dry_run if jobs else False
    try:
        with RunLock(os.path.join(config.state_dir, f"{config.name}.lock"), log):
            log.info(f"{'dry run' if dry_run else 'backup'} started: {plural(len(jobs), 'job')}, "
                     f"config {config.path}")
            begin()
            archives, failed_sources = build_archives(config, jobs, dry_run, log)
            left_out = {archive.source: archive.skipped for archive in archives}
            unreachable = {}  # (destination, server) -> the JobRecord of the job that found it unreachable
            records = []
            for job in jobs:
                server = (job.destination.name, server_of(job.target))
                if server in unreachable:
                    records.append(not_tried(job, unreachable[server], log))
                    continue
                records.append(run_job(with_archives(job, config, failed_sources), log,
                                       left_out.get(job.source.name, ()) if job.compressed else (), force))
                if records[-1].error_kind in UNREACHABLE_KINDS:
                    unreachable[server] = records[-1]
            return tuple(records), archives
    except LockHeld as error:
        log.record(f"not run: {error}")
        raise
    except KeyboardInterrupt:
        log.error("interrupted: the run stopped before its end (the next run carries on)")
        raise


def retries(config, jobs, notes, log):
    """Each job narrowed to the files that failed in its last run; a job with none is left out, with a note."""
    from . import history_db as history

    database = history.connect(config, log)
    narrowed, notes = [], list(notes)
    try:
        for job in jobs:
            failed = history.last_failures(database, config.name, job.destination.name, job.source.name) \
                if database else []
            if failed:
                narrowed.append(job._replace(only_paths=tuple(path for path, _ in failed)))
            else:
                notes.append(f"{job.destination.name}/{job.source.name}: nothing to retry (no file failed in "
                             f"its last run)")
    finally:
        if database is not None:
            database.close()
    return narrowed, notes


def new_run_id():
    """Sortable and unique enough for one machine: the start time and 4 random bytes."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(4).hex()}"


def run_steps(steps, config, run, log):
    """Each step in turn on the run (a RunStart or a RunRecord); one that fails is a warning, the others still run."""
    for step in steps:
        try:
            resolve(step)(config, run, log)
        except Exception as error:  # history or a notice that fails must not cost the backup its result
            log.warning(f"{step_name(step)} failed: {error} (the backup's result stands)")


def resolve(step):
    if callable(step):
        return step
    module, _, function = step.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def step_name(step):
    return step if isinstance(step, str) else getattr(step, "__name__", repr(step))


def build_archives(config, jobs, dry_run, log):
    """The compression stage: each source that some job sends compressed is archived once.

    Returns the ArchiveResults and {source name: error message} for sources whose archive
    could not be built; their jobs fail, the others run.
    """
    sources = {job.source.name: job.source for job in jobs if job.compressed}
    if not sources:
        return [], {}
    from .compression import build_archive

    settings, archives, failed = config.compression, [], {}
    for name, source in sources.items():
        with log.prefixed(f"archive/{name}"):
            try:
                archives.append(build_archive(source, settings.output_dir, settings.format, settings.level,
                                              settings.keep, log, dry_run=dry_run))
            except BackupError as error:
                failed[name] = str(error)
                log.error(f"FAILED: {error}")
            except Exception as error:  # a bug of ours costs this source's archive, not the run
                failed[name] = internal_error(error, log)
                log.error(f"FAILED: {failed[name]}")
    return archives, failed


def with_archives(job, config, failed_sources):
    """A compressed job sends the source's archive folder, to the place its tree would have gone."""
    if not job.compressed:
        return job
    from .compression import ARCHIVE_EXCLUDES, archive_folder

    folder = archive_folder(config.compression.output_dir, job.source.name)
    return job._replace(source=job.source._replace(path=folder, exclude=ARCHIVE_EXCLUDES),
                        archive_error=failed_sources.get(job.source.name))


def internal_error(error, log):
    """The one line for a bug of ours; the traceback goes to the log file."""
    import traceback

    log.record(traceback.format_exc(), logs.DEBUG)
    return f"internal error: {error!r} (details in {log.file_path})"


def run_job(job, log, not_archived=(), force=False):
    """Run one job and return its JobRecord; whatever goes wrong stays in the record.

    not_archived: (path, reason) of each file the archive this job sends left out; each is a file of the
    job not sent, as a tree transport names the files it could not send.
    """
    started = time.monotonic()
    outcome, error, kind, transport = Outcome(), None, None, None
    with log.prefixed(f"{job.destination.name}/{job.source.name}"):
        try:
            size = guard.check(job, job.destination.max_shrink, force, log)
            transport = transport_for(job.destination, log)
            outcome = send(job, transport, log)
            if size is not None:
                guard.remember(job, size)
        except BackupError as failure:
            outcome, error = getattr(failure, "outcome", None) or Outcome(), str(failure)
            kind = getattr(failure, "kind", "failed")
            log.error(f"FAILED: {error}")
        except Exception as failure:  # a bug of ours must not cost the other jobs their backup
            error, kind = internal_error(failure, log), "internal"
            log.error(f"FAILED: {error}")
        if transport is not None and kind not in ("internal", *UNREACHABLE_KINDS) and (error is None or outcome.sent):
            update_manifest(job, outcome, transport, log)
        failures = archive_failures(not_archived, log) + tuple(outcome.failures)
    return JobRecord(job.destination.name, job.source.name, job.target, job.destination.type, job.dry_run,
                     outcome.sent, outcome.bytes_sent, outcome.unchanged, failures, outcome.removed, error,
                     kind, time.monotonic() - started, outcome.removed_paths)


def update_manifest(job, outcome, transport, log):
    """The job's manifest (manifest.py), also after a failed job for the files that did arrive; a manifest
    that cannot be written is a warning, never the job's failure."""
    try:
        manifest.after_job(job, outcome, transport, log)
    except Exception as error:  # the data arrived; the manifest is what verify reads later
        log.warning(f"the manifest could not be updated: {error}")


def not_tried(job, failed, log):
    """The JobRecord of a job whose server an earlier job of the run could not reach: it fails at once, for the
    same reason, instead of waiting out the same timeouts again."""
    error = f"not tried: {failed.error} (found by {failed.destination}/{failed.source})"
    with log.prefixed(f"{job.destination.name}/{job.source.name}"):
        log.error(f"FAILED: {error}")
    return JobRecord(job.destination.name, job.source.name, job.target, job.destination.type, job.dry_run,
                     (), 0, 0, (), 0, error, failed.error_kind, 0.0, ())


def archive_failures(not_archived, log):
    """The files an archive left out, as failures of a job that sends it (logged under the job's prefix)."""
    failures = tuple((path, f"not in the archive: {reason}") for path, reason in not_archived)
    for path, reason in failures:
        log.warning(f"not sent: {path}: {reason}")
    return failures


def send(job, transport, log):
    """The job's Outcome from its transport (or, for an archive a dry run would build, what it would send)."""
    if job.archive_error:
        raise TransportError(f"not sent: its archive could not be built: {job.archive_error}")
    if job.compressed and job.dry_run and not os.path.isdir(job.source.path):
        log.info("would send the archive this run builds (no archive folder yet)")
        return Outcome(sent=("(the archive this run would build)",))
    log.info(start_line(job))
    outcome = transport.send(job)
    log.debug(f"{len(outcome.sent)} {'would be sent' if job.dry_run else 'sent'}, "
              f"{outcome.unchanged} unchanged, {len(outcome.failures)} failed")
    return outcome
