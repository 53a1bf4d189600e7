#!/usr/bin/env python3
"""What the run history costs, and how fast `status` answers.

    .venv/bin/python bench/history.py [--runs N] [--files F] [--repeat K]

Scenarios:
  overhead  a no-change backup (F small files, one local rsync destination), through the command
            line, with the history steps and the verdict line as shipped, and with both switched
            off in the same probe; timed alternately. The difference is what history, status
            verdict and summary add (goal: at most 5 ms).
  status    `backup_system.py status` over a history of N runs (default 10,000) with two jobs
            each, and `python -c pass` for reference; timed alternately (goal: under 100 ms).

Everything is built in a temporary folder under /tmp, removed at the end.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

from timing import BACKUP_SCRIPT, PYTHON, ROOT, print_table, run, seconds, time_alternately

sys.path.insert(0, os.path.join(ROOT, "src"))
OVERHEAD_GOAL_MS = 5
STATUS_GOAL_SECONDS = 0.1
CONFIG = """\
backups:
  name: bench
  log_file: logs/backup.log
  state_dir: state
  sources:
    data: {path: src}
    more: {path: src2}
  destinations:
    secured: {base_path: ours, create: true}
"""
# The same command line, in one process, with or without the history steps and the verdict line.
PROBE = """\
import sys
sys.path.insert(0, {src!r})
from backup_system import runner
from backup_system.cli import main
from backup_system.commands import backup
if {off!r}:
    runner.BEFORE_RUN[:] = []
    runner.AFTER_RUN[:] = []
    backup.print_verdict = lambda report: None
sys.exit(main(["--config", {config!r}]))
"""


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark the run history and status")
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the history for status (default 10000)")
    parser.add_argument("--files", type=int, default=2_000, help="files in the no-change tree (default 2000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each command (default 15)")
    return parser.parse_args()


def make_lab(workdir, files):
    for source in ("src", "src2"):
        for index in range(files // 2):
            folder = os.path.join(workdir, source, f"d{index % 20:02d}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"f{index:06d}.csv"), "w") as stream:
                stream.write("1,2\n")
    path = os.path.join(workdir, "config.yaml")
    with open(path, "w") as stream:
        stream.write(CONFIG)
    return path


def fill_history(config_path, runs):
    """`runs` finished runs of two jobs each, as the journal would bring them in, in one transaction."""
    from backup_system import history, history_db
    from backup_system.config import load_config
    from backup_system.record import JobRecord, RunRecord

    config = load_config(config_path)
    database = history_db.connect(config, None) or history_db.open_database(history_db.history_path(config))
    database.execute("BEGIN")
    for index in range(runs):
        started = 1_700_000_000.0 + index * 3600
        jobs = tuple(JobRecord("secured", source, f"ours/{source}", "rsync", False, (), 0, 1000, (), 0, None, None,
                               0.5) for source in ("data", "more"))
        record = RunRecord(f"run-{index:06d}", "backup", False, "schedule", config.path, config.name, started,
                           started + 1, jobs, (), (), False, None)
        history_db.apply_finish(database, {
            "run_id": record.run_id, "config_path": config.path, "config_name": config.name, "host": "bench",
            "user": "bench", "pid": 1, "trigger": "schedule", "action": "backup", "dry_run": False,
            "started": started, "ended": started + 1, "state": "ok", "exit_code": 0, "pipeline_command": None,
            "pipeline_exit": None, "jobs": [history.job_facts(job) for job in jobs]})
    database.execute("COMMIT")
    database.close()


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_history_")
    try:
        config = make_lab(workdir, args.files)
        env = {**os.environ, "XDG_CACHE_HOME": os.path.join(workdir, "cache")}
        run([PYTHON, BACKUP_SCRIPT, "--config", config, "-q"], env=env)  # the first, full backup and a parsed-config copy
        probes = {label: PROBE.format(src=os.path.join(ROOT, "src"), off=off, config=config)
                  for label, off in (("history on", False), ("history off", True))}
        overhead = time_alternately({label: lambda probe=probe: seconds(
            lambda: run([PYTHON, "-c", probe], env=env)) for label, probe in probes.items()}, args.repeat,
            "no-change")
        fill_history(config, args.runs)
        status = time_alternately({
            "status": lambda: seconds(lambda: run([PYTHON, BACKUP_SCRIPT, "status", "--config", config], env=env)),
            "python -c pass": lambda: seconds(lambda: run([PYTHON, "-c", "pass"], env=env)),
        }, args.repeat, "status")
        report(overhead, status, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(overhead, status, args):
    added_ms = (statistics.median(overhead["history on"]) - statistics.median(overhead["history off"])) * 1000
    status_median = statistics.median(status["status"])
    print_table([
        ("no-change, history off", overhead["history off"], ""),
        ("no-change, history on", overhead["history on"],
         f"+{added_ms:.1f} ms (goal <= {OVERHEAD_GOAL_MS} ms: {'met' if added_ms <= OVERHEAD_GOAL_MS else 'NOT met'})"),
        (f"status, {args.runs} runs", status["status"],
         f"goal < {STATUS_GOAL_SECONDS * 1000:.0f} ms: {'met' if status_median < STATUS_GOAL_SECONDS else 'NOT met'}"),
        ("python -c pass (reference)", status["python -c pass"], ""),
    ])


if __name__ == "__main__":
    main()
