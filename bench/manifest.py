#!/usr/bin/env python3
"""What the manifest (issue 12) costs a backup run, over 100,000 files to a local rsync destination.

    .venv/bin/python bench/manifest.py [--files N] [--folders M] [--changed C] [--repeat K]

A tree of N small files in M folders is backed up once (untimed; the manifest is made). Then, alternately:
  no change   `scripts/backup_system.py --config CFG -q` with the manifest, and the same command with
              BACKUP_SYSTEM_NO_MANIFEST=1 (read only by manifest.after_job: a benchmark aid, not a user
              setting), nothing changed in the tree.
  C changed   the same two, each after the same C files were rewritten (new bytes, a newer time; untimed):
              rsync sends C files either way; with the manifest they are hashed, the manifest here is
              rewritten and put beside the data.
Whole runs are noisy (one run is over a second of rsync), so the manifest's own cost is also timed in this
process: manifest.after_job on the no-change path and after sending C files, K times each, against the
median whole run. Goal (issue 12): the manifest on a no-change run at most 5 % over the run without it.

Everything lives in a temporary folder under /tmp, removed at the end.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from timing import BACKUP_SCRIPT, PYTHON, ROOT, make_tree, print_table, run, seconds, time_alternately

sys.path.insert(0, os.path.join(ROOT, "src"))
GOAL = 1.05
SMALL_FILE = b"x" * 99 + b"\n"  # ~100 bytes
CONFIG_YAML = """\
backups:
  name: bench
  log_file: logs/bench.log
  state_dir: state
  sources:
    data: {{path: {source}}}
  destinations:
    disk: {{base_path: {destination}, create: true}}
"""


def parse_args():
    parser = argparse.ArgumentParser(description="the manifest's cost on a backup run")
    parser.add_argument("--files", type=int, default=100_000, help="files in the source tree (default 100000)")
    parser.add_argument("--folders", type=int, default=2_000, help="folders they are spread over (default 2000)")
    parser.add_argument("--changed", type=int, default=100, help="files changed before each run of the second "
                                                                  "scenario (default 100)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (default 7)")
    return parser.parse_args()


class Lab:
    """The config, the tree and the commands of one benchmark."""

    def __init__(self, work, files, folders):
        self.source = os.path.join(work, "src")
        self.config = os.path.join(work, "config.yaml")
        with open(self.config, "w") as stream:
            stream.write(CONFIG_YAML.format(source=self.source, destination=os.path.join(work, "dest")))
        print(f"building {files} files in {folders} folders ...", flush=True)
        started = time.perf_counter()
        self.paths = make_tree(self.source, files, folders, SMALL_FILE)
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        self.edits = 0

    def backup(self, manifest=True):
        env = {**os.environ, **({} if manifest else {"BACKUP_SYSTEM_NO_MANIFEST": "1"})}
        run([PYTHON, BACKUP_SCRIPT, "--config", self.config, "-q"], env=env)

    def change(self, count):
        """Rewrite the first `count` files: new bytes, a time a second later each round."""
        self.edits += 1
        moment = time.time() + self.edits
        for relative in self.paths[:count]:
            path = os.path.join(self.source, relative)
            with open(path, "wb") as stream:
                stream.write(f"edit {self.edits}".encode().ljust(99, b"y") + b"\n")
            os.utime(path, (moment, moment))

    def timers(self, changed):
        """label -> timer for time_alternately; the edits before a run are not timed."""
        def timer(manifest):
            def once():
                if changed:
                    self.change(changed)
                return seconds(lambda: self.backup(manifest))
            return once
        return {"with manifest": timer(True), "without manifest": timer(False)}


def in_process(lab, changed, repeat):
    """Seconds of manifest.after_job (median of `repeat`): on the no-change path, and after C files were sent."""
    from backup_system import manifest
    from backup_system.config import load_config
    from backup_system.log import WARNING, Log
    from backup_system.plan import build_jobs
    from backup_system.transports import Outcome, transport_for

    config = load_config(lab.config)
    jobs, _ = build_jobs(config)
    job, log = jobs[0], Log(config.log_file, WARNING)
    transport = transport_for(job.destination, log)
    still = Outcome(unchanged=len(lab.paths))
    sent = Outcome(sent=tuple(lab.paths[:changed]), unchanged=len(lab.paths) - changed)
    try:
        nothing = [seconds(lambda: manifest.after_job(job, still, transport, log)) for _ in range(max(repeat, 100))]
        some = []
        for _ in range(repeat):
            # as after a real run's changes: rsync must put the whole manifest (one rewritten within the same
            # second, of the same size, would pass rsync's quick check and not be sent)
            os.remove(manifest.location(job.target))
            some.append(seconds(lambda: manifest.after_job(job, sent, transport, log)))
    finally:
        log.close()
    return statistics.median(nothing), statistics.median(some), os.path.getsize(manifest.state_path(job))


def main():
    args = parse_args()
    work = tempfile.mkdtemp(prefix="backup_system_bench_manifest_", dir="/tmp")
    os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")  # the parsed-config cache stays in here too
    print(f"load average before: {' '.join(f'{load:.2f}' for load in os.getloadavg())}", flush=True)
    try:
        lab = Lab(work, args.files, args.folders)
        print("first (full) run, with the manifest ...", flush=True)
        lab.backup()
        print(f"timing no-change runs, {args.repeat} rounds, alternating ...", flush=True)
        still = time_alternately(lab.timers(0), args.repeat, "no change")
        print(f"timing runs after {args.changed} files changed, {args.repeat} rounds, alternating ...", flush=True)
        changed = time_alternately(lab.timers(args.changed), args.repeat, f"{args.changed} changed")
        nothing, some, size = in_process(lab, args.changed, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows(still, changed, nothing, some, args.changed))
    print(f"\nthe manifest of {args.files} files: {size / 1e6:.1f} MB; load average after: "
          f"{' '.join(f'{load:.2f}' for load in os.getloadavg())}")


def rows(still, changed, nothing, some, count):
    with_still, without_still = (statistics.median(still[label]) for label in ("with manifest", "without manifest"))
    with_changed, without_changed = (statistics.median(changed[label])
                                     for label in ("with manifest", "without manifest"))
    ratio = with_still / without_still
    verdict = "goal met" if ratio <= GOAL else f"goal <= {GOAL:.2f}x NOT met"
    return [
        ("no change, without manifest", still["without manifest"], ""),
        ("no change, with manifest", still["with manifest"], f"{ratio:.3f}x without ({verdict})"),
        (f"{count} changed, without manifest", changed["without manifest"], ""),
        (f"{count} changed, with manifest", changed["with manifest"], f"{with_changed / without_changed:.3f}x without"),
        ("after_job alone, no change", [nothing],
         f"{nothing * 1e6:.0f} us = {100 * nothing / without_still:.4f} % of a no-change run"),
        (f"after_job alone, {count} changed", [some],
         f"{some * 1e3:.0f} ms = {100 * some / without_changed:.1f} % of a run with {count} changed"),
    ]


if __name__ == "__main__":
    main()
