"""prune: remove kept versions older than each destination's keep_days, by the run time in their name."""

from ..cli import ExitStatus
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Versions are the dated folders <target>-versions/<YYYY-mm-dd-HHMMSS>/ that a mirror fills with what
it replaced or deleted. A folder goes when its run is more than keep_days (default 180) before now
(BACKUP_SYSTEM_NOW when set); files' own modification times never decide. Exit status 1 when a
destination could not be pruned."""


def parser():
    """`backup_system.py prune [--dry-run] [--destination D]`."""
    prune = verb_parser("prune", EPILOG)
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    prune.add_argument("--destination", metavar="D", help="only this destination")
    prune.add_argument("--json", action="store_true", help="print what was pruned as JSON on stdout")
    prune.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return prune


def main(args):
    from ..config import load_config
    from ..keeping import prune_job
    from ..log import WARNING, Log
    from ..transports import transport_for
    from .status import moment
    from .versions import jobs_for

    config = load_config(args.config)
    now, log = moment(), Log(config.log_file, WARNING)
    try:
        pruned = [prune_job(transport_for(job.destination, log), job, now, args.dry_run)
                  for job in jobs_for(config, args.destination)]
    finally:
        log.close()
    if args.json:
        from .backup import print_json

        print_json({"dry_run": args.dry_run, "jobs": [item._asdict() for item in pruned]})
    else:
        print("\n".join(describe(item, args.dry_run) for item in pruned))
        print(total(pruned, args.dry_run))
    return ExitStatus.FAILED if any(item.error for item in pruned) else ExitStatus.OK


def describe(item, dry_run):
    from ..record import format_bytes, plural

    where = f"{item.destination}/{item.source}"
    if item.error:
        return f"{where}: FAILED: {item.error}"
    if item.note:
        return f"{where}: {item.note}"
    verb = "would prune" if dry_run else "pruned"
    return f"{where}: {verb} {plural(item.folders, 'versions folder')} ({plural(item.files, 'file')}, " \
           f"{format_bytes(item.bytes)})"


def total(pruned, dry_run):
    from ..record import format_bytes

    files, size = sum(item.files for item in pruned), sum(item.bytes for item in pruned)
    copies = f"{files} old {'copy' if files == 1 else 'copies'} ({format_bytes(size)})"
    return f"prune (dry run, nothing removed): {copies} would go" if dry_run else f"prune: {copies} removed"
