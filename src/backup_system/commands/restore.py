"""restore: bring back the sources as they were at a time, from one destination, into a folder of your choice."""

import argparse

from ..cli import ExitStatus, exit_status
from ..cold_restore import COLD_DAYS, COLD_PRIORITIES
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Each source lands in TO/<source>/. For each file the copy it had at --at: the live copy at the
destination, or a kept version (<target>-versions/<stamp>/) when the live one is newer.
--at takes an ISO date or time (2026-11-30, 2026-11-30T14:00), now, today, yesterday, or a time
ago: 3d, 12h, 90m, 2w. Nothing is written outside TO; a non-empty TO needs --force.
Files in cold storage (S3 DEEP_ARCHIVE, GLACIER) that are not restored yet are asked to be
(--cold-priority, --cold-days) and written nowhere; the restore then exits 4: run it again once S3
has restored them (Deep Archive: within 12 h Standard, 48 h Bulk; Glacier: 3-5 h Standard)."""


def parser():
    """`backup_system.py restore --from DEST --to DIR [--source S] [--at TIME] [--path GLOB ...]`."""
    restore = verb_parser("restore", EPILOG)
    restore.add_argument("--from", dest="from_", required=True, metavar="DEST", help="the destination to restore from")
    restore.add_argument("--to", required=True, metavar="DIR", help="the folder to restore into (made if missing)")
    restore.add_argument("--source", metavar="S", help="only this source (default: every source DEST receives)")
    restore.add_argument("--at", metavar="TIME", help="as the files were at this time (default: now)")
    restore.add_argument("--path", action="append", default=[], metavar="GLOB",
                         help="only files matching GLOB, as a path in the source or SOURCE/path (repeatable)")
    restore.add_argument("--cold-priority", default="Standard", type=str.capitalize, choices=COLD_PRIORITIES,
                         help="how fast S3 restores files in cold storage: Standard (default), Bulk (cheaper, "
                              "slower), Expedited (Glacier only)")
    restore.add_argument("--cold-days", type=days, default=COLD_DAYS, metavar="N",
                         help=f"days S3 keeps a restored file readable (default {COLD_DAYS})")
    restore.add_argument("--dry-run", action="store_true", help="list what would be restored; write nothing, "
                                                                "ask nothing of cold storage")
    restore.add_argument("--force", action="store_true", help="restore into a folder that is not empty")
    restore.add_argument("--json", action="store_true", help="print the report as JSON on stdout, nothing else")
    restore.add_argument("-v", "--verbose", action="store_true", help="also show each command")
    restore.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return restore


def days(text):
    """--cold-days: a whole number of days, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of days, 1 or more")
    return int(text)


def main(args):
    """Restore as the options say; print the summary (or JSON); exit 1 when a file could not be restored, 4 when
    the only ones not restored wait for cold storage."""
    from .. import log as logs
    from ..restoring import run_restore
    from ..times import parse_at

    at = None
    if args.at is not None:
        at = parse_at(args.at)
        if at is None:
            raise ConfigError(f"restore --at {args.at!r}: not a time; give an ISO date or time (2026-11-30T14:00), "
                              f"now, today, yesterday, or a time ago such as 3d or 12h")
    level = logs.DEBUG if args.verbose else logs.WARNING if args.json else logs.INFO
    report = run_restore(args.config, from_=args.from_, to=args.to, at=at, source=args.source, paths=args.path,
                         dry_run=args.dry_run, force=args.force, console_level=level,
                         cold_priority=args.cold_priority, cold_days=args.cold_days)
    code = status(report)
    if args.json:
        from .backup import print_json

        print_json({**report.to_dict(), "exit_code": int(code)})  # the record knows 0 and 1 only
    else:
        print(summary(report))
    return code


def status(report):
    """exit_status, except ExitStatus.WAITING when the only files not restored wait for cold storage."""
    from ..cold_restore import waiting

    failures = [failure for job in report.jobs for failure in job.failures]
    if failures and not any(job.error for job in report.jobs) and len(waiting(failures)) == len(failures):
        return ExitStatus.WAITING
    return exit_status(report=report)


def summary(report):
    """One line per source, one per file not restored (one for all that wait for cold storage), then the verdict."""
    from ..cold_restore import waiting, waiting_lines
    from ..record import plural

    lines = []
    for job in report.jobs:
        verb = "would restore" if job.dry_run else "restored"
        where = f"{job.destination}/{job.source}"
        lines.append(f"{where}: FAILED: {job.error}" if job.error else f"{where}: {verb} {plural(job.files_sent, 'file')}")
        cold = set(waiting(job.failures))
        lines.extend(f"{where}: not restored: {path}: {reason}" for path, reason in job.failures
                     if (path, reason) not in cold)
        lines.extend(f"{where}: {line}" for line in waiting_lines(job.failures))
        if job.dry_run:
            lines.extend(f"{where}: would restore {path}" for path in job.sent)
    lines.append(verdict(report))
    return "\n".join(lines)


def verdict(report):
    """The last line: ok, FAILED, or waiting for cold storage (and how to go on)."""
    failed = sum(not job.ok for job in report.jobs)
    dry = " (dry run, nothing written)" if report.dry_run else ""
    if failed and status(report) == ExitStatus.WAITING:
        if report.dry_run:
            return f"restore{dry}: files in cold storage would wait for a restore request"
        written = any(job.sent for job in report.jobs)
        return (f"restore: waiting for cold storage; run the same restore again{' with --force' if written else ''} "
                f"once it is ready" + (" (it rewrites the files restored now)" if written else ""))
    return f"restore: {failed} of {len(report.jobs)} sources FAILED" if failed else f"restore{dry}: ok"
