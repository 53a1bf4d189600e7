"""verify: compare each destination with the manifest its backups wrote there; exit 1 when anything differs."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Plain verify reads listings only: each file of the manifest must be there with its size and time,
and nothing else. --full reads every file back and compares SHA-256 (catches a same-size change);
--sample N reads N random files plus the newest of each job. Reading back never touches cold storage
(Deep Archive, Glacier) unless --allow-cold. The result of the last --sample shows in `status`."""


def parser():
    """`backup_system.py verify [--destination D] [--source S] [--full | --sample N] [--allow-cold] [--json]`."""
    verify = verb_parser("verify", EPILOG)
    verify.add_argument("--destination", metavar="D", help="only this destination")
    verify.add_argument("--source", metavar="S", help="only this source")
    depth = verify.add_mutually_exclusive_group()
    depth.add_argument("--full", action="store_true", help="read every file back and compare its SHA-256")
    depth.add_argument("--sample", type=int, default=0, metavar="N",
                       help="read back N random files plus the newest of each job")
    verify.add_argument("--allow-cold", action="store_true", help="read back from cold storage too")
    verify.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    verify.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return verify


def main(args):
    from ..config import load_config
    from ..log import WARNING, Log
    from ..transports import transport_for
    from ..verify import verify_job
    from .versions import jobs_for

    if args.sample < 0:
        raise ConfigError("verify --sample N: N is a number of files, 0 or more")
    config = load_config(args.config)
    jobs = [job for job in jobs_for(config, args.destination)
            if args.source in (None, job.source.name, job.source.name.split("/")[0])]
    if args.source and not jobs:
        raise ConfigError(f"verify --source {args.source}: no destination receives a source of that name")
    log = Log(config.log_file, WARNING)
    try:
        checked = [verify_job(transport_for(job.destination, log), job, args.full, args.sample, args.allow_cold)
                   for job in jobs]
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

    where = f"{item.destination}/{item.source}"
    if item.error:
        return [f"{where}: FAILED: {item.error}"]
    lines = [f"{where}: missing there: {path}" for path in item.missing]
    lines += [f"{where}: changed there: {path}: {how}" for path, how in item.changed]
    lines += [f"{where}: not in the manifest: {path}" for path in item.unexpected]
    return lines or [f"{where}: ok, {plural(item.files, 'file')} as the manifest says"]
