"""Backing up to a local rsync destination, with the real command and real rsync: what the contract misses.

The stories every destination shares (first backup, no change, changed and new, newer kept, awkward
names, exclude, nothing deleted, dry run, server down, stopped midway) run in test_transport_contract.py;
here: a failing job or file among working ones, locks, --only, --json, the log and rsync's timeout.
"""

import fcntl
import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import yaml

from tests.conftest import assert_no_traceback, job_of, run_as_nobody, tree
from tests.integration.rclone_servers import mount_tmpfs, unmount
from tests.integration.sshd import SshServer

SECURED = {"secured": {"base_path": "../backups/secured"}}


@pytest.fixture
def secured_lab(lab):
    lab.write_backups(SECURED)
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/figure.png", bytes(range(256)) * 40)
    return lab


def test_one_failing_destination_does_not_stop_the_others_and_the_run_exits_1(secured_lab):
    secured_lab.write("blocker", "a file where a folder should be")
    secured_lab.write_backups({"broken": {"base_path": "../blocker/inside"}, **SECURED})
    result = secured_lab.run()
    assert result.returncode == 1
    assert tree(secured_lab.path("backups/secured/csvs")) == tree(secured_lab.path("data/csvs"))
    failed = [line for line in result.stdout.splitlines() if line.startswith("broken/csvs: FAILED: ")]
    assert len(failed) == 1 and "Not a directory" in failed[0]
    assert "1 of 4" not in result.stdout and "2 of 4 jobs FAILED" in result.stdout
    assert_no_traceback(result)


def test_a_failed_run_ends_with_where_its_log_is_and_a_good_one_does_not(secured_lab):
    secured_lab.write("blocker", "a file where a folder should be")
    secured_lab.write_backups({"broken": {"base_path": "../blocker/inside"}, **SECURED})
    result = secured_lab.run("-q")
    assert result.returncode == 1
    log_file = yaml.safe_load(secured_lab.config.read_text())["backups"].get("log_file")
    expected = (secured_lab.config.parent / (log_file or "logs/backup.log")).resolve()
    assert result.stdout.splitlines()[-1] == f"details: {expected}"
    assert "broken/csvs: FAILED" in expected.read_text()
    secured_lab.write_backups(SECURED)
    assert "details:" not in secured_lab.run().stdout

def test_a_missing_source_folder_fails_its_job_with_a_clear_line(secured_lab):
    shutil.rmtree(secured_lab.path("data/results"))
    result = secured_lab.run()
    assert result.returncode == 1
    assert f"secured/results: FAILED: source folder {secured_lab.path('data/results')} does not exist" in result.stdout
    assert secured_lab.path("backups/secured/csvs/a.csv").exists()


def test_an_unreadable_file_is_named_the_rest_is_sent_and_the_run_exits_1(nobody_lab):
    secret = nobody_lab.write("data/csvs/secret of mine.csv", "private\n")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    result = run_as_nobody(nobody_lab, "--json")
    assert result.returncode == 1, result.stderr
    csvs = job_of(result, "secured", "csvs")
    assert csvs["failures"] == [{"path": "secret of mine.csv", "reason": "Permission denied"}]
    assert (csvs["files_sent"], csvs["files_failed"], csvs["error"]) == (2, 1, None)
    assert sorted(tree(nobody_lab.path("backups/secured/csvs"))) == ["a.csv", "z.csv"]
    plain = run_as_nobody(nobody_lab)
    assert "secured/csvs: not sent: secret of mine.csv: Permission denied" in plain.stdout
    assert_no_traceback(plain)


def test_a_second_concurrent_run_exits_3_naming_the_holder(secured_lab):
    state = secured_lab.path("state")
    state.mkdir()
    with open(state / "lab.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242 2026-11-24 09:12:00\n")
        held.flush()
        result = secured_lab.run()
    assert result.returncode == 3
    assert result.stderr.startswith("another backup is running (pid 4242, started 2026-11-24 09:12:00)")
    assert not secured_lab.path("backups").exists()


