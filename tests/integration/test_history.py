"""Knowing that backups happen: every run in the history, killed runs read interrupted, status says when it is stale."""

import json
import os
import signal
import sqlite3
import time

import pytest

from tests.conftest import assert_no_traceback, pids_named, run_as_nobody

SECURED = {"secured": {"base_path": "../backups/secured"}}
BROKEN = {"broken": {"base_path": "../backups/broken", "sources": ["results"]}}


@pytest.fixture
def history_lab(lab):
    lab.write_backups(SECURED)
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/r.txt", "r\n")
    return lab


def history_of(lab, *args):
    result = lab.run("history", "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_each_run_dry_runs_too_is_recorded_newest_first_with_its_jobs(history_lab):
    assert history_lab.run().returncode == 0
    assert history_lab.run("--dry-run").returncode == 0
    runs = history_of(history_lab)
    assert [(run["dry_run"], run["state"], run["trigger"], run["exit_code"]) for run in runs] == [
        (True, "ok", "cli", 0), (False, "ok", "cli", 0)]
    jobs = {(job["destination"], job["source"]): job for job in runs[1]["jobs"]}
    assert jobs[("secured", "csvs")]["files_sent"] == 1 and jobs[("secured", "results")]["status"] == "ok"
    assert runs[1]["user"] and runs[1]["host"] and runs[1]["config_name"] == "lab"
    text = history_lab.run("history").stdout.splitlines()
    assert len(text) == 2 and "dry run ok" in text[0] and "secured/csvs ok: 1 sent" in text[1]


def test_every_failed_file_is_kept_with_its_reason_and_shown_whole(nobody_lab):
    for index in range(60):
        os.chmod(nobody_lab.write(f"data/csvs/secret-{index:02d}.csv", "private\n"), 0)
    assert run_as_nobody(nobody_lab).returncode == 1
    listed = run_as_nobody(nobody_lab, "history", "--failed", "--json", "-n", "5")
    run_id = json.loads(listed.stdout)[0]["run_id"]
    shown = run_as_nobody(nobody_lab, "history", "show", run_id[:22])
    assert shown.returncode == 0, shown.stderr
    not_sent = [line.strip() for line in shown.stdout.splitlines() if "not sent: secret-" in line]
    assert len(not_sent) == 60 and "not sent: secret-59.csv: Permission denied" in not_sent, shown.stdout
    assert "secured/csvs -> " in shown.stdout and "partial, 2 sent" in shown.stdout


def test_a_run_killed_outright_reads_interrupted_never_running(history_lab):
    history_lab.write("data/csvs/big.bin", os.urandom(16 << 20))
    history_lab.write_backups({"secured": {"base_path": "../backups/secured", "rsync_options": ["--bwlimit=2m"]}})
    process = history_lab.start(stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    deadline = time.time() + 20
    while not running_runs(history_lab):
        assert time.time() < deadline, "the run never appeared as running"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for pid in pids_named("rsync"):  # its rsync child would go on alone (see the nothing-lost issue)
        if str(history_lab.root) in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"):
            os.kill(int(pid), signal.SIGKILL)
    newest = history_of(history_lab)[0]
    assert newest["state"] == "interrupted" and newest["ended"] is None
    assert history_lab.run("history").stdout.split()[4] == "interrupted"


def running_runs(lab):
    """The runs `history` shows as running (reading the history takes in what the backup has written)."""
    return [run["run_id"] for run in history_of(lab) if run["state"] == "running"]


def test_status_is_ok_then_stale_when_now_moves_past_stale_after(history_lab):
    history_lab.write_backups(SECURED, stale_after="26h")
    assert history_lab.run().returncode == 0
    ok = history_lab.run("status")
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1].startswith("status: ok")
    later = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 27 * 3600))
    stale = history_lab.run("status", env={"BACKUP_SYSTEM_NOW": later})
    assert stale.returncode == 1
    assert "status: STALE: secured/csvs (last success 27h ago, stale after 26h), secured/results" in stale.stdout
    verdicts = json.loads(history_lab.run("status", "--json", env={"BACKUP_SYSTEM_NOW": later}).stdout)
    assert [item["verdict"] for item in verdicts["verdicts"]] == ["stale", "stale"] and not verdicts["ok"]


def test_a_destination_that_never_succeeded_is_never_and_one_that_failed_since_is_failing(history_lab):
    history_lab.write_backups({**SECURED, **BROKEN}, stale_after="7d")
    history_lab.write("backups/broken", "a file where a folder should be")
    assert history_lab.run().returncode == 1
    result = history_lab.run("status")
    assert result.returncode == 1
    assert ["broken", "results", "never", "never", "-", "failed", "0"] in [line.split() for line in
                                                                         result.stdout.splitlines()]
    assert result.stdout.splitlines()[-1] == "status: NEVER backed up: broken/results; 2 ok"
    history_lab.path("data/csvs").rename(history_lab.path("data/csvs-moved"))
    history_lab.write_backups(SECURED, stale_after="7d")
    assert history_lab.run().returncode == 1
    failing = history_lab.run("status")
    assert failing.returncode == 0
    assert failing.stdout.splitlines()[-1].startswith("status: failing: secured/csvs (last success ")


