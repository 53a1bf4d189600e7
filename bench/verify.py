#!/usr/bin/env python3
"""Benchmark `verify` (the listing, not --full) on an SMB share against one bare smbclient listing of it.

    .venv/bin/python bench/verify.py [--files N] [--folders M] [--repeat K]

The share is filled once by a backup of ours (untimed), which also writes the manifest. Then, alternately:
  ours   `scripts/backup_system.py verify --config CFG`: the manifest fetched, the target listed, the two
         compared (every file must be reported as the manifest says: exit 0).
  bare   ONE smbclient session: `cd lab\\data; recurse ON; ls`.
Goal (issue 12): ours at most 1.5x bare.

Everything (data, server, config) lives in a temporary folder under /tmp, removed at the end; the server
is stopped at the end whatever happens.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

from restore import FILE_BODY, write_config
from timing import BACKUP_SCRIPT, PYTHON, ROOT, make_tree, print_table, run, seconds, time_alternately

sys.path.insert(0, ROOT)
from tests.integration.smbd import SambaServer  # noqa: E402

VERIFY_GOAL = 1.5
SMB_FOLDER = "lab\\data"


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark verify on smb against one bare smbclient listing")
    parser.add_argument("--files", type=int, default=10_000, help="files of 1 KB in the tree (default 10000)")
    parser.add_argument("--folders", type=int, default=1_000, help="folders they are spread over (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command (default 5)")
    return parser.parse_args()


def timers(server, config):
    ours = [PYTHON, BACKUP_SCRIPT, "verify", "--config", config]
    bare_script = f'cd "{SMB_FOLDER}"\nrecurse ON\nls\n'
    return {
        "ours": lambda: seconds(lambda: run(ours)),
        "bare": lambda: seconds(lambda: run(server.smbclient_argv(), env={**os.environ, "TZ": "UTC"},
                                            stdin_text=bare_script)),
    }


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_verify_", dir="/tmp")
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")
    try:
        source = os.path.join(workdir, "src")
        print(f"building {args.files} files of 1 KB in {args.folders} folders under {source} ...", flush=True)
        make_tree(source, args.files, args.folders, FILE_BODY)
        with SambaServer(os.path.join(workdir, "samba")) as server:
            credentials = server.write_credentials(os.path.join(workdir, "bench.creds"))
            config = write_config(workdir, server, credentials)
            print("filling the share with one backup of ours (and its manifest) ...", flush=True)
            run([PYTHON, BACKUP_SCRIPT, "--config", config, "-q"])
            run([PYTHON, BACKUP_SCRIPT, "verify", "--config", config])  # fails the bench unless it says ok
            print(f"timing {args.repeat} rounds, alternating ...", flush=True)
            times = time_alternately(timers(server, config), args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ours, bare = statistics.median(times["ours"]), statistics.median(times["bare"])
    verdict = "goal met" if ours / bare <= VERIFY_GOAL else f"goal <= {VERIFY_GOAL:.1f}x NOT met"
    print_table([("bare: 1 session recurse ON; ls", times["bare"], ""),
                 ("verify (listing)", times["ours"], f"{ours / bare:.2f}x bare ({verdict})")],
                f"{args.files} files of 1 KB in {args.folders} folders, smbd on 127.0.0.1, {args.repeat} rounds, "
                f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