def test_a_stale_lock_from_a_dead_run_is_taken_over(secured_lab):
    secured_lab.write("state/lab.lock", "999999 2026-11-23 01:00:00\n")
    result = secured_lab.run()
    assert result.returncode == 0, result.stderr
    assert "took over a stale lock left by pid 999999" in secured_lab.path("logs/backup.log").read_text()


def test_backups_disabled_says_so_and_exits_0(secured_lab):
    secured_lab.write_backups(SECURED, enabled=False)
    result = secured_lab.run()
    assert result.returncode == 0
    assert "backups are disabled (backups.enabled: false)" in result.stdout
    assert not secured_lab.path("backups").exists()


def test_only_selects_destinations_and_an_unknown_name_is_exit_2(secured_lab):
    secured_lab.write_backups({**SECURED, "other": {"base_path": "../backups/other"}})
    assert secured_lab.run("--only", "other").returncode == 0
    assert secured_lab.path("backups/other/csvs/a.csv").exists()
    assert not secured_lab.path("backups/secured").exists()
    assert secured_lab.run("--secured-only").returncode == 0
    assert secured_lab.path("backups/secured/csvs/a.csv").exists()
    result = secured_lab.run("--only", "securd")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "--only securd: no such destination (did you mean 'secured'?); destinations are: secured, other")
    assert_no_traceback(result)


def test_json_prints_only_the_report_on_stdout(secured_lab):
    result = secured_lab.run("--json")
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["exit_code"] == 0
    assert {(item["destination"], item["source"], item["status"]) for item in report["jobs"]} == {
        ("secured", "csvs", "ok"), ("secured", "results", "ok")}


def test_the_log_file_records_each_command_as_an_argument_list(secured_lab):
    assert secured_lab.run().returncode == 0
    log = secured_lab.path("logs/backup.log").read_text()
    assert "secured/csvs: run ['rsync', '-a', '--update'" in log


def test_a_transfer_past_its_timeout_fails_only_that_job_saying_what_was_on_its_way(secured_lab):
    secured_lab.write("data/csvs/big.bin", b"x" * (8 << 20))
    secured_lab.write_backups({"secured": {"base_path": "../backups/secured", "timeout": 1,
                                           "rsync_options": ["--bwlimit=1m"]}})
    result = secured_lab.run("--json")
    assert result.returncode == 1
    csvs = job_of(result, "secured", "csvs")
    assert csvs["error"] == "rsync stopped after the 1 s timeout while sending big.bin"
    assert "big.bin" not in csvs["sent"] and csvs["bytes_sent"] < 8 << 20  # the cut-off big.bin is not counted
    assert_no_traceback(result)


# --- what did not arrive is named; our machinery swallows no name (issue 15) ---------------------------

@pytest.fixture
def read_only_disk(tmp_path):
    """A destination disk mounted read-only (a bind mount), already holding the target folder."""
    disk = tmp_path / "ro-disk"
    (disk / "secured" / "csvs").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(disk), str(disk)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "small-disk"
    mount_tmpfs(disk, "200k")
    yield disk
    unmount(disk)


def test_a_read_only_target_names_the_users_files_permission_denied_and_claims_none_sent(secured_lab, read_only_disk):
    secured_lab.write_backups({"secured": {"base_path": str(read_only_disk / "secured")}}, sources={
        "csvs": {"path": "../data/csvs"}})
    result = secured_lab.run("--json")
    assert result.returncode == 1
    csvs = job_of(result, "secured", "csvs")
    assert csvs["sent"] == [] and csvs["files_sent"] == 0
    assert [failure["path"] for failure in csvs["failures"]] == ["a.csv"]  # the user's name, not .a.csv.XXXXXX
    assert csvs["failures"][0]["reason"].startswith("permission denied")
    assert tree(read_only_disk) == {}


