#!/usr/bin/env python3
"""Benchmark the smb transport against bare smbclient, through a real Samba server on 127.0.0.1.

    .venv/bin/python bench/smb.py [--files N] [--folders M] [--repeat K] [--sessions 1,2,4,8,16]
                                  [--round-trip MS] [--no-rclone]

--round-trip MS puts a delaying TCP proxy (tests/integration/latency_proxy.py, checked with a 64-byte
ping-pong) between every client and smbd: a real network's round trip (2.3 ms: Wi-Fi, a VPN). Each
scenario also times rclone's smb backend (the pinned .venv/bin/rclone, `--transfers 16`) side by side,
and ours at each `sessions` value (the curve the default was picked from).

Scenarios (see bench/README.md):
  no-change     the share is up to date: `scripts/backup_system.py -q` against one smbclient
                session `recurse ON; ls` of the same remote folder, timed alternately; plus one
                smbclient process per folder, timed once on a sample and extrapolated.
  changed       the share is up to date, then CHANGED files (default 100) get new contents and times before
                each timed run: ours (default and each `sessions: S`) against rclone's smb backend.
  first upload  the remote folder is empty: a full upload by ours (default sessions, and each
                `sessions: S`) against ONE smbclient session that runs mkdir, put and utimes for
                everything, timed alternately; plus one smbclient process per file, timed once on
                a sample and extrapolated.

Everything (data, server, config, cache) lives in a temporary folder under /tmp, removed at the end;
the server is stopped at the end whatever happens.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

from timing import BACKUP_SCRIPT, PYTHON, ROOT, make_tree, print_table, run, seconds, time_alternately

sys.path.insert(0, ROOT)
from tests.integration.latency_proxy import LatencyProxy  # noqa: E402
from tests.integration.smbd import SambaServer  # noqa: E402

NO_CHANGE_GOAL = 1.5
UPLOAD_GOAL = 1.3
FILE_BODY = b"x" * 1023 + b"\n"  # 1 KiB
BASE_FOLDER = "lab"  # base_path is smb://127.0.0.1/backup/lab ...
REMOTE_FOLDER = "lab/data"  # ... and the source `data` lands in lab/data
SETTLE = 0.5  # seconds between timed runs: the run after rclone's (16 connections closing) was ~10% slower
FOLDER_SAMPLE = 50
FILE_SAMPLE = 100
LISTED_FILE = re.compile(r"^  f\d+\.txt +A +\d+  ", re.MULTILINE)  # a file's line in a smbclient `ls`

CONFIG_YAML = """\
backups:
  name: bench
  log_file: logs/{name}.log
  state_dir: state
  sources:
    data: {{path: src}}
  destinations:
    share:
      base_path: {url}
      port: {port}
      credentials_file: {credentials}
{extra}"""


def parse_args():
    parser = argparse.ArgumentParser(description="benchmark the smb transport against bare smbclient")
    parser.add_argument("--files", type=int, default=10_000, help="files of 1 KB in the tree (default 10000)")
    parser.add_argument("--folders", type=int, default=1_000, help="folders they are spread over (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--scenario", default="all",
                        help="nochange, changed, upload, or several joined by commas (default all)")
    parser.add_argument("--changed", type=int, default=100, help="files changed before each run of `changed`")
    parser.add_argument("--sessions", default="1,2,4,8,16",
                        help="comma-separated `sessions` values to time ours with (default 1,2,4,8,16)")
    parser.add_argument("--round-trip", type=float, default=0.0,
                        help="milliseconds of round trip added by a delaying proxy (default 0: loopback)")
    parser.add_argument("--no-rclone", action="store_true", help="leave out rclone's smb backend")
    args = parser.parse_args()
    args.sessions = [int(value) for value in args.sessions.split(",") if value.strip()]
    args.scenario = {"nochange", "changed", "upload"} if args.scenario == "all" else set(args.scenario.split(","))
    if not args.scenario <= {"nochange", "changed", "upload"}:
        parser.error(f"--scenario: {','.join(sorted(args.scenario))}: choose among nochange, changed, upload, all")
    return args


# --- building the data and the config -------------------------------------------------------------

def write_config(workdir, server, credentials, name, sessions=None):
    extra = f"      sessions: {sessions}\n" if sessions is not None else ""
    text = CONFIG_YAML.format(name=name, url=server.url("backup", BASE_FOLDER), port=server.client_port,
                              credentials=credentials, extra=extra)
    path = os.path.join(workdir, f"{name}.yaml")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


def ours_argv(config):
    return [PYTHON, BACKUP_SCRIPT, "--config", config, "-q"]


RCLONE = os.path.join(ROOT, ".venv", "bin", "rclone")


def rclone_command(server, workdir, source, check=None):
    """rclone's smb backend copying source to the same folder, --transfers 16, a remote made in its environment;
    --modify-window 1s so that a tree smbclient wrote (whole seconds) is not all sent again."""
    obscured = run([RCLONE, "obscure", server.password]).stdout.strip()
    empty = os.path.join(workdir, "rclone.conf")
    open(empty, "w").close()
    env = {**os.environ, "RCLONE_CONFIG": empty, "RCLONE_CONFIG_BENCH_TYPE": "smb",
           "RCLONE_CONFIG_BENCH_HOST": server.host, "RCLONE_CONFIG_BENCH_PORT": str(server.client_port),
           "RCLONE_CONFIG_BENCH_USER": server.user, "RCLONE_CONFIG_BENCH_PASS": obscured}
    argv = [RCLONE, "copy", source, f"bench:backup/{REMOTE_FOLDER}", "--transfers", "16", "--modify-window", "1s"]
    return {"argv": argv, "env": env, **({"check": check} if check else {})}


def remote(relative):
    """A path in the share as smbclient writes it."""
    return relative.replace("/", "\\")


# --- running and timing ---------------------------------------------------------------------------

def smbclient_env():
    return {**os.environ, "TZ": "UTC"}


def timers(commands, before_each=None):
    """label -> {argv, stdin, env, check} as timers for timing.time_alternately.

    before_each() runs untimed before every timed run (e.g. to empty the share); check(completed)
    runs untimed after it.
    """
    def timer(command):
        if before_each:
            before_each()
        time.sleep(SETTLE)  # the previous run's server processes finish exiting before this one is timed
        completed = []
        took = seconds(lambda: completed.append(run(command["argv"], env=command.get("env"),
                                                    stdin_text=command.get("stdin"))))
        if "check" in command:
            command["check"](completed[0])
        return took

    return {label: (lambda command=command: timer(command)) for label, command in commands.items()}


def time_one_process_each(argvs, total):
    """Run each argv once (one smbclient process each); seconds extrapolated from len(argvs) to total."""
    took = seconds(lambda: [run(argv, env=smbclient_env()) for argv in argvs])
    return took * total / len(argvs), len(argvs), took


def sample(items, count):
    step = max(1, len(items) // count)
    return items[::step][:count]


# --- checks ---------------------------------------------------------------------------------------

def check_nothing_sent(config):
    """One extra, untimed run with --json: it must succeed and send nothing."""
    report = json.loads(run([*ours_argv(config), "--json"]).stdout)
    sent = sum(job["files_sent"] for job in report["jobs"])
    if not report["ok"] or sent:
        raise SystemExit(f"bench: a no-change run was not clean: ok={report['ok']}, files sent={sent}")
    unchanged = sum(job["files_unchanged"] for job in report["jobs"])
    print(f"  check: a no-change run of ours sent 0 files, {unchanged} unchanged", flush=True)


def check_uploaded(server, paths, label):
    """Fail unless the share holds exactly `paths` under REMOTE_FOLDER, each with the local size."""
    top = server.share_path("backup") / REMOTE_FOLDER
    found = {}
    for folder, _, names in os.walk(top):
        for name in names:
            full = os.path.join(folder, name)
            found[os.path.relpath(full, top)] = os.path.getsize(full)
    wrong = [path for path in paths if found.get(path) != len(FILE_BODY)]
    extra = {path for path in set(found) - set(paths) if not path.startswith(".backup_system/")}  # the manifest
    if wrong or extra:
        raise SystemExit(f"bench: after {label}, {len(wrong)} of {len(paths)} files missing or of the wrong "
                         f"size on the share (e.g. {wrong[:3]}), {len(extra)} unexpected (e.g. {sorted(extra)[:3]})")


# --- scenario 1: no change ------------------------------------------------------------------------

def no_change_scenario(server, config, paths, folders, repeat, extra_commands=None):
    print("no-change: first bring the share up to date with one run of ours ...", flush=True)
    run(ours_argv(config))
    check_uploaded(server, paths, "the first run")
    check_nothing_sent(config)
    bare_listing = {
        "argv": server.smbclient_argv(), "env": smbclient_env(),
        "stdin": f'recurse ON\nls "{remote(REMOTE_FOLDER)}\\*"\n',
        "check": lambda done: check_listing(done, len(paths)),
    }
    commands = {"ours": {"argv": ours_argv(config)}, "bare": bare_listing, **(extra_commands or {})}
    print(f"no-change: timing {repeat} rounds, alternating ...", flush=True)
    times = time_alternately(timers(commands), repeat)
    chosen = sample(folders, FOLDER_SAMPLE)
    print(f"no-change: one smbclient process per folder, on {len(chosen)} of {len(folders)} folders ...", flush=True)
    per_folder = [[*server.smbclient_argv(), "-c", f'ls "{remote(REMOTE_FOLDER + "/" + folder)}\\*"']
                  for folder in chosen]
    return times, time_one_process_each(per_folder, len(folders))


def check_listing(completed, files):
    listed = len(LISTED_FILE.findall(completed.stdout))
    if listed != files:
        raise SystemExit(f"bench: the bare listing shows {listed} files, expected {files}")


# --- scenario 1b: some files changed --------------------------------------------------------------

def changed_scenario(server, config, source, paths, repeat, count, commands):
    """Before each timed run `count` files (spread over the tree) get new contents and a newer time; each side
    then sends them. Run after the no-change scenario (the share is up to date)."""
    chosen = sample(paths, count)
    rounds = [0]

    def change():
        rounds[0] += 1
        stamp = time.time() + 10 * rounds[0]  # newer than any copy on the share, a new second each time
        for path in chosen:
            full = os.path.join(source, path)
            with open(full, "wb") as stream:
                stream.write(FILE_BODY[:-2] + str(rounds[0] % 10).encode() + b"\n")
            os.utime(full, (stamp, stamp))

    def check(label):
        def checked(completed):
            if label.startswith("ours") and "--json" in commands[label]["argv"]:
                report = json.loads(completed.stdout)
                sent = sum(job["files_sent"] for job in report["jobs"])
                if not report["ok"] or sent != len(chosen):
                    raise SystemExit(f"bench: {label} sent {sent} of {len(chosen)} changed files")
        return checked

    timed = {label: {**command, "check": check(label)} for label, command in commands.items()}
    print(f"changed: timing {repeat} rounds of {len(chosen)} changed files, alternating ...", flush=True)
    return time_alternately(timers(timed, before_each=change), repeat)


def changed_rows(times, count):
    rows = []
    rclone = statistics.median(times["rclone --transfers 16"]) if "rclone --transfers 16" in times else None
    for label in times:
        median = statistics.median(times[label])
        note = f"{median / rclone:.2f}x rclone" if rclone and not label.startswith("rclone") else ""
        if label == "ours" and rclone:
            note += " (goal <= 1.2x through the proxy)"
        rows.append((f"{count} changed: {label}", times[label], note))
    return rows


# --- scenario 2: first upload ---------------------------------------------------------------------

def upload_scenario(server, workdir, credentials, source, paths, folders, repeat, sessions_list, rclone=True):
    def empty_share():
        for entry in server.share_path("backup").iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def check(label):
        return lambda completed: check_uploaded(server, paths, label)

    default_config = write_config(workdir, server, credentials, "upload")
    commands = {"ours": {"argv": ours_argv(default_config), "check": check("ours")},
                "bare": {"argv": server.smbclient_argv(), "env": smbclient_env(),
                         "stdin": bare_upload_script(source, paths, folders), "check": check("bare")}}
    for sessions in sessions_list:
        config = write_config(workdir, server, credentials, f"upload_s{sessions}", sessions)
        commands[f"ours, sessions: {sessions}"] = {"argv": ours_argv(config), "check": check(f"sessions {sessions}")}
    if rclone:
        commands["rclone --transfers 16"] = rclone_command(server, workdir, source, check("rclone"))
    print(f"first upload: timing {repeat} rounds, alternating, the share emptied before each run ...", flush=True)
    times = time_alternately(timers(commands, before_each=empty_share), repeat)
    empty_share()
    chosen = sample(paths, FILE_SAMPLE)
    print(f"first upload: one smbclient process per file, on {len(chosen)} of {len(paths)} files ...", flush=True)
    run(server.smbclient_argv(), stdin_text=mkdir_commands({path.split("/")[0] for path in chosen}),
        env=smbclient_env())
    per_file = [[*server.smbclient_argv(), "-c",
                 f'put "{os.path.join(source, path)}" "{remote(REMOTE_FOLDER + "/" + path)}"']
                for path in chosen]
    per_file_result = time_one_process_each(per_file, len(paths))
    empty_share()
    return times, per_file_result


def mkdir_commands(folders):
    """mkdir for the remote folder's parents, then each folder; one command per line."""
    parts = REMOTE_FOLDER.split("/")
    tops = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    lines = [f'mkdir "{remote(top)}"' for top in tops]
    lines += [f'mkdir "{remote(REMOTE_FOLDER + "/" + folder)}"' for folder in sorted(folders)]
    return "".join(line + "\n" for line in lines)


