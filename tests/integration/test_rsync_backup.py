"""Backing up to an rsync destination with the real command and real rsync."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import SCRIPT, Lab, as_nobody_argv, tree

AWKWARD_NAMES = [*conftest.AWKWARD_NAMES, 'double"quote.csv', "star*.csv", "$(touch pwned).csv", "back\\slash.csv",
                 "new\nline.csv"]

CONFIG = """\
backups:
  name: lab
  log_file: ../logs/backup.log
  state_dir: ../state
  sources:
    csvs: {path: ../data/csvs, exclude: ["*.tmp"]}
    results: {path: ../data/results}
  destinations:
    secured: {base_path: ../backups/secured}
"""


@pytest.fixture
def secured_lab(lab):
    lab.write_config(CONFIG)
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/figure.png", bytes(range(256)) * 40)
    return lab


def json_report(result):
    assert result.stdout.lstrip().startswith("{"), result.stdout + result.stderr
    return json.loads(result.stdout)


def job(report, destination, source):
    return next(item for item in report["jobs"] if (item["destination"], item["source"]) == (destination, source))


def assert_no_traceback(result):
    assert "Traceback" not in result.stdout + result.stderr


def test_first_backup_copies_every_file_byte_identical_with_awkward_names(secured_lab):
    for index, name in enumerate(AWKWARD_NAMES):
        secured_lab.write(f"data/csvs/{name}", f"{index},{name}\n")
    result = secured_lab.run()
    assert result.returncode == 0, result.stderr
    assert tree(secured_lab.path("backups/secured/csvs")) == tree(secured_lab.path("data/csvs"))
    assert tree(secured_lab.path("backups/secured/results")) == tree(secured_lab.path("data/results"))
    row = secured_lab.summary_line(result.stdout, "secured", "csvs").split()
    assert row[2:5] == [str(len(AWKWARD_NAMES) + 1), "0", "0"]
    assert not secured_lab.path("touch pwned").exists() and not Path("pwned").exists()


def test_second_run_sends_only_the_changed_and_the_new_csv(secured_lab):
    secured_lab.write("data/csvs/b.csv", "b\n")
    assert secured_lab.run().returncode == 0
    unchanged = json_report(secured_lab.run("--json"))
    assert job(unchanged, "secured", "csvs")["files_sent"] == 0
    assert job(unchanged, "secured", "csvs")["files_unchanged"] == 2

    secured_lab.write_newer("data/csvs/a.csv", "3,4\n")
    secured_lab.write("data/csvs/new.csv", "new\n")
    report = json_report(secured_lab.run("--json"))
    csvs = job(report, "secured", "csvs")
    assert sorted(csvs["sent"]) == ["a.csv", "new.csv"]
    assert (csvs["files_sent"], csvs["bytes_sent"], csvs["files_unchanged"]) == (2, 8, 1)
    assert secured_lab.path("backups/secured/csvs/a.csv").read_text() == "3,4\n"
    assert job(report, "secured", "results")["files_sent"] == 0


def test_a_file_newer_at_the_destination_is_never_overwritten(secured_lab):
    assert secured_lab.run().returncode == 0
    secured_lab.write("backups/secured/csvs/a.csv", "edited on the backup disk\n", mtime=time.time() + 3600)
    secured_lab.write("data/csvs/a.csv", "older local\n", mtime=time.time() - 3600)
    assert secured_lab.run().returncode == 0
    assert secured_lab.path("backups/secured/csvs/a.csv").read_text() == "edited on the backup disk\n"


def test_excluded_files_stay_behind(secured_lab):
    secured_lab.write("data/csvs/scratch.tmp", "temp")
    secured_lab.write("data/csvs/sub/more.tmp", "temp")
    assert secured_lab.run().returncode == 0
    assert sorted(tree(secured_lab.path("backups/secured/csvs"))) == ["a.csv"]


def test_dry_run_changes_nothing_and_lists_what_would_be_sent(secured_lab):
    result = secured_lab.run("--dry-run")
    assert result.returncode == 0, result.stderr
    assert not secured_lab.path("backups").exists()
    assert "secured/csvs: would send a.csv" in result.stdout
    assert "secured/results: would send figure.png" in result.stdout
    assert "dry run (nothing changed)" in result.stdout


def test_nothing_is_deleted_at_the_destination(secured_lab):
    assert secured_lab.run().returncode == 0
    secured_lab.path("data/csvs/a.csv").unlink()
    assert secured_lab.run().returncode == 0
    assert secured_lab.path("backups/secured/csvs/a.csv").read_text() == "1,2\n"


def test_one_failing_destination_does_not_stop_the_others_and_the_run_exits_1(secured_lab):
    secured_lab.write("blocker", "a file where a folder should be")
    secured_lab.write_config(CONFIG.replace(
        "    secured: {base_path: ../backups/secured}\n",
        "    broken: {base_path: ../blocker/inside}\n    secured: {base_path: ../backups/secured}\n"))
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


@pytest.fixture
def nobody_lab():
    """A lab owned by the unprivileged user `nobody`, so file permissions apply as for a lab member."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the backup as another user")
    root = tempfile.mkdtemp(prefix="lab-nobody-")
    os.chmod(root, 0o755)
    lab = Lab(Path(root) / "lab")
    lab.write_config(CONFIG)
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/csvs/z.csv", "9\n")
    lab.write("data/results/figure.png", b"png")
    subprocess.run(["chown", "-R", "65534:65534", root], check=True)
    yield lab
    shutil.rmtree(root)


