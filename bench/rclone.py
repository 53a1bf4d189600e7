#!/usr/bin/env python3
"""Benchmark the rclone transport against bare rclone, through a real `rclone serve s3` on 127.0.0.1.

    .venv/bin/python bench/rclone.py [--files N] [--folders M] [--big-files B] [--big-mb S] [--repeat K]
                                     [--transfers 8,16,32] [--checkers 16,32]

Two trees, side by side in one run (see bench/README.md):
  small   N files of 1-4 KB (random sizes and bytes, seeded) in M folders
  big     B files of S MB

Scenarios, for each tree:
  first push  an empty bucket: `scripts/backup_system.py -q` (shipped transfers/checkers, and each
              --transfers T and --checkers C variant) against bare rclone running the exact argv our
              transport builds (rclone_argv), timed alternately; every run goes to a fresh bucket.
  no change   the bucket is up to date: ours against the same bare argv, and against a plain
              `rclone copy --update` (only --transfers/--checkers) for reference; and the contact
              listing alone (probe_argv: the one request ours makes before each job, so a dead
              server fails in seconds), to show what it costs.

Both also time `run_backup()` called in this warm Python, as a notebook calls it: the same job
without the ~30 ms every command-line run spends starting Python and importing.

Everything (data, server, configs, cache) lives in a temporary folder under /tmp, removed at the end;
the server is stopped at the end whatever happens.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile

from timing import BACKUP_SCRIPT, PYTHON, ROOT, print_table, run, seconds, time_alternately

sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "src"))
from tests.integration.rclone_servers import RcloneServer, write_rclone_conf  # noqa: E402

from backup_system import run_backup  # noqa: E402
from backup_system.config import load_config  # noqa: E402
from backup_system.plan import build_jobs  # noqa: E402
from backup_system.transports import entry  # noqa: E402
from backup_system.transports.rclone.command import probe_argv, rclone_argv, rclone_binary  # noqa: E402

RATIO_GOAL = 1.05
SHIPPED = tuple(spec.default for key in ("transfers", "checkers") for spec in entry("rclone").fields if spec.name == key)
REMOTE = "bench"
MANIFEST_FOLDER = ".backup_system"

CONFIG_YAML = """\
backups:
  name: bench-{name}
  log_file: logs/{name}.log
  state_dir: state
  sources:
    {tree}: {{path: {source}}}
  destinations:
    cloud:
      remote: {remote}
      folder: {bucket}
      rclone_config: {rclone_config}
{extra}"""


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark the rclone transport against bare rclone")
    parser.add_argument("--files", type=int, default=10_000, help="small files of 1-4 KB (default 10000)")
    parser.add_argument("--folders", type=int, default=500, help="folders they are spread over (default 500)")
    parser.add_argument("--big-files", type=int, default=50, help="big files (default 50)")
    parser.add_argument("--big-mb", type=int, default=2, help="size of each big file in MB (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each command (default 3)")
    parser.add_argument("--nochange-repeat", type=int, default=7, help="timed no-change runs (default 7)")
    parser.add_argument("--transfers", default="4,16,32", help="other `transfers` values to time a first push with")
    parser.add_argument("--checkers", default="16,32", help="other `checkers` values to time a first push with")
    args = parser.parse_args()
    args.transfers = [int(value) for value in args.transfers.split(",") if value.strip()]
    args.checkers = [int(value) for value in args.checkers.split(",") if value.strip()]
    return args


# --- data, configs and commands -------------------------------------------------------------------

def make_small_tree(root, files, folders):
    """{relative path: size} of `files` files of 1-4 KB spread over `folders` folders."""
    generator = random.Random(20261124)
    sizes = {}
    for index in range(files):
        path = f"d{index % folders:04d}/f{index:06d}.csv"
        sizes[path] = generator.randint(1024, 4096)
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(root, path), "wb") as stream:
            stream.write(generator.randbytes(sizes[path]))
    return sizes


def make_big_tree(root, files, megabytes):
    os.makedirs(root)
    sizes = {}
    for index in range(files):
        path = f"big{index:03d}.bin"
        sizes[path] = megabytes << 20
        with open(os.path.join(root, path), "wb") as stream:
            stream.write(os.urandom(sizes[path]))
    return sizes


class Bench:
    """The server, the trees and a fresh bucket name whenever one is asked for."""

    def __init__(self, workdir, server):
        self.workdir = workdir
        self.server = server
        self.rclone_config = write_rclone_conf(os.path.join(workdir, "rclone.conf"), {REMOTE: server.section()})
        self.env = dict(os.environ)
        self.buckets = 0

    def fresh_bucket(self, label):
        """A new bucket name, on a freshly restarted server: a server that has cached the listings of many
        earlier buckets (removed on disk since) slows down, which would favour whichever command ran first."""
        self.server.stop()
        self.server.start()
        self.buckets += 1
        return f"{label}-{self.buckets:04d}"

    def config(self, tree, bucket, transfers=None, checkers=None):
        """A config whose destination `cloud` sends `tree` to REMOTE:bucket/tree; returns its path."""
        extra = "".join(f"      {key}: {value}\n" for key, value in (("transfers", transfers), ("checkers", checkers))
                        if value is not None)
        name = f"{tree}-{bucket}"
        text = CONFIG_YAML.format(name=name, tree=tree, source=os.path.join(self.workdir, tree), remote=REMOTE,
                                  bucket=bucket, rclone_config=self.rclone_config, extra=extra)
        path = os.path.join(self.workdir, f"{name}.yaml")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return path

    def ours(self, config):
        return {"argv": [PYTHON, BACKUP_SCRIPT, "--config", config, "-q"], "env": self.env}

    @staticmethod
    def in_notebook(config):
        """The same backup through the library, in this warm interpreter."""
        def backup():
            report = run_backup(config)
            if not report.ok:
                raise SystemExit(f"bench: run_backup({config}) failed:\n{report.summary()}")
        return backup

    def bare(self, config, bucket, tree):
        """The exact command our transport runs for this config, aimed at another bucket."""
        job = build_jobs(load_config(config))[0][0]
        argv = rclone_argv(job, f"{REMOTE}:{bucket}/{tree}", binary=rclone_binary(job.destination.options),
                           report=os.path.join(self.workdir, "bare-report.txt"))
        return {"argv": argv, "env": dict(os.environ)}

    def contact(self, config, bucket, tree):
        """The listing our transport runs before each job (see transport.contact), aimed at another bucket."""
        job = build_jobs(load_config(config))[0][0]
        return {"argv": probe_argv(job.destination, f"{REMOTE}:{bucket}/{tree}", rclone_binary(job.destination.options)),
                "env": dict(os.environ)}

    def plain(self, binary, tree, bucket, transfers, checkers):
        """rclone copy --update with nothing of ours: the floor."""
        argv = [binary, "--config", self.rclone_config, "copy", os.path.join(self.workdir, tree),
                f"{REMOTE}:{bucket}/{tree}/", "--update", "--transfers", str(transfers), "--checkers", str(checkers),
                "-q"]
        return {"argv": argv, "env": dict(os.environ)}

    def check_arrived(self, bucket, tree, sizes):
        """Fail unless the served bucket holds exactly the tree's files at their sizes; then drop it."""
        top = os.path.join(self.server.folder, bucket, tree)
        found = {}
        for folder, folders, names in os.walk(top):
            if folder == top and MANIFEST_FOLDER in folders:
                folders.remove(MANIFEST_FOLDER)  # what a run keeps beside the files it sent, not a file of the tree
            for name in names:
                full = os.path.join(folder, name)
                found[os.path.relpath(full, top)] = os.path.getsize(full)
        if found != sizes:
            wrong = [path for path in sizes if found.get(path) != sizes[path]]
            raise SystemExit(f"bench: {bucket}/{tree}: {len(wrong)} of {len(sizes)} files missing or of the wrong "
                             f"size (e.g. {wrong[:3]}), {len(set(found) - set(sizes))} unexpected")


