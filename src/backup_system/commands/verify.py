"""verify: compare each destination with the manifest its backups wrote there; exit 1 when anything differs."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Plain verify reads listings only: each file of the manifest must be there with its size and time,
and nothing else. --full reads every file back and compares SHA-256 (catches a same-size change);
--sample N reads N random files plus the newest of each job. Reading back never touches cold storage
(Deep Archive, Glacier) unless --allow-cold. The result of the last --sample shows in `status`.
A destination in mode: snapshot is verified one snapshot at a time, each against its own manifest:
the newest complete one (what `latest` points at) unless --snapshot names another (its folder name,
e.g. 2026-12-01T101500) or says all."""


def parser():
    """`backup_system.py verify [--destination D] [--source S] [--full | --sample N] [--snapshot NAME|all]
    [--allow-cold] [--json]`."""
    verify = verb_parser("verify", EPILOG)
    verify.add_argument("--destination", metavar="D", help="only this destination")
    verify.add_argument("--source", metavar="S", help="only this source")
    depth = verify.add_mutually_exclusive_group()
    depth.add_argument("--full", action="store_true", help="read every file back and compare its SHA-256")
    depth.add_argument("--sample", type=int, default=0, metavar="N",
                       help="read back N random files plus the newest of each job")
    verify.add_argument("--snapshot", metavar="NAME", default="latest",
                        help="on a snapshot destination: the snapshot to verify (its folder name), 'all' for each in "
                             "turn, or 'latest' (the default)")
    verify.add_argument("--allow-cold", action="store_true", help="read back from cold storage too")
    verify.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    verify.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return verify


def main(args):
    from ..config import load_config
    from ..log import WARNING, Log
    from ..transports import transport_for
    from ..verify import takes_snapshots, verify
    from .versions import jobs_for

    if args.sample < 0:
        raise ConfigError("verify --sample N: N is a number of files, 0 or more")
    check_snapshot_name(args.snapshot)
    config = load_config(args.config)
    jobs = [job for job in jobs_for(config, args.destination)
            if args.source in (None, job.source.name, job.source.name.split("/")[0])]
    if args.source and not jobs:
        raise ConfigError(f"verify --source {args.source}: no destination receives a source of that name")
    if args.snapshot != "latest" and not any(takes_snapshots(job.destination) for job in jobs):
        raise ConfigError(f"verify --snapshot {args.snapshot}: no destination verified here takes snapshots "
                          f"(mode: snapshot)")
    log = Log(config.log_file, WARNING)
    try:
        checked = [item for job in jobs for item in verify(transport_for(job.destination, log), job, args.full,
                                                           args.sample, args.allow_cold, args.snapshot)]
    finally:
        log.close()
    ok = all(item.error is None and not (item.missing or item.changed or item.unexpected) for item in checked)
    if args.sample:
        from ..status import remember_verification

        remember_verification(config, ok, checked)
    if args.json:
        from .backup import print_json

        print_json({"ok": ok, "jobs": [item._asdict() for item in checked]})
    else:
        print("\n".join(line for item in checked for line in describe(item)))
        print(f"verify{' --full' if args.full else f' --sample {args.sample}' if args.sample else ''}: "
              f"{verdict(checked)}")
    return ExitStatus.OK if ok else ExitStatus.FAILED


def check_snapshot_name(name):
    """--snapshot takes latest, all or a snapshot's folder name (YYYY-mm-ddTHHMMSS); anything else is one line."""
    from ..versions import snapshot_time

    if name not in ("latest", "all") and snapshot_time(name) is None:
        raise ConfigError(f"verify --snapshot {name}: give a snapshot's folder name (like 2026-12-01T101500), "
                          f"'all' or 'latest'")


def verdict(checked):
    failed = sum(item.error is not None for item in checked)
    differ = sum(bool(item.missing or item.changed or item.unexpected) for item in checked)
    if not checked:
        return "no jobs to verify"
    if not failed and not differ:
        return "ok"
    parts = [f"{failed} of {len(checked)} could not be verified"] if failed else []
    return "; ".join(parts + ([f"DIFFERENCES FOUND at {differ} of {len(checked)}"] if differ else []))


def describe(item):
    from ..record import plural

    where = f"{item.destination}/{item.source}" + (f"@{item.snapshot}" if item.snapshot else "")
    if item.error:
        return [f"{where}: FAILED: {item.error}"]
    lines = [f"{where}: missing there: {path}" for path in item.missing]
    lines += [f"{where}: changed there: {path}: {how}" for path, how in item.changed]
    lines += [f"{where}: not in the manifest: {path}" for path in item.unexpected]
    return lines or [f"{where}: ok, {plural(item.files, 'file')} as the manifest says"]
