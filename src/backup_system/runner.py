"""One backup run: lock, jobs in turn (each isolated), a report at the end."""

import os
import time

from . import log as logs
from .config import load_config
from .errors import BackupError, LockHeld
from .lock import RunLock
from .plan import build_jobs
from .report import BackupReport, JobResult, plural
from .transports import transport_for


def run_backup(config=None, *, only=(), dry_run=False, compress=None, console_level=logs.WARNING, stream=None):
    """Back up every enabled destination (or those named in `only`) and return a BackupReport.

    Never exits the interpreter: a config mistake raises ConfigError, a held lock LockHeld,
    both with the message the command line prints. A failing job is recorded in the report
    and the other jobs still run. `compress` (True/False/None) is accepted for the
    compression stage; it has no effect until that stage exists.
    """
    config = load_config(config)
    log = logs.Log(config.log_file, console_level, stream)
    try:
        if not config.enabled:
            log.debug("backups are disabled (backups.enabled: false): nothing to do")  # the summary says so
            return BackupReport(config.path, dry_run, disabled=True)
        jobs, notes = build_jobs(config, tuple(only), dry_run)
        for note in notes:
            log.debug(note)  # the summary shows notes; the log file keeps them too
        try:
            with RunLock(os.path.join(config.state_dir, f"{config.name}.lock"), log):
                log.info(f"{'dry run' if dry_run else 'backup'} started: {plural(len(jobs), 'job')}, "
                         f"config {config.path}")
                results = [run_job(job, log) for job in jobs]
        except LockHeld as error:
            log.debug(f"not run: {error}")
            raise
        report = BackupReport(config.path, dry_run, results, notes)
        log.debug(report.verdict())
        return report
    finally:
        log.close()


def run_job(job, log):
    """Run one job; whatever goes wrong stays in its JobResult."""
    result = JobResult(job.destination.name, job.source.name, job.target, job.dry_run)
    started = time.monotonic()
    log.prefix = f"{job.destination.name}/{job.source.name}"
    try:
        log.info(f"{'dry run to' if job.dry_run else 'sending to'} {job.target}")
        transport_for(job.destination, log).send(job, result)
        log.debug(f"{result.files_sent} {'would be sent' if job.dry_run else 'sent'}, "
                 f"{result.files_unchanged} unchanged, {result.files_failed} failed")
    except BackupError as error:
        result.error = str(error)
        log.error(f"FAILED: {error}")
    except Exception as error:  # a bug of ours must not cost the other jobs their backup
        import traceback

        result.error = f"internal error: {error!r} (details in {log.file_path})"
        log.error(f"FAILED: {result.error}")
        log.debug(traceback.format_exc())
    finally:
        result.seconds = time.monotonic() - started
        log.prefix = ""
    return result