def bare_upload_script(source, paths, folders):
    """The floor: mkdir each folder, then put and utimes each file, in one smbclient session (TZ=UTC)."""
    lines = []
    for path in paths:
        local = os.path.join(source, path)
        target = remote(REMOTE_FOLDER + "/" + path)
        stamp = time.strftime("%Y:%m:%d-%H:%M:%S", time.gmtime(int(os.stat(local).st_mtime)))
        lines += [f'put "{local}" "{target}"', f'utimes "{target}" -1 -1 {stamp} -1']
    return mkdir_commands(folders) + "".join(line + "\n" for line in lines)


# --- the table ------------------------------------------------------------------------------------

def verdict(ratio, goal):
    return "goal met" if ratio <= goal else f"goal <= {goal:.1f}x NOT met"


def sampled_note(sampled, what, seconds, estimate):
    if estimate == seconds:
        return f"timed once, on all {sampled} {what}"
    return f"EXTRAPOLATED from one run on {sampled} {what} ({seconds:.2f} s)"


def no_change_rows(times, per_folder):
    ours, bare = statistics.median(times["ours"]), statistics.median(times["bare"])
    estimate, sampled, seconds = per_folder
    rows = [
        ("no-change bare: 1 session ls", times["bare"], ""),
        ("no-change backup_system", times["ours"], f"{ours / bare:.2f}x bare ({verdict(ours / bare, NO_CHANGE_GOAL)})"),
    ]
    rclone = statistics.median(times["rclone --transfers 16"]) if "rclone --transfers 16" in times else None
    for label in times:
        if label.startswith("ours, sessions") or label.startswith("rclone"):
            median = statistics.median(times[label])
            against = f", {median / rclone:.2f}x rclone" if rclone else ""
            rows.append((f"no-change {label}", times[label], f"{median / bare:.2f}x bare{against}"))
    if rclone:
        rows.append(("no-change default vs rclone", [ours / rclone], "ratio (goal <= 1.0 through the proxy)"))
    rows.append(("no-change 1 process per folder", [estimate],
                 f"{sampled_note(sampled, 'folders', seconds, estimate)}; ours is {estimate / ours:.0f}x faster"))
    return rows


