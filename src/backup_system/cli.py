"""The command line: argument parsing, output and exit codes, nothing else.

    backup_system.py [options]                  back up (the default)
    backup_system.py run [--pipeline CMD] ...   back up, run the pipeline, back up again
    backup_system.py config validate|show       check or print the effective config
    backup_system.py archive list | test PATH   the compression stage's archives

Exit status: 0 every job succeeded, 1 a job failed, 2 usage or config error, 3 locked.
"""

import argparse
import os
import signal
import sys

from . import log as logs
from .errors import BackupError, ConfigError, LockHeld

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
OPTIONS_WITH_VALUES = ("--config", "--only", "--pipeline")
SHORTHANDS = (("--smb-only", "smb"), ("--box-only", "box"), ("--secured-only", "secured"))


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2 without the usage block."""

    def error(self, message):
        raise ConfigError(f"{self.prog}: {message} (see --help)")


def help_formatter(prog):
    # With an explicit width argparse skips importing shutil (and bz2, lzma) on every run.
    columns = os.get_terminal_size().columns if sys.stdout.isatty() else 100
    return argparse.RawDescriptionHelpFormatter(prog, width=columns - 2)


def backup_parser(prog="backup_system.py", description=__doc__):
    parser = Parser(prog=prog, description=description, formatter_class=help_formatter)
    add_backup_options(parser)
    return parser


def add_backup_options(parser):
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $BACKUP_SYSTEM_CONFIG, else config/config.yaml)")
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
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout, nothing else")


def main(argv=None):
    """Entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    signal.signal(signal.SIGTERM, _terminate)
    json_output = "--json" in argv
    try:
        command, rest = split_command(argv)
        return COMMANDS[command](rest)
    except BackupError as error:
        return report_error(error, json_output)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if json_output:
            print_json({"ok": False, "exit_code": EXIT_INTERRUPTED, "error": "interrupted"})
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug of ours: one line, the traceback only when asked for
        if "-v" in argv or "--verbose" in argv:
            import traceback

            traceback.print_exc()
        print(f"internal error: {error!r} (run again with -v to see where)", file=sys.stderr)
        return EXIT_FAILED


def split_command(argv):
    """The subcommand wherever it stands (`--config X run` or `run --config X`), and the other words."""
    takes_value = False
    for index, word in enumerate(argv):
        if not takes_value and word in COMMANDS:
            return word, argv[:index] + argv[index + 1:]
        takes_value = word in OPTIONS_WITH_VALUES
    return "backup", argv


def _terminate(signum, frame):
    raise KeyboardInterrupt  # unwinds through proc.run, which stops the child


def console_level(args):
    if args.verbose:
        return logs.DEBUG
    return logs.WARNING if args.quiet or args.json else logs.INFO


def backup_command(argv):
    args = backup_parser().parse_args(argv)
    return backup(args)


def backup(args, config=None):
    """Run the backup the parsed options describe, print its summary, return the exit status."""
    report = run_backup_for(args, config)
    if args.json:
        print_json(report.to_dict())
    elif not args.quiet or not report.ok:
        print(report.summary())
    return report.exit_code


def run_backup_for(args, config=None):
    from .runner import run_backup

    return run_backup(config or args.config, only=args.only, dry_run=args.dry_run, compress=args.compress,
                      console_level=console_level(args), progress=not args.json)


def print_json(data):
    import json

    print(json.dumps(data, indent=2))  # ASCII: a file name that is not UTF-8 stays valid JSON


def report_error(error, json_output):
    code = exit_code_for(error)
    print(f"{error}", file=sys.stderr)
    if json_output:
        print_json({"ok": False, "exit_code": code, "error": str(error)})
    return code


def exit_code_for(error):
    """The one mapping from an error to an exit status."""
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    if isinstance(error, LockHeld):
        return EXIT_LOCKED
    return EXIT_FAILED