# --- running and timing ---------------------------------------------------------------------------

def run_command(command):
    """A command line ({"argv", "env"}), or a function called in this process."""
    if callable(command):
        return command()
    return run(command["argv"], env=command.get("env"))


def timers(makers):
    """label -> maker() giving (command, after) as timers: after() runs untimed after each run."""
    def timer(make):
        command, after = make()
        took = seconds(lambda: run_command(command))
        if after:
            after()
        return took

    return {label: (lambda make=make: timer(make)) for label, make in makers.items()}


def first_push_makers(bench, tree, sizes, transfers_list, checkers_list):
    """label -> maker of one first push into a fresh bucket (checked, then removed from disk)."""
    def ours(transfers=None, checkers=None):
        def make():
            bucket = bench.fresh_bucket("ours")
            return bench.ours(bench.config(tree, bucket, transfers, checkers)), finish(bucket)
        return make

    def bare():
        bucket = bench.fresh_bucket("bare")
        return bench.bare(bench.config(tree, "unused"), bucket, tree), finish(bucket)

    def in_notebook():
        bucket = bench.fresh_bucket("notebook")
        return bench.in_notebook(bench.config(tree, bucket)), finish(bucket)

    def finish(bucket):
        def after():
            bench.check_arrived(bucket, tree, sizes)
            shutil.rmtree(os.path.join(bench.server.folder, bucket))  # never listed again: fresh names
            os.sync()  # this run's files reach the disk now, not in the middle of the next timed run
        return after

    makers = {"bare (our argv)": bare, f"ours {SHIPPED[0]}/{SHIPPED[1]}": ours(), "ours, from a notebook": in_notebook}
    makers.update({f"ours transfers {value}": ours(transfers=value) for value in transfers_list})
    makers.update({f"ours checkers {value}": ours(checkers=value) for value in checkers_list})
    return makers


