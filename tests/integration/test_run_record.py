"""What a finished run leaves for history and notices: a frozen record, steps that run after it, typed failures."""

import io

import pytest

from backup_system import run_backup
from tests.conftest import free_port

CONFIG = """\
backups:
  log_file: logs/backup.log
  sources:
    csvs: {path: ../data/csvs}
  destinations:
    secured: {base_path: ../backups/secured, create: true}
"""


@pytest.fixture
def record_lab(lab):
    lab.write_config(CONFIG)
    lab.write("data/csvs/a.csv", "1,2\n")
    return lab


def test_a_finished_run_is_a_frozen_record_of_its_jobs(record_lab):
    record = run_backup(str(record_lab.config))
    assert record.ok and record.exit_code == 0 and record.action == "backup" and not record.dry_run
    assert record.started <= record.ended and len(record.run_id) > 16
    job = record.jobs[0]
    assert (job.destination, job.source, job.transport, job.sent, job.error, job.error_kind) == (
        "secured", "csvs", "rsync", ("a.csv",), None, None)
    with pytest.raises(AttributeError):
        job.error = "changed afterwards"
    with pytest.raises(AttributeError):
        record.jobs = ()
    assert run_backup(str(record_lab.config)).run_id != record.run_id


def test_each_after_run_step_sees_the_record_and_a_failing_one_is_only_a_warning(record_lab):
    seen = []

    def broken_notice(config, record, log):
        raise ConnectionError("mail server said no")

    def history(config, record, log):
        seen.append((record.run_id, record.jobs[0].files_sent))

    stream = io.StringIO()
    record = run_backup(str(record_lab.config), after_run=[broken_notice, history], stream=stream)
    assert record.ok and seen == [(record.run_id, 1)]
    assert "warning: broken_notice failed: mail server said no (the backup's result stands)" \
        in stream.getvalue()
    assert "broken_notice failed" in record_lab.path("config/logs/backup.log").read_text()


@pytest.mark.parametrize("destination, kind, words", [
    ("{base_path: 'ada@127.0.0.1:/srv/lab', ssh_command: [ssh, -p, 'PORT', -o, BatchMode=yes]}", "unreachable",
     "connection refused"),
    ("{remote: nowhere, rclone_config: missing.conf}", "not-found", "rclone config file"),
    ("{base_path: 'smb://127.0.0.1/share', port: PORT}", "unreachable", "cannot reach //127.0.0.1/share"),
])
def test_a_failed_job_says_what_kind_of_failure_it_was(record_lab, destination, kind, words):
    record_lab.write_config(CONFIG.replace("{base_path: ../backups/secured, create: true}", destination.replace("PORT",
                                                                                              str(free_port()))))
    job = run_backup(str(record_lab.config)).jobs[0]
    assert job.status == "failed" and job.error_kind == kind and words in job.error, job.error


def test_a_missing_source_is_not_found_and_the_log_prefix_ends_with_its_job(record_lab):
    import shutil

    shutil.rmtree(record_lab.path("data/csvs"))
    job = run_backup(str(record_lab.config)).jobs[0]
    assert job.error_kind == "not-found"
    log = record_lab.path("config/logs/backup.log").read_text().splitlines()
    assert "secured/csvs: FAILED: source folder" in log[-2]
    assert "backup: 1 of 1 job FAILED" in log[-1] and "secured/csvs:" not in log[-1]
