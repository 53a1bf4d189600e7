#!/usr/bin/env python3
"""Benchmark the compression stage against the bare archivers.

    .venv/bin/python bench/compress.py [--csv-mb 200] [--bin-mb 100] [--7z-mb 60] [--level 6] [--repeat 3]
                                       [--nochange-repeat 21]

Scenarios (see bench/README.md):
  zip       our build_archive (zip) vs `zip -LEVEL -r -q`, on the CSV set and on the binary set:
            time, throughput and archive size, timed alternately.
  7z        our build_archive (7z, through py7zr) vs `7zz a -mx=LEVEL` (all cores, and -mmt=1),
            on a slice of both sets (7z is slow: --7z-mb, 0 for everything).
  nochange  a no-change run through the CLI with compression off and on. Until the runner
            builds archives, the "on" side is the CLI run plus build_archive's reuse check,
            timed on its own.

Everything is built in a temporary folder under /tmp, removed at the end.
Standard library only, plus the project's own package (imported from src/).
"""

import argparse
import glob
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

from timing import BACKUP_SCRIPT, PYTHON, ROOT, print_table, run, seconds
from timing import time_alternately as alternately

SRC = os.path.join(ROOT, "src")
sys.path.insert(0, SRC)
MB = 1_000_000
THROUGHPUT_GOAL = 0.8  # ours / zip
SIZE_GOAL = 0.02  # ours within 2% of zip's archive
SEVEN_ZIP_LIMIT = 3.0  # slower than this vs the 7z binary: offer the binary path
NO_CHANGE_GOAL = 1.2  # compression on / off

# Ours, in a fresh interpreter like a real run: build one archive of argv[2] into argv[3].
OUR_BUILD = """\
import sys
sys.path.insert(0, sys.argv[1])
from backup_system.compression import build_archive
from backup_system.log import Log
from backup_system.plan import Source
build_archive(Source("data", sys.argv[2], ()), sys.argv[3], sys.argv[4], int(sys.argv[5]), 1, Log(None, 100))
"""

CONFIG_YAML = """\
backups:
  name: {name}
  log_file: logs/{name}.log
  state_dir: state
  sources:
    data: {{path: data}}
  compression: {{enabled: {enabled}, format: zip, output_dir: archives}}
  destinations:
    secured: {{base_path: {destination}, create: true}}
"""


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark the compression stage against zip and 7zz")
    parser.add_argument("--csv-mb", type=int, default=200, help="numeric CSV text, MB (default 200)")
    parser.add_argument("--bin-mb", type=int, default=100, help="incompressible binaries, MB (default 100)")
    parser.add_argument("--7z-mb", dest="sevenz_mb", type=int, default=60,
                        help="MB of both sets the 7z comparison uses (default 60; 0: all)")
    parser.add_argument("--level", type=int, default=6, help="compression level for both sides (default 6)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each archiver (default 3)")
    parser.add_argument("--nochange-repeat", type=int, default=21,
                        help="timed no-change runs of each config: short, so many (default 21)")
    return parser.parse_args()


# --- building the data ---------------------------------------------------------------------------

def csv_text(generator, rows, start):
    """Rows of a tracking CSV: time, a drifting position, a noisy temperature, a signal, a count, a flag."""
    gauss, randint = generator.gauss, generator.randint
    position, lines = generator.uniform(-5, 5), []
    for index in range(rows):
        position += gauss(0, 0.05)
        lines.append(f"{(start + index) * 0.004:.3f},{position:.5f},{gauss(20, 0.8):.3f},{gauss(0, 1):.6f},"
                     f"{randint(0, 4095)},{'ok' if randint(0, 50) else 'flag'}\n")
    return "t,x,temperature,signal,count,flag\n" + "".join(lines)


def make_csv_set(root, megabytes):
    """Run folders of three CSVs each (~30 KB, ~150 KB, ~10 KB), every row different."""
    generator, written, run = random.Random(2026), 0, 0
    while written < megabytes * MB:
        folder = os.path.join(root, f"run_{run:04d}")
        os.makedirs(folder)
        for name, rows in (("events.csv", 600), ("tracks.csv", 3000), ("summary.csv", 200)):
            text = csv_text(generator, rows, run * 10_000).encode()
            with open(os.path.join(folder, name), "wb") as stream:
                stream.write(text)
            written += len(text)
        run += 1
    return written


