#!/usr/bin/env python3
"""Benchmark a no-change `mode: snapshot` run against rsnapshot's own rsync run on the same tree.

    .venv/bin/python bench/snapshot.py [--files N] [--folders M] [--repeat K]

A tree of N small files in M folders is made once, and each side takes one untimed first snapshot. Then,
alternately, nothing changed:
  ours        `scripts/backup_system.py --config CFG` with a local rsync destination in mode: snapshot: the
              whole command (Python, config, listing the snapshots, rsync --link-dest against the newest,
              the marker, `latest`), each run dated a day later (BACKUP_SYSTEM_NOW) so retention removes none.
  rsnapshot   rsnapshot's command for one backup point into a fresh folder: `rsync -a --delete --numeric-ids
              --relative --delete-excluded --link-dest=<previous> SRC/ <new>/`.
Each timed run is checked untimed: its newest tree holds every file as a hard link. Goal (issue 12): ours at
most 1.0x rsnapshot's rsync.

Everything lives in a temporary folder under /tmp, removed at the end.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time

from timing import BACKUP_SCRIPT, PYTHON, make_tree, print_table, run, seconds, time_alternately

GOAL = 1.0
SMALL_FILE = b"x" * 99 + b"\n"  # ~100 bytes
DAY = 86400
CONFIG_YAML = """\
backups:
  name: bench
  log_file: logs/bench.log
  state_dir: state
  sources:
    data: {{path: {source}}}
  destinations:
    snapshots:
      base_path: {destination}
      create: true
      mode: snapshot
      keep: {{daily: 1000}}
"""


class Ours:
    def __init__(self, work, source):
        self.config = os.path.join(work, "config.yaml")
        self.target = os.path.join(work, "ours", "data")
        with open(self.config, "w") as stream:
            stream.write(CONFIG_YAML.format(source=source, destination=os.path.join(work, "ours")))
        self.day = time.time()

    def once(self):
        self.day += DAY
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.day))
        run([PYTHON, BACKUP_SCRIPT, "--config", self.config, "-q"], env={**os.environ, "BACKUP_SYSTEM_NOW": now})

    def newest(self):
        return os.path.join(self.target, "latest")


class Rsnapshot:
    def __init__(self, work, source):
        self.source, self.root, self.count = source, os.path.join(work, "rsnapshot"), 0
        os.makedirs(self.root)

    def once(self):
        previous = os.path.join(self.root, f"snap{self.count}")
        self.count += 1
        argv = ["rsync", "-a", "--delete", "--numeric-ids", "--relative", "--delete-excluded"]
        if self.count > 1:
            argv.append(f"--link-dest={previous}")
        run([*argv, self.source + "/", os.path.join(self.root, f"snap{self.count}") + "/"])

    def newest(self):
        return os.path.join(self.root, f"snap{self.count}", self.source.lstrip("/"))


def check(newest, files):
    """Every file is in the newest tree, as a hard link to an earlier one."""
    found = [os.path.join(folder, name) for folder, _, names in os.walk(newest) for name in names
             if not folder.endswith(".backup_system")]
    linked = sum(os.stat(path).st_nlink > 1 for path in found)
    if len(found) != files or linked != files:
        raise SystemExit(f"bench: {newest} holds {len(found)} files, {linked} hard links; expected {files}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-snapshot-", dir="/tmp")
    try:
        source = os.path.join(work, "src")
        make_tree(source, arguments.files, arguments.folders, SMALL_FILE)
        sides = {"ours": Ours(work, source), "rsnapshot": Rsnapshot(work, source)}
        for side in sides.values():
            side.once()  # the first snapshot copies everything: untimed

        def timer(side):
            def timed():
                took = seconds(side.once)
                check(side.newest(), arguments.files)
                return took
            return timed

        times = time_alternately({label: timer(side) for label, side in sides.items()}, arguments.repeat,
                                 f"no change over {arguments.files} files:")
        ratio = statistics.median(times["ours"]) / statistics.median(times["rsnapshot"])
        print_table([("ours (snapshot run)", times["ours"], f"{ratio:.2f}x rsnapshot's rsync (goal <= {GOAL}x)"),
                     ("rsnapshot's rsync --link-dest", times["rsnapshot"], "")],
                    f"mode: snapshot, no change, {arguments.files} files in {arguments.folders} folders")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