def run_as_nobody(lab, *args):
    argv = [*as_nobody_argv(lab.root.parent / "copies" / str(len(args))), "--config", str(lab.config), *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=lab.root, timeout=60)


def test_an_unreadable_file_is_named_the_rest_is_sent_and_the_run_exits_1(nobody_lab):
    secret = nobody_lab.write("data/csvs/secret of mine.csv", "private\n")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    result = run_as_nobody(nobody_lab, "--json")
    assert result.returncode == 1, result.stderr
    csvs = job(json_report(result), "secured", "csvs")
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
    secured_lab.write_config(CONFIG.replace("  name: lab\n", "  name: lab\n  enabled: false\n"))
    result = secured_lab.run()
    assert result.returncode == 0
    assert "backups are disabled (backups.enabled: false)" in result.stdout
    assert not secured_lab.path("backups").exists()


def test_only_selects_destinations_and_an_unknown_name_is_exit_2(secured_lab):
    secured_lab.write_config(CONFIG + "    other: {base_path: ../backups/other}\n")
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


def test_an_interrupted_transfer_never_leaves_a_file_under_its_final_name(secured_lab):
    big = os.urandom(1 << 20) * 24
    secured_lab.write("data/csvs/big.bin", big)
    secured_lab.write_config(CONFIG.replace("base_path: ../backups/secured}",
                                            "base_path: ../backups/secured, rsync_options: ['--bwlimit=4m']}"))
    argv = [sys.executable, str(SCRIPT), "--config", str(secured_lab.config), "--json"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    partial = secured_lab.path("backups/secured/csvs")
    deadline = time.time() + 30
    while not any(name.startswith(".big.bin") for name in _names(partial)) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 130
    assert json.loads(out) == {"ok": False, "exit_code": 130, "error": "interrupted"}
    assert "ERROR   interrupted: the run stopped before its end" in \
        secured_lab.path("logs/backup.log").read_text()
    assert not (partial / "big.bin").exists()
    kept = (partial / ".rsync-partial" / "big.bin").stat().st_size
    assert 0 < kept < len(big)

    secured_lab.write_config(CONFIG)
    result = secured_lab.run()
    assert result.returncode == 0, result.stderr
    assert (partial / "big.bin").read_bytes() == big
    assert not (partial / ".rsync-partial").exists()
    assert not [name for name in _names(partial) if name.startswith(".big.bin")]


def _names(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


def test_a_transfer_past_its_timeout_fails_only_that_job(secured_lab):
    secured_lab.write("data/csvs/big.bin", b"x" * (8 << 20))
    secured_lab.write_config(CONFIG.replace(
        "base_path: ../backups/secured}", "base_path: ../backups/secured, timeout: 1, rsync_options: ['--bwlimit=1m']}"))
    result = secured_lab.run()
    assert result.returncode == 1
    assert "secured/csvs: FAILED: rsync stopped after the 1 s timeout" in result.stdout
    assert_no_traceback(result)
    csvs = job(json_report(secured_lab.run("--json")), "secured", "csvs")
    assert csvs["sent"] == [] and csvs["bytes_sent"] == 0  # the cut-off big.bin is not counted as sent
