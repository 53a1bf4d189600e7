"""The command line: find the verb, run its module from backup_system.commands, map the outcome to an exit status.

Each verb's options and handler live in its own module; this one imports only the module of
the verb the command line names (backup when none does).
"""

import signal
import sys
from enum import IntEnum

from .commands import OPTIONS_WITH_VALUES, PASS_THROUGH, PROG, VERBS, Parser, help_formatter
from .errors import BackupError, ConfigError, LockHeld

DEFAULT_VERB = "backup"

DESCRIPTION = """\
Back up the outputs of an analysis (CSV files, result figures) to SMB file shares, rclone
remotes (Box, S3, Drive, ...) and rsync disks, local or over ssh, as one YAML config says.
Only new or changed files move, and nothing at a destination is deleted unless its config
asks for it. With no verb it backs up, with the options below."""


class ExitStatus(IntEnum):
    """The exit status of every verb."""

    OK = 0
    FAILED = 1
    USAGE = 2
    LOCKED = 3
    WAITING = 4
    INTERRUPTED = 130


MEANINGS = {
    ExitStatus.OK: "every selected job succeeded (also: backups disabled, or nothing to do)",
    ExitStatus.FAILED: "at least one job failed; the other jobs still ran",
    ExitStatus.USAGE: "usage or configuration error: one line on stderr, nothing was sent",
    ExitStatus.LOCKED: "another run holds the lock for this config",
    ExitStatus.WAITING: "restore: the only files not restored wait for cold storage (a restore was requested); "
                        "run it again later",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM)",
}

# The first class an error is an instance of gives the status; any other error is a failure.
ERROR_STATUSES = ((ConfigError, ExitStatus.USAGE), (LockHeld, ExitStatus.LOCKED),
                  (KeyboardInterrupt, ExitStatus.INTERRUPTED))


def main(argv=None):
    """Entry point: run the verb argv names (backup when none) and return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        verb, rest = split_verb(argv)
        return run_verb(verb, rest)
    except (BackupError, KeyboardInterrupt) as error:
        return report_error(error, json_output="--json" in argv)
    except Exception as error:  # a bug of ours: one line, the traceback only when asked for
        if "-v" in argv or "--verbose" in argv:
            import traceback

            traceback.print_exc()
        print(f"internal error: {error!r} (run again with -v to see where)", file=sys.stderr)
        return exit_status(error)


def split_verb(argv):
    """(the verb wherever it stands, or None; the other words): `--config X run` and `run --config X` alike."""
    takes_value = False
    for index, word in enumerate(argv):
        if not takes_value and word in VERBS:
            if word in PASS_THROUGH and index:  # the words before it would go to the other program too
                raise ConfigError(f"{PROG}: {word} must come first, as in {PROG} {word} "
                                  f"{shlex_join(argv[index + 1:]) or 'version'}")
            return word, argv[:index] + argv[index + 1:]
        takes_value = word in OPTIONS_WITH_VALUES
    return None, list(argv)


def run_verb(verb, argv):
    """Import the verb's module only now, parse its options, run it; no verb: backup, with the top-level --help."""
    # __import__ rather than importlib.import_module: -X importtime lists only what goes through it.
    module = __import__(f"{__package__}.commands.{VERBS[verb or DEFAULT_VERB][0]}", fromlist=["main"])
    parser = module.parser() if verb else backup_parser()
    return module.main(parser.parse_args(argv))


def shlex_join(words):
    import shlex  # only on this error: an everyday backup does not import shlex

    return shlex.join(words)


def _terminate(signum, frame):
    raise KeyboardInterrupt  # unwinds through proc.run, which stops the child


def exit_status(error=None, report=None):
    """The one mapping to an exit status: from the error that stopped a command, else from its report's `ok`."""
    if error is None:
        return ExitStatus.OK if report is None or report.ok else ExitStatus.FAILED
    return next((status for kind, status in ERROR_STATUSES if isinstance(error, kind)), ExitStatus.FAILED)


def error_document(error):
    """What --json prints when `error` stopped a command (or one backup of `run`)."""
    return {"ok": False, "exit_code": int(exit_status(error)), "error": error_message(error)}


def error_message(error):
    """The one line a user sees for `error`."""
    return "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)


def report_error(error, json_output):
    """One line on stderr, with --json also the error document on stdout; returns the exit status."""
    print(error_message(error), file=sys.stderr)
    if json_output:
        from .commands.backup import print_json

        print_json(error_document(error))
    return exit_status(error)


def backup_parser():
    """The parser of a command line without a verb: what the tool does, the backup options, the verbs."""
    from .commands import backup

    parser = Parser(prog=PROG, description=DESCRIPTION, epilog=epilog(), formatter_class=help_formatter)
    backup.add_arguments(parser)
    return parser


def epilog():
    """The verbs with one line each, then the exit statuses, as the top-level --help ends."""
    usages = {verb: f"{verb} {arguments}" for verb, (_, arguments, _) in VERBS.items()}
    width = max(map(len, usages.values()))
    verbs = [f"  {usages[verb]:<{width}}  {summary}" for verb, (_, _, summary) in VERBS.items()]
    statuses = [f"  {int(status):<5}{meaning}" for status, meaning in MEANINGS.items()]
    return "\n".join([f"verbs ({PROG} VERB --help shows a verb's own options):", *verbs, "",
                      "exit status:", *statuses,
                      "  run exits with the pipeline's own status when the pipeline fails."])


if __name__ == "__main__":
    sys.exit(main())