@pytest.mark.parametrize("owner", ["the user", "root"])
def test_a_read_only_target_folder_says_permission_denied_writing_it_and_names_no_temporary_file(nobody_lab, owner):
    nobody_lab.write("data/csvs/sub/deep.csv", "d\n")
    os.chown(nobody_lab.path("data/csvs/sub"), 65534, 65534)
    os.chown(nobody_lab.path("data/csvs/sub/deep.csv"), 65534, 65534)
    secured = nobody_lab.path("backups/secured")
    if owner == "root":  # the targets are there, but the user may neither write in them nor change their mode
        for source in ("csvs", "results"):
            (secured / source).mkdir(parents=True)
            os.chmod(secured / source, 0o555)
    else:  # the user's own destination folder, read-only: the targets cannot be made in it
        secured.mkdir(parents=True)
        os.chown(secured.parent, 65534, 65534)
        os.chown(secured, 65534, 65534)
        os.chmod(secured, 0o555)
    result = run_as_nobody(nobody_lab, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    for source, files in (("csvs", {"a.csv", "z.csv", "sub/deep.csv"}), ("results", {"figure.png"})):
        job = job_of(result, "secured", source)
        assert job["error"] == f"permission denied writing {secured / source}"
        assert files <= {failure["path"] for failure in job["failures"]}
        assert all(failure["reason"] == "permission denied" for failure in job["failures"])
        assert (job["files_sent"], job["status"]) == (0, "failed")
    plain = run_as_nobody(nobody_lab)
    assert "Skipping any contents" not in plain.stdout + plain.stderr
    assert not re.search(r"\.[a-z.]+\.[A-Za-z0-9]{6}\b", plain.stdout), plain.stdout  # no .a.csv.XXXXXX
    assert tree(secured) == {}
    assert_no_traceback(plain)


def test_a_full_disk_names_each_file_that_did_not_arrive_disk_full(secured_lab, small_disk):
    secured_lab.write("data/csvs/big.bin", os.urandom(400 << 10))
    secured_lab.write("data/csvs/zz.csv", "after the big one\n")
    (small_disk / "secured").mkdir()
    secured_lab.write_backups({"secured": {"base_path": str(small_disk / "secured")}}, sources={
        "csvs": {"path": "../data/csvs"}})
    for _ in range(2):  # and again: a rerun claims nothing either
        csvs = job_of(secured_lab.run("--json"), "secured", "csvs")
        arrived = set(tree(small_disk / "secured" / "csvs"))
        assert set(csvs["sent"]) <= arrived and "big.bin" not in arrived
        assert ("big.bin", "disk full") in {(item["path"], item["reason"]) for item in csvs["failures"]}
        assert csvs["status"] in ("partial", "failed")


def test_a_file_deleted_during_the_run_is_a_note_and_the_job_is_ok(secured_lab):
    secured_lab.write("data/csvs/big.bin", os.urandom(3 << 20))
    secured_lab.write("data/csvs/zz-gone.csv", "deleted midway\n")
    secured_lab.write_backups({"secured": {"base_path": "../backups/secured", "rsync_options": ["--bwlimit=2m"]}})
    process = secured_lab.start("--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)  # rsync has its file list and is busy with big.bin
    os.remove(secured_lab.path("data/csvs/zz-gone.csv"))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    csvs = job_of(subprocess.CompletedProcess([], 0, out, err), "secured", "csvs")
    assert (csvs["status"], csvs["failures"], sorted(csvs["sent"])) == ("ok", [], ["a.csv", "big.bin"])
    assert "zz-gone.csv: deleted during the backup, so not sent (not an error of the backup)" in err


def test_a_users_rsync_partial_folder_is_sent_over_ssh_and_locally(secured_lab, tmp_path):
    secured_lab.write("data/csvs/.rsync-partial/mine.csv", "a user's folder\n")
    secured_lab.write("data/csvs/.backup_system-partial/also mine.csv", "even this name\n")
    with SshServer(tmp_path / "sshd") as server:
        remote = f"{getpass.getuser()}@127.0.0.1:{tmp_path / 'server'}"
        (tmp_path / "server").mkdir()
        secured_lab.write_backups({**SECURED, "server": {"base_path": remote, "ssh_command": server.ssh_command}})
        result = secured_lab.run()
    assert result.returncode == 0, result.stdout + result.stderr
    for landed in (secured_lab.path("backups/secured/csvs"), tmp_path / "server" / "csvs"):
        assert tree(landed) == tree(secured_lab.path("data/csvs"))  # every user name, no folder of ours


# --- a destination's own folder is never made unless asked; never inside its source -------------------

def test_a_missing_base_path_fails_asking_whether_the_disk_is_mounted(secured_lab, tmp_path):
    secured_lab.write_backups({"secured": {"base_path": str(tmp_path / "unmounted" / "lab"), "create": False}})
    result = secured_lab.run()
    assert result.returncode == 1
    assert (f"secured/csvs: FAILED: {tmp_path / 'unmounted' / 'lab'} does not exist: is the disk or share "
            f"mounted?") in result.stdout
    assert not (tmp_path / "unmounted").exists()
    (tmp_path / "unmounted" / "lab").mkdir(parents=True)  # mounted now: the folders below it are made
    assert secured_lab.run().returncode == 0
    assert (tmp_path / "unmounted" / "lab" / "csvs" / "a.csv").exists()


def test_a_missing_base_path_over_ssh_is_not_made_either_unless_create(secured_lab, tmp_path):
    with SshServer(tmp_path / "sshd") as server:
        remote = f"{getpass.getuser()}@127.0.0.1:{tmp_path / 'srv' / 'lab'}"
        secured_lab.write_backups({"server": {"base_path": remote, "ssh_command": server.ssh_command}},
                                  sources={"csvs": {"path": "../data/csvs"}, "scans": {"roots": ["../data"]}})
        result = secured_lab.run()
        assert result.returncode == 1
        assert result.stdout.count(f"{remote} does not exist: is the disk or share mounted?") == 3
        assert not (tmp_path / "srv").exists()
        secured_lab.write_backups({"server": {"base_path": remote, "ssh_command": server.ssh_command,
                                              "create": True}})
        assert secured_lab.run().returncode == 0
    assert (tmp_path / "srv" / "lab" / "csvs" / "a.csv").exists()


def test_a_destination_reached_through_a_symlink_into_its_source_is_refused(secured_lab):
    os.symlink(secured_lab.path("data/csvs"), secured_lab.path("into-csvs"))
    secured_lab.write_backups({"secured": {"base_path": "../into-csvs/backup"}})
    result = secured_lab.run()
    assert result.returncode == 2
    assert "is inside the source csvs" in result.stderr
    assert not secured_lab.path("data/csvs/backup").exists()


# --- a run killed outright ------------------------------------------------------------------------------

def test_killing_only_the_python_process_keeps_the_lock_until_its_rsync_ends(secured_lab):
    secured_lab.write("data/csvs/big.bin", os.urandom(4 << 20))
    secured_lab.write_backups({"secured": {"base_path": "../backups/secured", "rsync_options": ["--bwlimit=2m"]}})
    process = secured_lab.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.8)  # rsync is sending big.bin
    os.kill(process.pid, signal.SIGKILL)  # as the out-of-memory killer does: the Python process only
    process.wait()
    second = secured_lab.run()
    assert second.returncode == 3, second.stdout + second.stderr
    assert second.stderr.startswith(f"another backup is running (pid {process.pid}, started ")
    assert "that process was killed, but rsync (pid" in second.stderr
    deadline = time.monotonic() + 30
    while secured_lab.run("--dry-run").returncode == 3 and time.monotonic() < deadline:
        time.sleep(0.5)  # the orphaned rsync finishes big.bin, then lets go of the lock
    third = secured_lab.run()
    assert third.returncode == 0, third.stdout + third.stderr
    assert tree(secured_lab.path("backups/secured/csvs")) == tree(secured_lab.path("data/csvs"))


def test_a_server_killed_mid_transfer_leaves_nothing_after_the_next_run(secured_lab, tmp_path):
    big = os.urandom(6 << 20)
    secured_lab.write("data/csvs/big.bin", big)
    (tmp_path / "server").mkdir()
    with SshServer(tmp_path / "sshd") as server:
        settings = {"base_path": f"{getpass.getuser()}@127.0.0.1:{tmp_path / 'server'}",
                    "ssh_command": server.ssh_command, "sources": ["csvs"]}
        secured_lab.write_backups({"server": {**settings, "rsync_options": ["--bwlimit=2m"]}})
        process = secured_lab.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: [path for path in (tmp_path / "server").rglob(".big.bin.*") if path.stat().st_size])
        pids = server_side_rsyncs(tmp_path / "server")
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # the server side dies at once, as in a power cut
            for pid in pids:
                os.kill(pid, sig)
        process.wait(timeout=30)
        left = sorted(str(path) for path in (tmp_path / "server").rglob("*"))
        assert [path for path in left if ".big.bin." in path], left  # rsync's leftover
        secured_lab.write_backups({"server": settings})
        result = secured_lab.run()
    assert result.returncode == 0, result.stdout + result.stderr
    left = {str(path.relative_to(tmp_path / "server")) for path in (tmp_path / "server").rglob("*")}
    left -= {name for name in left if name.startswith("csvs/.backup_system/")} | {"csvs/.backup_system"}  # manifest
    assert left == {"csvs", "csvs/a.csv", "csvs/big.bin"}
    assert (tmp_path / "server" / "csvs" / "big.bin").read_bytes() == big


