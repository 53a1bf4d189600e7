#!/usr/bin/env python3
"""Benchmark backup_system against the bare tool it drives.

    .venv/bin/python bench/run.py [--scenario nochange|startup|all] [--files N] [--folders M] [--repeat K]

Scenarios (see bench/README.md):
  nochange  a backup run when nothing has changed, to a local rsync destination:
            bare `rsync -a --update`, bare rsync with the exact flags our transport
            passes, and `scripts/backup_system.py -q`, timed alternately.
  startup   `scripts/backup_system.py --help`, and `python -c pass` for reference.

Everything is built in a temporary folder under /tmp, removed at the end.
Standard library only, plus the project's own package (imported from src/).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

from timing import BACKUP_SCRIPT, PYTHON, ROOT, make_tree, print_table, run, seconds, time_alternately

sys.path.insert(0, os.path.join(ROOT, "src"))
RATIO_GOAL = 1.10
STARTUP_GOAL_SECONDS = 0.3
FILE_BODY = b"x" * 99 + b"\n"  # ~100 bytes

CONFIG_YAML = """\
backups:
  name: bench
  log_file: logs/backup.log
  state_dir: state
  sources:
    data: {path: src}
  destinations:
    secured: {base_path: ours, create: true}
"""
# The same with keep_partial: false (no temp dir, no second pass for big files).
CONFIG_NO_PARTIAL_YAML = CONFIG_YAML.replace("{base_path: ours, create: true}", "{base_path: ours_no_partial, create: true, keep_partial: false}")


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark backup_system against bare rsync")
    parser.add_argument("--scenario", choices=("nochange", "startup", "all"), default="all")
    parser.add_argument("--files", type=int, default=100_000, help="files in the source tree (default 100000)")
    parser.add_argument("--folders", type=int, default=2_000, help="folders they are spread over (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (default 7)")
    return parser.parse_args()


# --- building the data ---------------------------------------------------------------------------

def write_config(workdir, name="config.yaml", text=CONFIG_YAML):
    path = os.path.join(workdir, name)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


def our_rsync_argv(config_path, target):
    """The argv our rsync transport runs for the config's one job on a no-change run (locally, with
    keep_partial: the first pass, see transports/rsync/partial.py), pointed at `target` instead."""
    from backup_system.config import load_config
    from backup_system.plan import build_jobs
    from backup_system.transports.rsync import partial
    from backup_system.transports.rsync.transport import rsync_argv

    jobs, _ = build_jobs(load_config(config_path))
    if len(jobs) != 1:
        raise SystemExit(f"bench: expected one job from {config_path}, got {len(jobs)}")
    job = jobs[0]._replace(target=target)
    if not job.destination.options.keep_partial:
        return rsync_argv(job)
    os.makedirs(partial.our_folder(job), exist_ok=True)  # rsync wants its temp dir; our transport makes it too
    return rsync_argv(job, temp_dir=partial.our_folder(job), max_size=partial.BIG)


# --- timing ------------------------------------------------------------------------------------

def timed(commands):
    """label -> (argv, env) as timers for timing.time_alternately."""
    return {label: (lambda argv=argv, env=env: seconds(lambda: run(argv, env=env)))
            for label, (argv, env) in commands.items()}


# --- scenarios -----------------------------------------------------------------------------------

def no_change_scenario(workdir, files, folders, repeat):
    """Bring both destinations up to date, then time no-change runs of bare rsync and of ours."""
    source, bare = os.path.join(workdir, "src"), os.path.join(workdir, "bare")
    print(f"building {files} files in {folders} folders under {source} ...", flush=True)
    print(f"  built in {seconds(lambda: make_tree(source, files, folders, FILE_BODY)):.1f} s", flush=True)
    config = write_config(workdir)
    ours = [PYTHON, BACKUP_SCRIPT, "--config", config, "-q"]
    ours_no_partial = [PYTHON, BACKUP_SCRIPT, "--config",
                       write_config(workdir, "no_partial.yaml", CONFIG_NO_PARTIAL_YAML), "-q"]
    bare_plain = ["rsync", "-a", "--update", source + "/", bare + "/"]
    bare_our_flags = our_rsync_argv(config, bare)
    print("first (full) runs: ours and bare rsync ...", flush=True)
    run(ours)  # exits the benchmark unless it returns 0
    run(ours_no_partial)
    run(bare_plain)
    check_nothing_sent(ours)
    check_nothing_sent(ours_no_partial)
    print(f"our rsync flags: {' '.join(bare_our_flags)}")
    commands = {
        "bare": (bare_plain, None),
        "bare, our flags": (bare_our_flags, {**os.environ, "LC_ALL": "C"}),  # our transport sets LC_ALL=C too
        "ours": (ours, None),
        "ours, keep_partial: false": (ours_no_partial, None),
    }
    print(f"timing {repeat} rounds, alternating ...", flush=True)
    return time_alternately(timed(commands), repeat)


def check_nothing_sent(ours):
    """One extra, untimed run with --json: it must succeed and send nothing."""
    report = json.loads(run([*ours, "--json"]).stdout)
    sent = sum(job["files_sent"] for job in report["jobs"])
    if not report["ok"] or sent:
        raise SystemExit(f"bench: a no-change run was not clean: ok={report['ok']}, files sent={sent}")
    unchanged = sum(job["files_unchanged"] for job in report["jobs"])
    print(f"  check: a no-change run of ours sent 0 files, {unchanged} unchanged", flush=True)


def startup_scenario(repeat):
    commands = {
        "--help": ([PYTHON, BACKUP_SCRIPT, "--help"], None),
        "python -c pass": ([PYTHON, "-c", "pass"], None),
    }
    print(f"timing start-up, {repeat} rounds, alternating ...", flush=True)
    return time_alternately(timed(commands), repeat)


# --- the table -----------------------------------------------------------------------------------

def table_rows(no_change, startup):
    rows = []
    if no_change:
        bare, same_flags, ours = (statistics.median(no_change[label]) for label in ("bare", "bare, our flags", "ours"))
        verdict = "goal met" if ours / bare <= RATIO_GOAL else f"goal <= {RATIO_GOAL:.2f}x NOT met"
        rows += [
            ("no-change bare rsync", no_change["bare"], ""),
            ("no-change bare rsync, our flags", no_change["bare, our flags"], f"{same_flags / bare:.2f}x bare"),
            ("no-change backup_system", no_change["ours"],
             f"{ours / bare:.2f}x bare, {ours / same_flags:.2f}x same flags ({verdict})"),
        ]
        no_partial = statistics.median(no_change["ours, keep_partial: false"])
        verdict = "goal met" if no_partial / bare <= RATIO_GOAL else f"goal <= {RATIO_GOAL:.2f}x NOT met"
        rows.append(("no-change, keep_partial: false", no_change["ours, keep_partial: false"],
                     f"{no_partial / bare:.2f}x bare ({verdict})"))
    if startup:
        help_median = statistics.median(startup["--help"])
        verdict = "met" if help_median < STARTUP_GOAL_SECONDS else "NOT met"
        rows += [
            ("--help start-up", startup["--help"], f"goal < {STARTUP_GOAL_SECONDS} s: {verdict}"),
            ("python -c pass (reference)", startup["python -c pass"], ""),
        ]
    return rows


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_", dir="/tmp")
    # backup_system keeps a parsed copy of each config under $XDG_CACHE_HOME: keep ours in the
    # temp folder too (the first run fills it, as on an everyday machine), so nothing is left behind.
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")
    try:
        no_change = startup = None
        if args.scenario in ("nochange", "all"):
            no_change = no_change_scenario(workdir, args.files, args.folders, args.repeat)
        if args.scenario in ("startup", "all"):
            startup = startup_scenario(args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(table_rows(no_change, startup))


if __name__ == "__main__":
    main()