def upload_rows(times, per_file, sessions_list):
    ours, bare = statistics.median(times["ours"]), statistics.median(times["bare"])
    estimate, sampled, seconds = per_file
    rows = [
        ("upload bare: 1 session put+utimes", times["bare"], ""),
        ("upload backup_system (default)", times["ours"], f"{ours / bare:.2f}x bare ({verdict(ours / bare, UPLOAD_GOAL)})"),
    ]
    for sessions in sessions_list:
        label = f"ours, sessions: {sessions}"
        median = statistics.median(times[label])
        rows.append((f"upload {label}", times[label], f"{median / bare:.2f}x bare, {median / ours:.2f}x default"))
    if "rclone --transfers 16" in times:
        rclone = statistics.median(times["rclone --transfers 16"])
        rows.append(("upload rclone --transfers 16", times["rclone --transfers 16"],
                     f"default is {ours / rclone:.2f}x rclone (goal <= 1.0 through the proxy), "
                     f"{bare / ours:.1f}x faster than bare (goal >= 4 through the proxy)"))
    rows.append(("upload 1 process per file", [estimate],
                 f"{sampled_note(sampled, 'files', seconds, estimate)}; ours is {estimate / ours:.0f}x faster"))
    return rows


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix="backup_system_bench_smb_", dir="/tmp")
    # The parsed-config cache goes in the temp folder too, so nothing is left in ~/.cache.
    os.environ["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")
    try:
        source = os.path.join(workdir, "src")
        print(f"building {args.files} files of 1 KB in {args.folders} folders under {source} ...", flush=True)
        paths = make_tree(source, args.files, args.folders, FILE_BODY)
        folders = sorted({path.split("/")[0] for path in paths})
        with SambaServer(os.path.join(workdir, "samba")) as server, \
                LatencyProxy(server.port, round_trip=args.round_trip / 1000) as proxy:
            server.client_port = proxy.port if args.round_trip else server.port
            if args.round_trip:
                print(f"round trip through the proxy (64-byte ping-pong): {proxy.measure_round_trip() * 1000:.2f} ms")
                server.smbclient_argv = through(server.smbclient_argv, proxy.port)
            print(f"smbd on {server.host}:{server.port}, share folder {server.share_path('backup')}", flush=True)
            credentials = server.write_credentials(os.path.join(workdir, "bench.creds"))
            rows = []
            if "nochange" in args.scenario:
                config = write_config(workdir, server, credentials, "nochange")
                extra = {f"ours, sessions: {sessions}": {"argv": ours_argv(write_config(
                    workdir, server, credentials, f"nochange_s{sessions}", sessions))} for sessions in args.sessions}
                if not args.no_rclone:
                    extra["rclone --transfers 16"] = rclone_command(server, workdir, source)
                rows += no_change_rows(*no_change_scenario(server, config, paths, folders, args.repeat, extra))
            if "changed" in args.scenario:
                config = write_config(workdir, server, credentials, "nochange")
                if "nochange" not in args.scenario:
                    run(ours_argv(config))  # bring the share up to date
                commands = {"ours": {"argv": [*ours_argv(config), "--json"]}}
                for sessions in args.sessions:
                    commands[f"ours, sessions: {sessions}"] = {"argv": [*ours_argv(write_config(
                        workdir, server, credentials, f"nochange_s{sessions}", sessions)), "--json"]}
                if not args.no_rclone:
                    commands["rclone --transfers 16"] = rclone_command(server, workdir, source)
                rows += changed_rows(changed_scenario(server, config, source, paths, args.repeat, args.changed,
                                                      commands), args.changed)
            if "upload" in args.scenario:
                rows += upload_rows(*upload_scenario(server, workdir, credentials, source, paths, folders,
                                                     args.repeat, args.sessions, not args.no_rclone), args.sessions)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    where = f"through a {args.round_trip:g} ms round trip" if args.round_trip else "on loopback"
    print_table(rows,
                f"{args.files} files of 1 KB in {len(folders)} folders, smbd on 127.0.0.1 {where}, "
                f"{args.repeat} rounds, {os.cpu_count()} cores")


def through(smbclient_argv, port):
    """server.smbclient_argv, with the proxy's port instead of the server's."""
    def argv(*args, **kwargs):
        found = smbclient_argv(*args, **kwargs)
        at = found.index("-p") + 1
        return [*found[:at], str(port), *found[at + 1:]]

    return argv


if __name__ == "__main__":
    main()
