"""versions list PATH: every copy of one file each destination keeps, with its time and size."""

from ..cli import ExitStatus
from ..errors import BackupError, ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
PATH is the file's path on this machine (inside a source) or SOURCE/relative/path. Each kept copy
shows when it was replaced or deleted (the run that kept it) and its own modification time; the
live copy comes last. On a destination in mode: snapshot each line is one distinct copy, with the
snapshots that hold it (unchanged files are hard links shared by many); the copy in the newest complete
snapshot is the live one. Exit status 1 when no destination holds any copy."""
HEADINGS = ("destination", "copy", "modified", "size")


def parser():
    """`backup_system.py versions list PATH [--destination D] [--json]`."""
    versions = verb_parser("versions", EPILOG)
    versions.add_argument("action", choices=("list",), help="list: every copy of PATH")
    versions.add_argument("path", metavar="PATH", help="a file in a source, or SOURCE/relative/path")
    versions.add_argument("--destination", metavar="D", help="only this destination")
    versions.add_argument("--json", action="store_true", help="print the copies as JSON on stdout")
    versions.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return versions


def main(args):
    from ..config import load_config
    from ..keeping import copies_of, locate
    from ..log import WARNING, Log
    from ..transports import transport_for

    config = load_config(args.config)
    source, relative = locate(config, args.path)
    log, copies, problems = Log(config.log_file, WARNING), [], []
    try:
        for job in jobs_for(config, args.destination, source):
            try:
                copies += copies_of(transport_for(job.destination, log), job, relative)
            except BackupError as error:  # one destination that cannot be read; the others still answer
                problems.append(f"{job.destination.name}: {error}")
    finally:
        log.close()
    if args.json:
        from .backup import print_json

        print_json({"source": source, "path": relative, "problems": problems,
                    "copies": [copy._asdict() for copy in copies]})
    else:
        print_table(source, relative, copies, problems)
    return ExitStatus.OK if copies else ExitStatus.FAILED


def jobs_for(config, destination, source=None):
    """The jobs of every enabled destination (or the one named, enabled or not) for one source or all."""
    from ..plan import build_jobs

    if destination is not None:
        if destination not in config.destinations:
            raise ConfigError(f"--destination {destination}: no such destination; destinations are: "
                              f"{', '.join(config.destinations)}")
        chosen = config.destinations[destination]._replace(enabled=True)
        config = config._replace(destinations={destination: chosen})
    jobs, _ = build_jobs(config)
    return [job for job in jobs if source in (None, job.source.name) and job.destination.direction == "push"]


def print_table(source, relative, copies, problems):
    from ..record import format_bytes, format_table
    from ..times import format_time

    snapshots = any(copy.snapshots for copy in copies)
    rows = [(copy.destination, "live" if copy.kept_at is None else f"kept {format_time(copy.kept_at)}",
             format_time(copy.mtime), format_bytes(copy.size), *([held_in(copy.snapshots)] if snapshots else []))
            for copy in copies]
    print(f"{source}/{relative}:")
    headings = HEADINGS + (("snapshots",) if snapshots else ())
    print("\n".join(format_table(headings, rows)) if rows else "no copy at any destination")
    for problem in problems:
        print(f"cannot read {problem}")


def held_in(names):
    """The snapshots holding a copy, for the table: all of up to three, else the first and last and how many."""
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]} .. {names[-1]} ({len(names)} snapshots)"
