"""mode: snapshot on rsync destinations: dated trees with hard links, `latest`, killed runs, retention.

Runs are dated with BACKUP_SYSTEM_NOW (the snapshot's name is the run's time), days apart, so retention
can be seen at work without waiting.
"""

import getpass
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import assert_no_traceback, tree
from tests.integration.sshd import SshServer

DAY = 86400
AWKWARD = "nested/café é;x y.csv"


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))


def name(seconds):
    return time.strftime("%Y-%m-%dT%H%M%S", time.localtime(seconds))


def run(lab, at, *args):
    result = lab.run(*args, env={"BACKUP_SYSTEM_NOW": iso(at)})
    assert_no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def dated(folder):
    return sorted(entry for entry in os.listdir(folder) if entry[:1].isdigit())


@pytest.fixture(params=["local", "ssh"])
def place(request, tmp_path):
    """(base_path, extra settings, the folder on this machine that base_path names)."""
    folder = tmp_path / "server"
    folder.mkdir()
    if request.param == "local":
        yield str(folder), {}, folder
        return
    with SshServer(tmp_path / "sshd") as server:
        yield f"{getpass.getuser()}@127.0.0.1:{folder}", {"ssh_command": server.ssh_command}, folder


def test_each_run_is_a_dated_tree_where_unchanged_files_are_hard_links_and_latest_the_newest(lab, place):
    base_path, settings, folder = place
    lab.write_backups({"disk": {"base_path": base_path, "mode": "snapshot", **settings}},
                      sources={"csvs": {"path": "../data/csvs"}})
    lab.write("data/csvs/same.csv", "unchanged\n")
    lab.write(f"data/csvs/{AWKWARD}", "one\n")
    start = time.time()
    run(lab, start)
    lab.write_newer(f"data/csvs/{AWKWARD}", "two\n")
    run(lab, start + DAY)

    target = folder / "csvs"
    first, second = target / name(start), target / name(start + DAY)
    assert dated(target) == [first.name, second.name]
    assert os.readlink(target / "latest") == second.name
    assert tree(target / "latest") == tree(lab.path("data/csvs"))
    assert tree(first) == {"same.csv": b"unchanged\n", AWKWARD: b"one\n"}
    assert os.stat(first / "same.csv").st_ino == os.stat(second / "same.csv").st_ino
    assert os.stat(first / AWKWARD).st_ino != os.stat(second / AWKWARD).st_ino


def test_a_run_killed_mid_snapshot_never_becomes_latest_and_the_next_run_completes(lab, tmp_path):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    lab.write("data/csvs/a.csv", "a\n")
    start = time.time()
    run(lab, start)
    lab.write("data/csvs/big.bin", os.urandom(4 << 20))
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot", "rsync_options": ["--bwlimit=1m"]}},
                      sources={"csvs": {"path": "../data/csvs"}})
    process = lab.start(env={"BACKUP_SYSTEM_NOW": iso(start + DAY)}, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    killed = lab.path(f"backups/csvs/{name(start + DAY)}")
    deadline = time.monotonic() + 30
    while not killed.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # rsync is sending big.bin
    os.killpg(process.pid, signal.SIGKILL)  # the run and its rsync, as a power cut would
    process.wait()
    target = lab.path("backups/csvs")
    assert killed.exists() and os.readlink(target / "latest") == name(start)
    assert tree(target / "latest") == {"a.csv": b"a\n"}

    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    run(lab, start + 2 * DAY)
    assert dated(target) == [name(start), name(start + 2 * DAY)]  # the killed one cleaned
    assert os.readlink(target / "latest") == name(start + 2 * DAY)
    assert tree(target / "latest") == tree(lab.path("data/csvs"))


def test_retention_keeps_the_newest_snapshot_of_each_kept_day(lab):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot",
                                "keep": {"daily": 2, "weekly": 0, "monthly": 0}}},
                      sources={"csvs": {"path": "../data/csvs"}})
    start = time.time()
    moments = [start, start + DAY, start + 2 * DAY, start + 2 * DAY + 60, start + 3 * DAY]
    for number, moment in enumerate(moments):
        lab.write_newer("data/csvs/a.csv", f"{number}\n")
        run(lab, moment)
    target = lab.path("backups/csvs")
    assert dated(target) == [name(moments[3]), name(moments[4])]  # day 2's newest, day 3's
    assert tree(target / "latest") == {"a.csv": b"4\n"}


def test_a_mistyped_keep_is_one_line_and_exit_2(lab):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot", "keep": {"dayly": 7}}})
    result = lab.run()
    assert result.returncode == 2 and "keep.dayly" in result.stderr and "daily, weekly, monthly" in result.stderr
    assert_no_traceback(result)


def test_restore_at_a_time_brings_back_the_newest_complete_snapshot_not_newer(lab):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    start = time.time()
    for number in range(3):
        lab.write_newer(f"data/csvs/{AWKWARD}", f"run {number}\n")
        run(lab, start + number * DAY)
    result = run(lab, start + 3 * DAY, "restore", "--from", "disk", "--to", str(lab.path("then")),
                 "--at", iso(start + 1.5 * DAY))
    assert tree(lab.path("then/csvs")) == {AWKWARD: b"run 1\n"}, result.stdout