def config_command(argv):
    parser = Parser(prog="backup_system.py config", description="check or print the configuration",
                    formatter_class=help_formatter)
    parser.add_argument("action", choices=("validate", "show"))
    parser.add_argument("--config", metavar="PATH")
    args = parser.parse_args(argv)
    from .config import effective_config, load_config

    config = load_config(args.config)
    if args.action == "show":
        import yaml

        print(yaml.safe_dump(effective_config(config), sort_keys=False, allow_unicode=True), end="")
    else:
        kinds = ", ".join(f"{d.name} ({d.type}{'' if d.enabled else ', disabled'})"
                          for d in config.destinations.values())
        print(f"{config.path}: ok; destinations: {kinds or 'none'}")
    return EXIT_OK


def run_command(argv):
    """Back up, run the analysis pipeline, back up again; the after-backup runs even if the pipeline fails.

    Exits with the pipeline's own status when it fails, else with the worse backup status.
    With --json, stdout holds one document: both reports and the pipeline's outcome.
    """
    parser = backup_parser("backup_system.py run", "back up, run the analysis pipeline, back up again")
    parser.add_argument("--pipeline", metavar="CMD", help="the command to wrap (default: pipeline.command)")
    args = parser.parse_args(argv)
    import shlex

    from .config import load_config
    from .log import Log
    from .proc import run_attached

    config = load_config(args.config)
    command = _pipeline_command(args.pipeline, config)
    before = backup_around_pipeline(args, config)
    log = Log(config.log_file, console_level(args))
    log.info(f"running the pipeline in {config.pipeline.workdir}: {shlex.join(command)}")
    log.debug(f"run {command}")
    pipeline = run_attached(command, cwd=config.pipeline.workdir, output_to_stderr=args.json)
    log.info(f"pipeline {'ok' if pipeline == 0 else f'FAILED (exit {pipeline})'}")
    log.close()
    after = backup_around_pipeline(args, config)
    if args.json:
        print_json({"before": before[1], "pipeline": {"command": command, "exit_code": pipeline},
                    "after": after[1]})
    outcome = "ok" if pipeline == 0 else f"FAILED (exit {pipeline})"
    print(f"pipeline {outcome}; backup before: exit {before[0]}; backup after: exit {after[0]}", file=sys.stderr)
    return pipeline or max(before[0], after[0])


def backup_around_pipeline(args, config):
    """(exit status, report data) of one backup; a held lock is reported and the pipeline still runs."""
    try:
        report = run_backup_for(args, config)
    except LockHeld as error:
        print(error, file=sys.stderr)
        return EXIT_LOCKED, {"ok": False, "exit_code": EXIT_LOCKED, "error": str(error)}
    if not args.json and (not args.quiet or not report.ok):
        print(report.summary())
    return report.exit_code, report.to_dict()


def _pipeline_command(given, config):
    if given:
        import shlex

        try:
            return shlex.split(given)
        except ValueError as error:
            raise ConfigError(f"--pipeline: cannot split the command: {error}") from None
    if not config.pipeline.command:
        raise ConfigError(f"{config.path}: pipeline.command is not set (or give --pipeline CMD, "
                          f"or make run PIPELINE='CMD')")
    return list(config.pipeline.command)


def archive_command(argv):
    """List the archives per source, or verify one archive (exit 1 when it is damaged)."""
    parser = Parser(prog="backup_system.py archive", description="list or verify the archives of the "
                    "compression stage", formatter_class=help_formatter)
    parser.add_argument("action", choices=("list", "test"))
    parser.add_argument("path", nargs="?", help="the archive to verify (archive test)")
    parser.add_argument("--config", metavar="PATH")
    args = parser.parse_args(argv)
    from .compression import list_archives, test_archive

    if args.action == "test":
        if not args.path:
            raise ConfigError("backup_system.py archive test: give the archive's path (see --help)")
        test_archive(args.path)
        print(f"{args.path}: ok")
        return EXIT_OK
    from .config import load_config
    from .record import format_bytes, format_table

    archives = list_archives(load_config(args.config).compression.output_dir)
    rows = [(item["source"], os.path.basename(item["path"]), format_bytes(item["size"]), str(item["files"]),
             f"{item['covers_from']} .. {item['covers_to']}") for item in archives]
    print("\n".join(format_table(("source", "archive", "size", "files", "file times"), rows))
          if rows else "no archives yet")
    return EXIT_OK


COMMANDS = {"backup": backup_command, "config": config_command, "run": run_command, "archive": archive_command}

if __name__ == "__main__":
    sys.exit(main())