def make_binary_set(root, megabytes):
    """Result files of 0.5-2 MB of random bytes: nothing to compress."""
    os.makedirs(root)
    generator, written, index = random.Random(7), 0, 0
    while written < megabytes * MB:
        size = min(generator.randint(MB // 2, 2 * MB), megabytes * MB - written)
        with open(os.path.join(root, f"result_{index:03d}.bin"), "wb") as stream:
            stream.write(os.urandom(size))
        written, index = written + size, index + 1
    return written


def make_slice(root, sources, megabytes):
    """Hard links to the first files of each source, `megabytes` in all, split evenly between the sources."""
    total = 0
    for source in sources:
        taken = 0
        for path in sorted(glob.glob(os.path.join(source, "**", "*"), recursive=True)):
            if not os.path.isfile(path) or taken >= megabytes * MB / len(sources):
                continue
            target = os.path.join(root, os.path.basename(source), os.path.relpath(path, source))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(path, target)
            taken += os.path.getsize(path)
        total += taken
    return total


# --- running and timing --------------------------------------------------------------------------

def time_alternately(commands, repeat):
    """label -> {argv, cwd, output}: timed alternately; returns label -> (list of seconds, output size in bytes).

    `output` (a file or folder) is removed before each run, untimed, so each run builds from
    scratch (zip and 7zz would otherwise update an existing archive); its size is kept.
    """
    sizes = {}

    def timer(label):
        command = commands[label]
        remove(command["output"])
        took = seconds(lambda: run(command["argv"], cwd=command.get("cwd", ROOT)))
        sizes[label] = size_of(command["output"])
        return took

    times = alternately({label: (lambda label=label: timer(label)) for label in commands}, repeat)
    return {label: (times[label], sizes[label]) for label in commands}


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def size_of(path):
    """Bytes of a file, or of the archives (not manifests) in a folder tree."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(found) for found in glob.glob(os.path.join(path, "**", "*"), recursive=True)
               if found.endswith((".zip", ".7z")))


def ours(source, output, fmt, level):
    return {"argv": [PYTHON, "-c", OUR_BUILD, SRC, source, output, fmt, str(level)], "output": output}


def bare(argv, source, output):
    return {"argv": argv, "cwd": source, "output": output}


# --- scenarios -----------------------------------------------------------------------------------

def zip_scenario(workdir, sets, level, repeat):
    rows = []
    for label, (source, size) in sets.items():
        print(f"zip, {label} set ({size / MB:.0f} MB): ours vs zip -{level} ...", flush=True)
        results = time_alternately({
            "ours": ours(source, os.path.join(workdir, "ours_zip"), "zip", level),
            "zip": bare(["zip", f"-{level}", "-r", "-q", os.path.join(workdir, "bare.zip"), "."], source,
                        os.path.join(workdir, "bare.zip")),
        }, repeat)
        rows += compare(f"zip {label}", results, "ours", "zip", size, goal=THROUGHPUT_GOAL, size_goal=SIZE_GOAL)
    return rows


def seven_zip_scenario(workdir, source, size, level, repeat):
    print(f"7z, slice of both sets ({size / MB:.0f} MB): ours (py7zr) vs 7zz -mx={level} ...", flush=True)
    sevenzip = shutil.which("7zz") or shutil.which("7z")
    if sevenzip is None:
        print("  no 7zz or 7z on PATH (apt-get install 7zip): timing ours only", flush=True)
    commands = {"ours": ours(source, os.path.join(workdir, "ours_7z"), "7z", level)}
    for label, threads in (("7zz", []), ("7zz -mmt=1", ["-mmt=1"])):
        output = os.path.join(workdir, label.replace(" ", "") + ".7z")
        if sevenzip:
            commands[label] = bare([sevenzip, "a", "-t7z", f"-mx={level}", "-mtm=on", *threads, "-bso0", "-bsp0",
                                    output, "*"], source, output)
    results = time_alternately(commands, repeat)
    mine_times, mine_size = results.pop("ours")
    notes = [throughput(size, mine_times)]
    for label, (times, their_size) in results.items():
        ratio = statistics.median(mine_times) / statistics.median(times)
        verdict = "within" if ratio <= SEVEN_ZIP_LIMIT else "OVER: measure the binary path"
        notes.append(f"{ratio:.2f}x {label}'s time ({verdict} {SEVEN_ZIP_LIMIT:g}x), size {mine_size / their_size - 1:+.1%}")
    rows = [("7z: ours (py7zr)", mine_times, ", ".join(notes))]
    return rows + [(f"7z: {label}", times, throughput(size, times)) for label, (times, _) in results.items()]


def no_change_scenario(workdir, data, repeat):
    """Up-to-date rsync destination; no-change CLI runs with compression off and on."""
    print("no-change runs through the CLI, compression off and on ...", flush=True)
    configs = {}
    for name, enabled in (("off", "false"), ("on", "true")):
        configs[name] = os.path.join(workdir, f"compression_{name}.yaml")
        with open(configs[name], "w", encoding="utf-8") as stream:
            stream.write(CONFIG_YAML.format(name=f"compression_{name}", enabled=enabled, destination=f"dest_{name}"))
    cli = {name: [PYTHON, BACKUP_SCRIPT, "--config", path, "-q"] for name, path in configs.items()}
    for argv in cli.values():
        run(argv)  # the first, full runs
    archives = os.path.join(workdir, "archives")
    if not (os.path.isdir(archives) and size_of(archives) > 0):
        raise SystemExit("bench: compression enabled: true built no archive")
    results = time_alternately({name: {"argv": argv, "output": os.path.join(workdir, "none")}
                                for name, argv in cli.items()}, repeat)
    return compare("no-change CLI", {"compression on": results["on"], "compression off": results["off"]},
                   "compression on", "compression off", None, limit=NO_CHANGE_GOAL)


def compare(name, results, mine, theirs, size, goal=None, limit=None, size_goal=None):
    """Two table rows, `mine` then `theirs`: MB/s, the throughput ratio against `goal` or the time ratio
    against `limit`, and the archive sizes against `size_goal`."""
    (mine_times, mine_size), (their_times, their_size) = results[mine], results[theirs]
    ratio = statistics.median(mine_times) / statistics.median(their_times)
    notes = [throughput(size, mine_times)] if size else []
    if goal is not None:
        verdict = "goal met" if 1 / ratio >= goal else f"goal >= {goal}x NOT met"
        notes.append(f"{1 / ratio:.2f}x {theirs}'s throughput ({verdict})")
    if limit is not None:
        notes.append(f"{ratio:.2f}x {theirs}'s time ({'goal met' if ratio <= limit else f'goal <= {limit}x NOT met'})")
    if size_goal is not None:
        difference = mine_size / their_size - 1
        verdict = "goal met" if abs(difference) <= size_goal else f"goal within {size_goal:.0%} NOT met"
        notes.append(f"size {mine_size / MB:.1f} MB = {difference:+.2%} vs {their_size / MB:.1f} MB ({verdict})")
    return [(f"{name}: {mine}", mine_times, ", ".join(notes)),
            (f"{name}: {theirs}", their_times, throughput(size, their_times) if size else "")]


def throughput(size, times):
    return f"{size / statistics.median(times) / MB:.1f} MB/s" if size else ""


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_compress_", dir="/tmp")
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")  # the parsed-config cache stays inside
    try:
        data = os.path.join(workdir, "data")
        print(f"building {args.csv_mb} MB of CSV and {args.bin_mb} MB of binaries under {data} ...", flush=True)
        started = time.perf_counter()
        sets = {"csv": os.path.join(data, "csv"), "binary": os.path.join(data, "binary")}
        sizes = {"csv": make_csv_set(sets["csv"], args.csv_mb), "binary": make_binary_set(sets["binary"], args.bin_mb)}
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        rows = zip_scenario(workdir, {label: (sets[label], sizes[label]) for label in sets}, args.level, args.repeat)
        slice_root = os.path.join(workdir, "slice")
        megabytes = args.sevenz_mb or (args.csv_mb + args.bin_mb)
        slice_size = make_slice(slice_root, list(sets.values()), megabytes)
        rows += seven_zip_scenario(workdir, slice_root, slice_size, args.level, args.repeat)
        rows += no_change_scenario(workdir, data, args.nochange_repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
