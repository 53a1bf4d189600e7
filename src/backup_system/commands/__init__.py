"""The verbs of the command line: one module per verb group, each owning its options and handler.

Every module named in VERBS offers the same two functions (the contract cli.py relies on):

    parser() -> Parser       the verb's own options; `backup_system.py VERB --help` prints its help
    main(args) -> int        run the verb on parse_args's result; return the exit status (errors raise)

cli.py imports only the module of the verb the command line names: this table alone is
enough to list the verbs in --help, so it names each module instead of importing it.
"""

import argparse
import os
import sys

from ..errors import ConfigError

PROG = "backup_system.py"

# verb -> (module in this package, its arguments as --help shows them, what it does in one line)
VERBS = {
    "backup": ("backup", "[options]", "back up every enabled destination (the default: no verb needed)"),
    "run": ("run", "[--pipeline CMD] [options]", "back up, run the analysis pipeline, back up again"),
    "config": ("config", "validate [--reach]|show [--config PATH]", "check the config, or print it with every default "
               "filled in"),
    "archive": ("archive", "list | test PATH", "list the compression stage's archives per source, or verify one"),
    "history": ("history", "[-n N] [--failed] | show RUN_ID", "the last runs, newest first, or one run whole"),
    "status": ("status", "[--json]", "are we protected? each destination's last success and a verdict "
               "(exit 1 when stale)"),
    "restore": ("restore", "--from DEST --to DIR [--at TIME] [--source S] [--path GLOB]",
                "bring back the sources as they were at a time (default now) into a folder"),
    "versions": ("versions", "list PATH [--destination D] [--json]", "every copy of one file each destination keeps"),
    "prune": ("prune", "[--dry-run] [--destination D]", "remove kept versions older than keep_days"),
    "verify": ("verify", "[--destination D] [--source S] [--full | --sample N]",
               "check each destination against the manifest its backups wrote (exit 1 when anything differs)"),
    "notify": ("notify", "test [NAME]", "send a test message through each notifier (or one)"),
    "schedule": ("schedule", "--cron | --systemd | --slurm [--install | --uninstall | --check]",
                 "print (or install) a schedule that runs this backup"),
    "rclone": ("rclone", "ARGS...", "the project's pinned rclone, e.g. rclone config (everything after rclone "
               "goes to it)"),
}

# Verbs that hand every word after them to another program unparsed: they must come first.
PASS_THROUGH = ("rclone",)

CONFIG_HELP = "config file (default: $BACKUP_SYSTEM_CONFIG, else config/config.yaml)"

# Options of any verb that take a value, so that a value is never mistaken for a verb (`--config run`).
OPTIONS_WITH_VALUES = ("--config", "--only", "--pipeline")


UNRECOGNIZED = "unrecognized arguments: "  # how argparse starts the message for words it does not know


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 2 without the usage block."""

    def error(self, message):
        hint = self.did_you_mean(message)
        raise ConfigError(f"{self.prog}: {message} ({hint or 'see --help'})")

    def did_you_mean(self, message):
        """'did you mean --dry-run?' for an unknown option close to one of ours (a word: to a verb), else ''."""
        if not message.startswith(UNRECOGNIZED):
            return ""
        import difflib

        for word in message[len(UNRECOGNIZED):].split():
            option = word.split("=", 1)[0]
            known = self._option_string_actions if option.startswith("-") else VERBS if self.prog == PROG else ()
            close = difflib.get_close_matches(option, list(known), n=1, cutoff=0.7)
            if close:
                return f"did you mean {close[0]}?"
        return ""


def help_formatter(prog):
    # With an explicit width argparse skips importing shutil (and bz2, lzma) on every run.
    columns = os.get_terminal_size().columns if sys.stdout.isatty() else 100
    return argparse.RawDescriptionHelpFormatter(prog, width=columns - 2)


def verb_parser(verb, epilog=None):
    """An empty Parser for `backup_system.py VERB`, described by its line in VERBS; `epilog` ends its help."""
    return Parser(prog=f"{PROG} {verb}", description=VERBS[verb][2], epilog=epilog, formatter_class=help_formatter)

