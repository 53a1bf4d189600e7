"""Backing up to a local rsync destination, with the real command and real rsync: what the contract misses.

The stories every destination shares (first backup, no change, changed and new, newer kept, awkward
names, exclude, nothing deleted, dry run, server down, stopped midway) run in test_transport_contract.py;
here: a failing job or file among working ones, locks, --only, --json, the log and rsync's timeout.
"""

import fcntl
import json
import os
import shutil

import pytest

from tests.conftest import assert_no_traceback, job_of, run_as_nobody, tree

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


def test_a_transfer_past_its_timeout_fails_only_that_job(secured_lab):
    secured_lab.write("data/csvs/big.bin", b"x" * (8 << 20))
    secured_lab.write_backups({"secured": {"base_path": "../backups/secured", "timeout": 1,
                                           "rsync_options": ["--bwlimit=1m"]}})
    result = secured_lab.run()
    assert result.returncode == 1
    assert "secured/csvs: FAILED: rsync stopped after the 1 s timeout" in result.stdout
    assert_no_traceback(result)
    csvs = job_of(secured_lab.run("--json"), "secured", "csvs")
    assert csvs["sent"] == [] and csvs["bytes_sent"] == 0  # the cut-off big.bin is not counted as sent
