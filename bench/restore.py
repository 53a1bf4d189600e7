#!/usr/bin/env python3
"""Benchmark `restore` from an SMB share against one bare smbclient session's mget, through a real Samba on 127.0.0.1.

    .venv/bin/python bench/restore.py [--files N] [--folders M] [--repeat K]

The share is filled once by a backup of ours (untimed). Then, alternately, each into a fresh empty folder:
  ours   `scripts/backup_system.py restore --config CFG --from share --to DIR` (output captured): two
         listings (the live tree and its versions folder), `get`s in a few sessions side by side, each
         file renamed into place with its modification time set from the listing.
  bare   ONE smbclient session: `lcd DIR; cd lab\\data; recurse ON; prompt OFF; mget *` (which keeps no
         modification times).
Each timed run is checked untimed afterwards: every file there, with its size. Goal (issue 12): ours
at most 1.3x bare.

Everything (data, server, config, cache) lives in a temporary folder under /tmp, removed at the end;
the server is stopped at the end whatever happens.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

from timing import BACKUP_SCRIPT, PYTHON, ROOT, make_tree, print_table, run, seconds, time_alternately

sys.path.insert(0, ROOT)
from tests.integration.smbd import SambaServer  # noqa: E402

RESTORE_GOAL = 1.3
FILE_BODY = b"x" * 1023 + b"\n"  # 1 KiB
BASE_FOLDER = "lab"  # base_path is smb://127.0.0.1/backup/lab ...
REMOTE_FOLDER = "lab/data"  # ... and the source `data` lands in lab/data
SMB_FOLDER = REMOTE_FOLDER.replace("/", "\\")  # as smbclient writes it
CONFIG_YAML = """\
backups:
  name: bench
  log_file: logs/bench.log
  state_dir: state
  sources:
    data: {{path: src}}
  destinations:
    share:
      base_path: {url}
      port: {port}
      credentials_file: {credentials}
"""


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark restore from smb against one bare smbclient mget")
    parser.add_argument("--files", type=int, default=10_000, help="files of 1 KB in the tree (default 10000)")
    parser.add_argument("--folders", type=int, default=1_000, help="folders they are spread over (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command (default 5)")
    return parser.parse_args()


def write_config(workdir, server, credentials):
    path = os.path.join(workdir, "restore.yaml")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(CONFIG_YAML.format(url=server.url("backup", BASE_FOLDER), port=server.port,
                                        credentials=credentials))
    return path


def check_restored(folder, paths, label):
    """Fail unless `folder` holds exactly `paths`, each with its size."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(parent, name)
            found[os.path.relpath(full, folder)] = os.path.getsize(full)
    wrong = [path for path in paths if found.get(path) != len(FILE_BODY)]
    # a bare `mget *` also brings our manifest (one file of ~90 bytes a line), which restore leaves out
    extra = {path for path in set(found) - set(paths) if not path.startswith(".backup_system/")}
    if wrong or extra:
        raise SystemExit(f"bench: after {label}, {len(wrong)} of {len(paths)} files missing or of the wrong size "
                         f"(e.g. {wrong[:3]}), {len(extra)} unexpected (e.g. {sorted(extra)[:3]})")


def timers(server, config, workdir, paths):
    """label -> timer(): each restores into a fresh folder, timed; then checks it, untimed, and removes it."""
    into = os.path.join(workdir, "restored")
    ours = [PYTHON, BACKUP_SCRIPT, "restore", "--config", config, "--from", "share", "--to", into]
    bare_script = f'lcd "{into}"\ncd "{SMB_FOLDER}"\nrecurse ON\nprompt OFF\nmget *\n'

    def fresh():
        shutil.rmtree(into, ignore_errors=True)
        os.makedirs(into)

    def timed(action, restored, label):
        fresh()
        took = seconds(action)
        check_restored(restored, paths, label)
        shutil.rmtree(into)
        return took

    return {
        "ours": lambda: timed(lambda: run(ours), os.path.join(into, "data"), "ours"),
        "bare": lambda: timed(lambda: run(server.smbclient_argv(), env={**os.environ, "TZ": "UTC"},
                                          stdin_text=bare_script),
                              into, "bare mget"),
    }


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_restore_", dir="/tmp")
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")  # nothing left in ~/.cache
    try:
        source = os.path.join(workdir, "src")
        print(f"building {args.files} files of 1 KB in {args.folders} folders under {source} ...", flush=True)
        paths = make_tree(source, args.files, args.folders, FILE_BODY)
        with SambaServer(os.path.join(workdir, "samba")) as server:
            print(f"smbd on {server.host}:{server.port}, share folder {server.share_path('backup')}", flush=True)
            credentials = server.write_credentials(os.path.join(workdir, "bench.creds"))
            config = write_config(workdir, server, credentials)
            print(f"filling the share ({BASE_FOLDER}) with one backup of ours ...", flush=True)
            run([PYTHON, BACKUP_SCRIPT, "--config", config, "-q"])
            print(f"timing {args.repeat} rounds, alternating, each into a fresh folder ...", flush=True)
            times = time_alternately(timers(server, config, workdir, paths), args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ours, bare = statistics.median(times["ours"]), statistics.median(times["bare"])
    verdict = "goal met" if ours / bare <= RESTORE_GOAL else f"goal <= {RESTORE_GOAL:.1f}x NOT met"
    print_table([("restore bare: 1 session mget", times["bare"], ""),
                 ("restore backup_system", times["ours"], f"{ours / bare:.2f}x bare ({verdict})")],
                f"{args.files} files of 1 KB in {args.folders} folders, smbd on 127.0.0.1, {args.repeat} rounds, "
                f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
