"""What every benchmark here shares: run a command or stop, time labelled runs alternately, print the table."""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
PYTHON = VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable  # the Python `make setup` built
BACKUP_SCRIPT = os.path.join(ROOT, "scripts", "backup_system.py")


def run(argv, *, cwd=ROOT, env=None, stdin_text=None):
    """Run argv with its output captured; stop the benchmark with its output when it fails."""
    completed = subprocess.run(argv, cwd=cwd, env=env, input=stdin_text, capture_output=True, text=True,
                               stdin=None if stdin_text is not None else subprocess.DEVNULL, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, argv))} exited {completed.returncode}:\n"
                         f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return completed


def time_alternately(timers, repeat, title=""):
    """label -> timer(): each timer (which runs once and returns its seconds) `repeat` times, interleaved,
    the order rotating each round, so a slow moment of the machine hits every side alike."""
    labels = list(timers)
    times = {label: [] for label in labels}
    for round_index in range(repeat):
        shift = round_index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            times[label].append(timers[label]())
        print(f"  {title + ' ' if title else ''}round {round_index + 1}/{repeat}: "
              + ", ".join(f"{label} {times[label][-1]:.3f}s" for label in labels), flush=True)
    return times


def seconds(action):
    """How long action() takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def print_table(rows, title=None):
    """rows: (scenario, list of seconds, note); median and minimum per row."""
    width = max([len("scenario"), *(len(name) for name, _, _ in rows)])
    if title:
        print(f"\n{title}")
    print(f"\n{'scenario':{width}} {'median s':>9} {'min s':>8}   ratio / notes")
    for name, times, note in rows:
        print(f"{name:{width}} {statistics.median(times):9.3f} {min(times):8.3f}   {note}".rstrip())


def make_tree(root, files, folders, body):
    """`files` files holding `body`, spread evenly over `folders` folders under root (d00000/f0000000.txt, ...);
    their relative paths."""
    folders = max(1, min(folders, files))
    paths = []
    for folder_index in range(folders):
        folder = f"d{folder_index:05d}"
        os.makedirs(os.path.join(root, folder))
        for file_index in range(folder_index, files, folders):
            path = f"{folder}/f{file_index:07d}.txt"
            with open(os.path.join(root, path), "wb") as stream:
                stream.write(body)
            paths.append(path)
    return paths
