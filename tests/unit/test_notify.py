"""What a notice says and when one is sent, without a server: the words, the events, the secrets kept out."""

import os

import pytest

from backup_system.config import load_config
from backup_system.notifiers.message import compose
from backup_system.notifiers.notice import NoticeFailed, read_secret
from backup_system.notify import event_for, run_events
from backup_system.record import JobRecord, RunRecord
from backup_system.status import Verdict
from tests.unit.test_startup import CONFIG as STARTUP_CONFIG
from tests.unit.test_startup import modules_after_a_backup

CONFIG = """\
backups:
  name: lab
  sources:
    csvs: {path: data}
  destinations:
    secured: {base_path: backup, create: true}
    box: {remote: box, rclone_env: {RCLONE_CONFIG_BOX_PASS: hunter2-secret}}
  notifications:
    - {name: hook, type: webhook, url: 'https://hooks.lab.example/T0KEN'}
"""
NOW = 1_800_000_000.0


@pytest.fixture
def config(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    return load_config(str(tmp_path / "config.yaml"))


def job(source="csvs", failures=(), error=None, destination="secured"):
    return JobRecord(destination, source, f"backup/{source}", "rsync", False, () if failures or error else ("a.csv",),
                     4, 0, tuple(failures), 0, error, "failed" if error else None, 0.2)


def record(*jobs, dry_run=False, pipeline=None):
    return RunRecord("20261224T020000-abcd", "backup", dry_run, "schedule", "config.yaml", "lab", NOW - 90, NOW,
                     jobs, (), (), False, pipeline)


def verdict(destination, state, age_days=1):
    return Verdict(destination, "csvs", state, NOW - age_days * 86400 if state != "never" else None, NOW, "ok", None,
                   [], 7 * 86400)


def test_a_failure_notice_lists_the_first_50_failed_files_and_says_how_many_more(config):
    failures = [(f"run {index:02}.csv", "Permission denied") for index in range(53)]
    notice = compose(config, "failure", [verdict("secured", "ok")], NOW, record(job(failures=failures)))
    assert notice.subject.startswith("[backup lab] FAILED on ") and notice.verdict == "FAILED"
    for text in (notice.text, notice.html, notice.slack, notice.teams):
        assert "run 49.csv" in text and "run 50.csv" not in text
    assert "  secured/csvs: run 00.csv: Permission denied\n" in notice.text
    assert "... and 3 more (backup_system.py history show 20261224T020000-abcd)" in notice.text
    assert "backup: 1 of 1 job FAILED" in notice.text and "took 90s" in notice.text


def test_a_notice_of_run_names_the_pipelines_exit_status(config):
    notice = compose(config, "failure", [], NOW, record(job(), pipeline=(("python3", "analyze.py"), 3)))
    assert "Pipeline: python3 analyze.py exited with 3 (FAILED)." in notice.text
    assert notice.document["pipeline"] == {"command": "python3 analyze.py", "exit_code": 3}


def test_a_dry_run_says_so_in_the_subject_and_a_stale_pair_is_named_with_its_age(config):
    found = [verdict("secured", "stale", age_days=10)]
    notice = compose(config, "stale", found, NOW, record(job(), dry_run=True))
    assert notice.subject.endswith(" (dry run)") and "[backup lab] STALE on " in notice.subject
    assert "status: STALE: secured/csvs (last success 10d ago, stale after 7d)" in notice.text


def test_a_destination_secret_in_an_error_never_reaches_any_message(config):
    leaked = job(destination="box", error="rclone said: bad password hunter2-secret")
    notice = compose(config, "failure", [], NOW, record(leaked))
    for text in (notice.subject, notice.text, notice.html, notice.slack, notice.teams, repr(notice.document)):
        assert "hunter2-secret" not in text and "T0KEN" not in text
    assert "bad password ***" in notice.text


def test_html_and_slack_escape_what_a_file_name_holds(config):
    notice = compose(config, "failure", [], NOW, record(job(failures=[("<b>&.csv", "Permission denied")])))
    assert "&lt;b&gt;&amp;.csv" in notice.html and "<b>&.csv" not in notice.html
    assert "&lt;b&gt;&amp;.csv" in notice.slack
    assert "<b>&.csv" in notice.text


def test_a_labs_own_template_wins_and_the_others_come_from_the_package(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notice_subject.txt.j2").write_text("{{ name }} backup: {{ verdict }}\n")
    (tmp_path / "config.yaml").write_text(CONFIG.replace("  name: lab\n", "  name: lab\n  templates_dir: mine\n"))
    notice = compose(load_config(str(tmp_path / "config.yaml")), "success", [], NOW, record(job()))
    assert notice.subject == "lab backup: OK"
    assert notice.text.startswith("backup: the 1 job ok\n")


def test_a_broken_template_of_the_lab_is_one_line_naming_it(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notice.txt.j2").write_text("fine\n{% if run %}\n{{ run.result }\n")
    (tmp_path / "config.yaml").write_text(CONFIG.replace("  name: lab\n", "  name: lab\n  templates_dir: mine\n"))
    with pytest.raises(NoticeFailed) as caught:
        compose(load_config(str(tmp_path / "config.yaml")), "success", [], NOW, record(job()))
    assert str(caught.value).startswith(f"template {tmp_path}/mine/notice.txt.j2:3: ")


@pytest.mark.parametrize("on, events, expected", [
    (("failure", "stale"), {"failure", "stale"}, "failure"),
    (("stale",), {"failure", "stale"}, "stale"),
    (("failure", "stale"), {"success"}, None),
    (("success", "failure"), {"success", "stale"}, "success"),
])
def test_a_notice_is_worded_by_the_most_severe_event_its_notifier_tells(config, on, events, expected):
    notifier = config.notifications[0]._replace(on=on)
    assert event_for(notifier, events) == expected


def test_a_run_fails_when_a_job_or_the_pipeline_failed_and_is_stale_when_a_pair_is_unprotected():
    fresh, old = [verdict("secured", "ok")], [verdict("secured", "ok"), verdict("box", "never")]
    assert run_events(record(job()), fresh) == {"success"}
    assert run_events(record(job(error="disk full")), fresh) == {"failure"}
    assert run_events(record(job(), pipeline=(("make",), 2)), old) == {"failure", "stale"}


def test_a_secret_file_that_others_can_read_is_refused(tmp_path):
    secret = tmp_path / "url"
    secret.write_text("https://hooks.lab.example/T0KEN\n")
    os.chmod(secret, 0o644)
    with pytest.raises(NoticeFailed) as caught:
        read_secret(str(secret), None, "the URL")
    assert str(caught.value) == f"{secret} (the URL) can be read by others: run chmod 600 {secret}"
    os.chmod(secret, 0o600)
    assert read_secret(str(secret), None, "the URL") == "https://hooks.lab.example/T0KEN"


def test_a_run_without_notifiers_loads_no_notifier_type_no_template_engine_and_no_delivery_code(tmp_path):
    (tmp_path / "config.yaml").write_text(STARTUP_CONFIG)
    (tmp_path / "data").mkdir()
    modules_after_a_backup(tmp_path)
    status, modules = modules_after_a_backup(tmp_path)
    assert status == 0 and "backup_system.notify" in modules
    loaded = {name for name in modules if name.startswith("backup_system.notifiers.")}
    assert loaded == set() and not modules & {"jinja2", "smtplib", "ssl", "urllib.request", "email.message"}