def test_a_server_killed_mid_transfer_says_the_connection_was_lost_not_that_ssh_could_not_connect(secured_lab, tmp_path):
    secured_lab.write("data/csvs/big.bin", os.urandom(6 << 20))
    (tmp_path / "server").mkdir()
    with SshServer(tmp_path / "sshd") as server:
        secured_lab.write_backups({"server": {"base_path": f"{getpass.getuser()}@127.0.0.1:{tmp_path / 'server'}",
                                              "ssh_command": server.ssh_command, "sources": ["csvs"],
                                              "rsync_options": ["--bwlimit=2m"]}})
        process = secured_lab.start(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: [path for path in (tmp_path / "server").rglob(".big.bin.*") if path.stat().st_size])
        for pid in server_side_rsyncs(tmp_path / "server"):
            os.kill(pid, signal.SIGKILL)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 1, out + err
    assert "server/csvs: FAILED: connection to 127.0.0.1 lost during the transfer" in out
    assert "ssh could not connect" not in out + err


def test_ssh_without_batch_mode_shows_the_real_error_not_the_known_hosts_warning(secured_lab, tmp_path):
    with SshServer(tmp_path / "sshd") as server:
        chatty = ["ssh", "-p", str(server.port), "-i", str(server.key), "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null"]  # no BatchMode, no LogLevel=ERROR
        secured_lab.write_backups({"server": {"base_path": f"nosuchuser@127.0.0.1:{tmp_path / 'server'}",
                                              "ssh_command": chatty, "sources": ["csvs"]}})
        result = secured_lab.run("-v", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "server/csvs: FAILED" in line)
    assert "Permission denied" in line and "Permanently added" not in line, line
    assert "BatchMode=yes" in result.stderr  # the logged command: a password prompt can never hang a cron run

def wait_for(found, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found():
            return
        time.sleep(0.01)
    raise AssertionError("never happened")


def server_side_rsyncs(folder):
    """The pids of the `rsync --server` processes writing into folder (ours only, found by their arguments)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"rsync", b"--server"] and any(str(folder).encode() in word for word in argv):
            pids.append(int(pid))
    return pids
