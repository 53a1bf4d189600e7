"""status: per enabled destination x source, the last success and its age, the last run, and a verdict."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Verdicts: ok; failing (the last run failed, a success is younger than stale_after); stale (no
success younger than stale_after); never. Exit status 0 when every pair is ok or failing, 1
when any is stale or never. BACKUP_SYSTEM_NOW=2026-12-24T09:00 asks as of that time."""
HEADINGS = ("destination", "source", "verdict", "last success", "age", "last run", "failed files")


def parser():
    """`backup_system.py status [--json] [--config PATH]`."""
    status = verb_parser("status", EPILOG)
    status.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    status.add_argument("--json", action="store_true", help="print the verdicts as JSON on stdout")
    return status


def main(args):
    """Print every pair's verdict and the verdict line; 0 when protected, 1 when anything is stale or never."""
    from ..config import load_config
    from ..log import WARNING, Log
    from ..status import protected, verdict_line, verdicts, verification_line

    config = load_config(args.config)
    now = moment()
    log = Log(None, WARNING)
    found = verdicts(config, now, log)
    if args.json:
        from .backup import print_json

        print_json({"ok": protected(found), "now": now, "line": verdict_line(found, now),
                    "verified": verification_line(config, now),
                    "verdicts": [item._asdict() for item in found or ()]})
    else:
        print_table(found, now)
        print(verification_line(config, now))
        print(verdict_line(found, now))
        print_schedule_note(config, found, now)
    return ExitStatus.OK if protected(found) else ExitStatus.FAILED


def print_schedule_note(config, found, now):
    """A hint when nothing schedules this config and a success is getting old (schedule.schedule_note)."""
    from ..schedule import schedule_note

    note = schedule_note(config, found or (), now)
    if note:
        print(note)


def moment():
    """Now, or BACKUP_SYSTEM_NOW; a value that is no time is a usage error."""
    from ..times import now

    try:
        return now()
    except ValueError as error:
        raise ConfigError(str(error)) from None


def print_table(found, now):
    from ..record import format_table
    from ..times import format_duration, format_time

    if not found:
        return
    rows = [(item.destination, item.source, item.verdict,
             format_time(item.last_success) if item.last_success else "never",
             format_duration(now - item.last_success) if item.last_success else "-",
             item.last_state or "-", str(len(item.failed_files))) for item in found]
    print("\n".join(format_table(HEADINGS, rows)))
