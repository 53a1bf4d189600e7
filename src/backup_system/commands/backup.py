"""backup, the default verb: back up every enabled destination, then print the summary or the JSON report.

Besides parser() and main(args): add_arguments(parser) gives the backup options to another
parser (the top-level one in cli.py, and run's); run_backup_for, console_level and
print_json are the pieces run reuses around its pipeline.
"""

from .. import log as logs
from ..cli import exit_status
from . import CONFIG_HELP, verb_parser

SHORTHANDS = (("--smb-only", "smb"), ("--box-only", "box"), ("--secured-only", "secured"))


def parser():
    """`backup_system.py backup`: the backup options."""
    backup = verb_parser("backup")
    add_arguments(backup)
    return backup


def add_arguments(parser):
    """The options of a backup: config, dry run, which destinations, compression, loudness, JSON."""
    parser.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    parser.add_argument("--dry-run", action="store_true", help="change nothing anywhere; list what would be sent")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="back up only this destination (repeatable)")
    for flag, name in SHORTHANDS:
        parser.add_argument(flag, dest="only", action="append_const", const=name, help=f"same as --only {name}")
    compress = parser.add_mutually_exclusive_group()
    compress.add_argument("--compress", dest="compress", action="store_const", const=True, default=None,
                          help="send archives (zip/7z) to every destination this run")
    compress.add_argument("--no-compress", dest="compress", action="store_const", const=False,
                          help="send plain trees to every destination this run")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="also show each command and file")
    loudness.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--retry-failed", action="store_true",
                        help="send only the files that failed in each job's last run (see: history)")
    parser.add_argument("--notify", action="store_true",
                        help="send the config's notices in a dry run too (a real run always sends them)")
    parser.add_argument("--force", action="store_true",
                        help="run a mirror whose source looks vanished or much smaller than last time (see max_shrink)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout, nothing else")


TRIGGERS = ("cli", "run-before", "run-after", "notebook", "schedule")


def main(args):
    """Run the backup the options describe, print its summary (or the JSON report), return the exit status."""
    report = run_backup_for(args)
    if args.json:
        print_json(report.to_dict())
    elif not args.quiet or not report.ok:
        print(report.summary())
        print_verdict(report)
        print_details(report)
    return exit_status(report=report)


def run_backup_for(args, config=None, trigger=None, pipeline=None):
    """The report of one backup as the options describe it; `config`: an already loaded Config to use.
    `trigger`: who started it (default: cli, or BACKUP_SYSTEM_TRIGGER, which a printed schedule sets)."""
    from ..runner import run_backup

    if any("," in name for name in args.only):
        config = refuse_comma_lists(args.only, config or args.config)
    return run_backup(config or args.config, only=args.only, dry_run=args.dry_run, compress=args.compress,
                      console_level=console_level(args), progress=not args.json,
                      trigger=trigger or default_trigger(), pipeline=pipeline, retry_failed=args.retry_failed,
                      notify=True if args.notify else None, force=args.force)


def refuse_comma_lists(only, config):
    """`--only box,secured`, when box and secured are destinations and `box,secured` is not: say to repeat
    --only (ConfigError). Returns the loaded config, for the run to use."""
    from ..config import load_config
    from ..errors import ConfigError

    config = load_config(config)
    for name in only:
        parts = [part.strip() for part in name.split(",") if part.strip()]
        if name not in config.destinations and parts and all(part in config.destinations for part in parts):
            raise ConfigError(f"{config.path}: --only {name}: repeat --only for each destination: "
                              f"{' '.join(f'--only {part}' for part in parts)}")
    return config


def default_trigger():
    import os

    given = os.environ.get("BACKUP_SYSTEM_TRIGGER", "cli")
    return given if given in TRIGGERS else "cli"


def print_verdict(report):
    """The staleness verdict line that ends every summary (see `status`)."""
    if report.disabled:
        return
    from ..config import load_config
    from ..log import WARNING, Log
    from ..status import verdict_line, verdicts
    from ..times import now

    moment = now()
    print(verdict_line(verdicts(load_config(report.config_path), moment, Log(None, WARNING), quick=True), moment))


def print_details(report):
    """A failed run ends with where its log is, which holds every message and command in full."""
    if report.ok or not report.config_path:
        return
    from ..config import load_config

    log_file = load_config(report.config_path).log_file
    if log_file:
        print(f"details: {log_file}")


def console_level(args):
    """How much the console shows: -v everything, -q and --json warnings and errors only."""
    if args.verbose:
        return logs.DEBUG
    return logs.WARNING if args.quiet or args.json else logs.INFO


def print_json(data):
    """One JSON document on stdout."""
    import json

    print(json.dumps(data, indent=2))  # ASCII: a file name that is not UTF-8 stays valid JSON
