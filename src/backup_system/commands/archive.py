"""archive: list the compression stage's archives per source, or verify one (exit 1 when it is damaged)."""

import os

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

HEADINGS = ("source", "archive", "size", "files", "file times")


def parser():
    """`backup_system.py archive list [--config PATH] | test PATH`."""
    archive = verb_parser("archive")
    archive.add_argument("action", choices=("list", "test"),
                         help="list: the archives of each source; test: verify the archive at PATH "
                              "(exit 1 when it is damaged)")
    archive.add_argument("path", nargs="?", metavar="PATH", help="the archive to verify (archive test)")
    archive.add_argument("--config", metavar="PATH", help=CONFIG_HELP + "; for list")
    return archive


def main(args):
    """`test`: verify one archive (a damaged one raises); `list`: a table of the archives per source."""
    if args.action == "test":
        return verify(args.path)
    from ..compression import list_archives
    from ..config import load_config
    from ..record import format_bytes, format_table

    archives = list_archives(load_config(args.config).compression.output_dir)
    rows = [(item["source"], os.path.basename(item["path"]), format_bytes(item["size"]), str(item["files"]),
             f"{item['covers_from']} .. {item['covers_to']}") for item in archives]
    print("\n".join(format_table(HEADINGS, rows)) if rows else "no archives yet")
    return ExitStatus.OK


def verify(path):
    """Verify the archive at `path`: ok, or the BackupError test_archive raises."""
    if not path:
        raise ConfigError("backup_system.py archive test: give the archive's path (see --help)")
    from ..compression import test_archive

    test_archive(path)
    print(f"{path}: ok")
    return ExitStatus.OK
