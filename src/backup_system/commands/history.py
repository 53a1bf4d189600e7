"""history: the last runs, newest first, one line each with its jobs' verdicts; `history show RUN_ID` one whole."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser


def parser():
    """`backup_system.py history [-n N] [--destination D] [--source S] [--failed] [--json] | show RUN_ID`."""
    history = verb_parser("history")
    history.add_argument("action", nargs="?", choices=("show",), help="show: one run whole, failed files included")
    history.add_argument("run_id", nargs="?", metavar="RUN_ID", help="the run to show (a unique beginning will do)")
    history.add_argument("-n", type=int, default=20, metavar="N", help="how many runs (default 20)")
    history.add_argument("--destination", metavar="D", help="only runs that had a job for this destination")
    history.add_argument("--source", metavar="S", help="only runs that had a job for this source")
    history.add_argument("--failed", action="store_true", help="only runs that failed or were interrupted")
    history.add_argument("--json", action="store_true", help="print the runs as JSON on stdout")
    history.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return history


def main(args):
    """List runs, or show one; exit 1 when the run asked for is not in the history."""
    from .. import history_db as history
    from ..config import load_config
    from ..log import WARNING, Log

    config = load_config(args.config)
    database = history.connect(config, Log(None, WARNING))
    if args.action == "show":
        if not args.run_id:
            raise ConfigError("backup_system.py history show: give the run's id (see: backup_system.py history)")
        found = history.one_run(database, config.name, args.run_id) if database else None
        if not isinstance(found, dict):
            print(f"{'more than one run' if found else 'no run'} in {history.history_path(config)} "
                  f"has an id starting {args.run_id!r}")
            return ExitStatus.FAILED
        runs = [found]
    else:
        runs = history.recent_runs(database, config.name, max(args.n, 1), args.destination, args.source,
                                   args.failed) if database else []
    if database is not None:
        database.close()
    if args.json:
        from .backup import print_json

        print_json(runs[0] if args.action == "show" else runs)
    else:
        print("\n".join(describe_run(run) for run in runs) if args.action != "show" else show(runs[0]))
        if not runs:
            print("no runs recorded yet" + (" that match" if args.destination or args.source or args.failed else ""))
    return ExitStatus.OK


def describe_run(run):
    """One line: when, id, trigger, state, then each job's verdict."""
    from ..times import format_time

    jobs = "; ".join(f"{job['destination']}/{job['source']} {job_verdict(job)}" for job in run["jobs"])
    kind = "dry run " if run["dry_run"] else ""
    return f"{format_time(run['started'])}  {run['run_id']}  {run['trigger']:<10} {kind}{run['state']:<11} {jobs}"


def job_verdict(job):
    if job["status"] == "failed":
        return f"FAILED ({job['error_kind']})"
    if job["status"] == "partial":
        return f"partial: {job['files_failed']} not sent"
    return f"{job['status']}: {job['files_sent']} sent"


def show(run):
    """One run whole: its facts, each job's counts and error, every failed file with its reason."""
    from ..times import format_time

    lines = [f"run {run['run_id']}: {run['state']}" + (" (dry run)" if run["dry_run"] else ""),
             f"  config {run['config_path']} ({run['config_name']}), {run['user']}@{run['host']}, "
             f"started by {run['trigger']}",
             f"  started {format_time(run['started'])}" +
             (f", ended {format_time(run['ended'])}, exit {run['exit_code']}" if run["ended"] else "")]
    if run["pipeline_command"]:
        lines.append(f"  after the pipeline: {run['pipeline_command']} (exit {run['pipeline_exit']})")
    for job in run["jobs"]:
        lines.append(f"  {job['destination']}/{job['source']} -> {job['target']}: {job['status']}, "
                     f"{job['files_sent']} sent, {job['files_unchanged']} unchanged, {job['files_failed']} failed, "
                     f"{job['seconds']:.1f} s")
        if job["error"]:
            lines.append(f"    FAILED ({job['error_kind']}): {job['error']}")
        lines.extend(f"    not sent: {item['path']}: {item['reason']}" for item in job["failures"])
    lines.extend(f"  notice {notice['notifier']}: {'delivered' if notice['delivered'] else 'NOT delivered'}"
                 f"{': ' + notice['detail'] if notice['detail'] else ''}" for notice in run.get("notices", ()))
    return "\n".join(lines)