def no_change_times(bench, tree, sizes, repeat):
    """Bring two buckets up to date, check a no-change run of ours sends nothing, then time."""
    config = bench.config(tree, "nochange-ours")
    bare = bench.bare(config, "nochange-bare", tree)
    run_command(bench.ours(config))
    run_command(bare)
    report = json.loads(run_command({**bench.ours(config),
                                     "argv": [*bench.ours(config)["argv"][:-1], "--json"]}).stdout)
    job = report["jobs"][0]
    if not report["ok"] or job["files_sent"] or job["files_unchanged"] != len(sizes):
        raise SystemExit(f"bench: the no-change run was not clean: {job}")
    print(f"  check: a no-change run of ours sent 0 files, {job['files_unchanged']} unchanged", flush=True)
    plain = bench.plain(bare["argv"][0], tree, "nochange-bare", *SHIPPED)
    contact = bench.contact(config, "nochange-bare", tree)
    makers = {"bare (our argv)": lambda: (bare, None), "ours": lambda: (bench.ours(config), None),
              "ours, from a notebook": lambda: (bench.in_notebook(config), None),
              "bare, plain flags": lambda: (plain, None), "contact listing alone": lambda: (contact, None)}
    return time_alternately(timers(makers), repeat, f"{tree} no-change")


# --- the table ------------------------------------------------------------------------------------

def verdict(ratio):
    return "goal met" if ratio <= RATIO_GOAL else f"goal <= {RATIO_GOAL:.2f}x NOT met"


def rows_for(tree, first, nochange):
    judged = (f"ours {SHIPPED[0]}/{SHIPPED[1]}", "ours", "ours, from a notebook")
    return ratio_rows(f"{tree} first push", first, judged) + ratio_rows(f"{tree} no-change", nochange, judged)


def ratio_rows(scenario, times_by_label, judged):
    """One row per label, each against the bare run with our argv; `judged` rows say whether the goal is met."""
    bare = statistics.median(times_by_label["bare (our argv)"])
    rows = []
    for label, times in times_by_label.items():
        ratio = statistics.median(times) / bare
        note = "" if label == "bare (our argv)" else f"{ratio:.3f}x bare"
        if label in judged:
            note += f" ({verdict(ratio)})"
        rows.append((f"{scenario}: {label}", times, note))
    return rows


def main():
    args = parse_args()
    # as `make bench` does: with PYTHONDONTWRITEBYTECODE set, each run would compile the package again
    run([PYTHON, "-m", "compileall", "-q", os.path.join(ROOT, "src")])
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_rclone_", dir="/tmp")
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")  # the parsed-config cache stays in here too
    rows = []
    try:
        print(f"building {args.files} files of 1-4 KB in {args.folders} folders and {args.big_files} files of "
              f"{args.big_mb} MB under {workdir} ...", flush=True)
        trees = {"small": make_small_tree(os.path.join(workdir, "small"), args.files, args.folders),
                 "big": make_big_tree(os.path.join(workdir, "big"), args.big_files, args.big_mb)}
        with RcloneServer("s3", os.path.join(workdir, "s3")) as server:
            print(f"rclone serve s3 on 127.0.0.1:{server.port}, serving {server.folder}", flush=True)
            bench = Bench(workdir, server)
            for tree, sizes in trees.items():
                makers = first_push_makers(bench, tree, sizes, args.transfers, args.checkers)
                first = time_alternately(timers(makers), args.repeat, f"{tree} first push")
                nochange = no_change_times(bench, tree, sizes, args.nochange_repeat)
                rows += rows_for(tree, first, nochange)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, f"rclone serve s3 on 127.0.0.1: {args.files} files of 1-4 KB in {args.folders} folders (small), "
                      f"{args.big_files} x {args.big_mb} MB (big); {args.repeat} rounds first push, "
                      f"{args.nochange_repeat} no-change; {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