def test_every_summary_ends_with_the_verdict_line(history_lab):
    result = history_lab.run()
    assert result.stdout.splitlines()[-2:] == ["backup: all 2 jobs ok",
                                               "status: ok: all 2 destination/source pairs backed up within "
                                               "stale_after"]


def test_a_corrupt_history_is_set_aside_by_the_next_reader_and_no_run_is_lost(history_lab):
    state = history_lab.path("state")
    state.mkdir()
    (state / "history.sqlite").write_bytes(b"this is not a database" * 100)
    result = history_lab.run()
    assert result.returncode == 0 and "warning" not in result.stderr, result.stdout + result.stderr
    listed = history_lab.run("history")
    warnings = [line for line in listed.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "was damaged: set aside as" in warnings[0], listed.stderr
    assert [path.name.split(".corrupt-")[0] for path in state.glob("history.sqlite.corrupt-*")] == ["history.sqlite"]
    assert len(listed.stdout.splitlines()) == 1 and " ok " in listed.stdout
    assert_no_traceback(result)


def test_a_reader_holding_the_history_never_holds_up_a_backup(history_lab):
    assert history_lab.run().returncode == 0
    assert len(history_of(history_lab)) == 1
    holder = sqlite3.connect(history_lab.path("state/history.sqlite"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.time()
        result = history_lab.run()
        seconds = time.time() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 0 and "warning" not in result.stderr, result.stdout + result.stderr
    assert seconds < 10
    assert len(history_of(history_lab)) == 2  # the run waited in the journal for the next reader


def test_a_history_that_cannot_be_opened_never_stops_the_backup_and_status_says_unknown(history_lab):
    history_lab.path("state/history.sqlite").mkdir(parents=True)  # a folder where the file should be
    result = history_lab.run()
    assert result.returncode == 0 and "backup: all 2 jobs ok" in result.stdout, result.stdout + result.stderr
    status = history_lab.run("status")
    warnings = [line for line in status.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "cannot be used" in warnings[0], status.stderr
    assert status.returncode == 1
    assert status.stdout.splitlines()[-1] == "status: unknown: the run history cannot be read (see the warning above)"
    history_lab.path("state/history.sqlite").rmdir()
    assert [run["state"] for run in history_of(history_lab)] == ["ok"]  # kept in the journal meanwhile
    assert_no_traceback(result)


def test_a_history_that_cannot_be_written_is_one_warning_and_the_backup_still_succeeds(history_lab):
    history_lab.path("state/history.journal").mkdir(parents=True)  # a folder where the journal should be
    result = history_lab.run()
    assert result.returncode == 0 and "backup: all 2 jobs ok" in result.stdout, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "the run history cannot be written" in warnings[0], result.stderr
    assert_no_traceback(result)


def test_retry_failed_sends_exactly_the_files_that_failed_last_time(nobody_lab):
    secrets = [nobody_lab.write(f"data/csvs/secret {index}.csv", f"{index}\n") for index in range(3)]
    for secret in secrets:
        os.chmod(secret, 0)
    assert run_as_nobody(nobody_lab).returncode == 1
    for secret in secrets:
        os.chmod(secret, 0o644)
    nobody_lab.write_newer("data/csvs/a.csv", "changed since, but it did not fail\n")
    os.chown(nobody_lab.path("data/csvs/a.csv"), 65534, 65534)
    retried = run_as_nobody(nobody_lab, "--retry-failed", "--json")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    report = json.loads(retried.stdout)
    assert [(job["destination"], job["source"], sorted(job["sent"])) for job in report["jobs"]] == [
        ("secured", "csvs", ["secret 0.csv", "secret 1.csv", "secret 2.csv"])]
    assert "secured/results: nothing to retry (no file failed in its last run)" in report["notes"]
    assert nobody_lab.path("backups/secured/csvs/secret 2.csv").read_text() == "2\n"
    assert nobody_lab.path("backups/secured/csvs/a.csv").read_text() == "1,2\n"
    again = run_as_nobody(nobody_lab, "--retry-failed", "-v")
    assert again.returncode == 0 and "backup: no jobs to run" in again.stdout
    assert "secured/csvs: nothing to retry (no file failed in its last run)" in again.stdout


def test_run_records_the_pipeline_with_the_backup_after_it(history_lab):
    result = history_lab.run("run", "--pipeline", "sh -c 'exit 3'")
    assert result.returncode == 3
    after, before = history_of(history_lab)[:2]
    assert (before["trigger"], before["pipeline_command"]) == ("run-before", None)
    assert (after["trigger"], after["pipeline_command"], after["pipeline_exit"]) == ("run-after", "sh -c 'exit 3'", 3)
    assert "after the pipeline: sh -c 'exit 3' (exit 3)" in history_lab.run("history", "show", after["run_id"]).stdout
