"""One backup run: lock, jobs in turn (each isolated), a report at the end."""

import os
import time

from . import log as logs
from .config import load_config
from .errors import BackupError, LockHeld, TransportError
from .lock import RunLock
from .plan import build_jobs, start_line
from .record import BackupReport, JobResult, plural
from .transports import transport_for


def run_backup(config=None, *, only=(), dry_run=False, compress=None, console_level=logs.WARNING, stream=None,
               progress=True):
    """Back up every enabled destination (or those named in `only`) and return a BackupReport.

    Never exits the interpreter: a config mistake raises ConfigError, a held lock LockHeld,
    both with the message the command line prints. A failing job is recorded in the report
    and the other jobs still run. `compress` (True/False/None) overrides every destination's
    use_compression for this run. `progress`: a live progress line while files move, when the
    console is a terminal (the command line turns it off for --json).
    """
    config = load_config(config)
    only = (only,) if isinstance(only, str) else tuple(only)
    log = logs.Log(config.log_file, console_level, stream)
    log.progress = progress
    try:
        if not config.enabled:
            log.record("backups are disabled (backups.enabled: false): nothing to do")
            return BackupReport(config.path, dry_run, disabled=True)
        jobs, notes = build_jobs(config, only, dry_run, compress)
        for note in notes:
            log.record(note)
        try:
            with RunLock(os.path.join(config.state_dir, f"{config.name}.lock"), log):
                log.info(f"{'dry run' if dry_run else 'backup'} started: {plural(len(jobs), 'job')}, "
                         f"config {config.path}")
                archives, failed_sources = build_archives(config, jobs, dry_run, log)
                results = [run_job(with_archives(job, config, failed_sources), log) for job in jobs]
        except LockHeld as error:
            log.record(f"not run: {error}")
            raise
        except KeyboardInterrupt:
            log.error("interrupted: the run stopped before its end (the next run carries on)")
            raise
        report = BackupReport(config.path, dry_run, results, notes, archives=archives)
        log.record(report.verdict())
        return report
    finally:
        log.close()


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
        log.prefix = f"archive/{name}"
        try:
            archives.append(build_archive(source, settings.output_dir, settings.format, settings.level,
                                          settings.keep, log, dry_run=dry_run))
        except BackupError as error:
            failed[name] = str(error)
            log.error(f"FAILED: {error}")
        except Exception as error:  # a bug of ours costs this source's archive, not the run
            failed[name] = internal_error(error, log)
            log.error(f"FAILED: {failed[name]}")
        finally:
            log.prefix = ""
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


def run_job(job, log):
    """Run one job; whatever goes wrong stays in its JobResult."""
    result = JobResult(job.destination.name, job.source.name, job.target, job.dry_run)
    started = time.monotonic()
    log.prefix = f"{job.destination.name}/{job.source.name}"
    try:
        if job.archive_error:
            raise TransportError(f"not sent: its archive could not be built: {job.archive_error}")
        if job.compressed and job.dry_run and not os.path.isdir(job.source.path):
            log.info("would send the archive this run builds (no archive folder yet)")
            result.files_sent, result.sent = 1, ["(the archive this run would build)"]
            return result
        log.info(start_line(job))
        transport_for(job.destination, log).send(job, result)
        log.debug(f"{result.files_sent} {'would be sent' if job.dry_run else 'sent'}, "
                 f"{result.files_unchanged} unchanged, {result.files_failed} failed")
    except BackupError as error:
        result.error = str(error)
        log.error(f"FAILED: {error}")
    except Exception as error:  # a bug of ours must not cost the other jobs their backup
        result.error = internal_error(error, log)
        log.error(f"FAILED: {result.error}")
    finally:
        result.seconds = time.monotonic() - started
        log.prefix = ""
    return result
