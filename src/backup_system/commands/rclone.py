"""rclone: the rclone the backups run (the pinned one in .venv), under a command you can type.

    backup_system.py rclone config          make or edit a remote, on your terminal
    backup_system.py rclone obscure         the obscured form of a password, for rclone_env (asked, not shown)
    backup_system.py rclone listremotes     any other rclone command line, passed on unchanged

Every word after `rclone` goes to rclone as it is; the exit status is rclone's. The only
addition is `obscure` without a password on a terminal: rclone would want the password on
its command line (where `ps` and the shell history show it), so it is asked for here and
handed to `rclone obscure -` on its standard input.
"""

import sys
from types import SimpleNamespace

from ..errors import ConfigError
from . import PROG

# No destination picks the binary here: the rule of rclone_binary() without an rclone_binary key.
NO_RCLONE_BINARY = SimpleNamespace(rclone_binary=None)
OBSCURE_TIMEOUT = 30  # seconds; obscuring one password takes milliseconds


class PassThrough:
    """The verb's "parser": it parses nothing, the words are rclone's."""

    def parse_args(self, argv):
        return list(argv)


def parser():
    """`backup_system.py rclone ARGS...`: no options of ours."""
    return PassThrough()


def main(arguments):
    """Run the pinned rclone with `arguments` on this terminal; return its exit status."""
    binary = pinned_rclone()
    if arguments == ["obscure"] and sys.stdin.isatty():
        return obscure_asked_password(binary)
    from ..proc import run_attached

    return run_attached([binary, *arguments])


def pinned_rclone():
    """The rclone a backup would run: the pinned one beside this Python, else rclone on PATH."""
    import shutil

    from ..transports.rclone.command import rclone_binary

    binary = rclone_binary(NO_RCLONE_BINARY)
    if binary == "rclone" and not shutil.which(binary):
        raise ConfigError(f"{PROG} rclone: the pinned rclone is not installed (.venv/bin/rclone): run make setup")
    return binary


def obscure_asked_password(binary):
    """Ask for a password without echoing it, print rclone's obscured form of it."""
    import getpass

    from ..log import WARNING, Log
    from ..proc import run

    password = getpass.getpass("password to obscure (not shown): ")
    if not password:
        raise ConfigError(f"{PROG} rclone obscure: no password given")
    lines = []
    result = run([binary, "obscure", "-"], timeout=OBSCURE_TIMEOUT, log=Log(None, WARNING), secrets=(password,),
                 on_line=lines.append, input_bytes=password.encode() + b"\n")
    for line in [*lines, *result.stderr_lines]:
        print(line, file=sys.stdout if result.returncode == 0 else sys.stderr)
    return result.returncode
