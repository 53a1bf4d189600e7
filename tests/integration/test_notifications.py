"""Notices after a run, to real servers on 127.0.0.1: a mail server (STARTTLS, login) and an HTTP server.

What a user sees: the mail in the inbox (subject, recipients, both bodies), what Teams, Slack,
a webhook and a healthchecks-style monitor receive, a warning when a notice cannot go out,
and a backup whose exit status never depends on any of it.
"""

import json
import os
import socket
import sys
import time

import pytest

from tests.conftest import assert_no_traceback, free_port
from tests.integration.notice_servers import MailServer, SilentServer, WebServer, make_certificate, parsed

SECURED = {"secured": {"base_path": "../backups/secured"}}
PASSWORD = "s3cret-pass"
HOST = socket.gethostname()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mail_server(certificate):
    server = MailServer(*certificate, user="ada", password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def web():
    server = WebServer().start()
    yield server
    server.stop()


@pytest.fixture
def failing_lab(lab):
    """csvs can be backed up; the results folder is missing, so that job fails."""
    lab.write("data/csvs/a.csv", "1,2\n")
    return lab


@pytest.fixture
def good_lab(lab):
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/figure.svg", "<svg/>")
    return lab


def private_file(lab, relative, content):
    path = lab.write(relative, content)
    os.chmod(path, 0o600)
    return str(path)


def mail_notifier(lab, server, certificate, password=PASSWORD, **keys):
    return {"name": "lab-mail", "type": "email", "host": "127.0.0.1", "port": server.port, "security": "starttls",
            "ca_file": str(certificate[0]), "from": "backup@lab.example", "from_name": "Lab backups",
            "to": ["ada@lab.example", "bob@lab.example"], "username": "ada",
            "password_file": private_file(lab, "secrets/mail-password", password + "\n"), **keys}


def everything_said(lab, result):
    return result.stdout + result.stderr + lab.path("logs/backup.log").read_text()


def warnings_of(result):
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def notices_in_history(lab):
    newest = json.loads(lab.run("history", "--json", "-n", "1").stdout)[0]
    shown = json.loads(lab.run("history", "show", newest["run_id"], "--json").stdout)
    return [(notice["notifier"], int(notice["delivered"]), notice["detail"]) for notice in shown["notices"]]


def test_a_failed_backup_mails_every_recipient_over_starttls_saying_what_failed(failing_lab, mail_server,
                                                                                certificate):
    failing_lab.write_backups(SECURED, notifications=[mail_notifier(failing_lab, mail_server, certificate)])
    result = failing_lab.run()
    assert result.returncode == 1
    [mail] = mail_server.mails
    assert mail.recipients == ["ada@lab.example", "bob@lab.example"] and mail_server.logins == ["ada"]
    message = parsed(mail)
    assert message["Subject"] == f"[backup lab] FAILED on {HOST}"
    assert message["From"] == "Lab backups <backup@lab.example>"
    assert message["To"] == "ada@lab.example, bob@lab.example"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    missing = f"source folder {failing_lab.path('data/results')} does not exist"
    assert f"secured/results: FAILED: {missing}" in text
    assert missing in html and "<td>results</td>" in html
    assert "backup: 1 of 2 jobs FAILED" in text and "status: NEVER backed up: secured/results" in text
    assert any(line.split()[:3] == ["secured", "csvs", "1"] for line in text.splitlines())  # the job table
    assert PASSWORD.encode() not in mail.data and PASSWORD not in everything_said(failing_lab, result)
    assert "notice lab-mail (email) delivered" in failing_lab.path("logs/backup.log").read_text()
    assert notices_in_history(failing_lab) == [("lab-mail", 1, f"127.0.0.1:{mail_server.port} accepted it for "
                                                               "2 recipients")]


@pytest.mark.parametrize("trouble", ["a wrong password", "the mail server is down"])
def test_a_mail_that_cannot_go_out_is_one_warning_and_the_backups_result_stands(good_lab, mail_server, certificate,
                                                                              trouble):
    notifier = mail_notifier(good_lab, mail_server, certificate, on=["success"],
                             password="not-it" if trouble == "a wrong password" else PASSWORD)
    if trouble == "the mail server is down":
        notifier["port"] = free_port()
    good_lab.write_backups(SECURED, notifications=[notifier])
    result = good_lab.run()
    assert result.returncode == 0 and "backup: all 2 jobs ok" in result.stdout
    words = (f"127.0.0.1:{notifier['port']} refused the login of ada: 535" if trouble == "a wrong password"
             else f"cannot reach 127.0.0.1:{notifier['port']}: connection refused")
    [warning] = warnings_of(result)
    assert warning.startswith(f"warning: notice lab-mail (email) not delivered: {words}")
    assert warning.endswith("(the backup's result stands)")
    assert mail_server.mails == [] and "not-it" not in everything_said(good_lab, result)
    [(name, delivered, detail)] = notices_in_history(good_lab)
    assert (name, delivered) == ("lab-mail", 0) and words in detail
    assert_no_traceback(result)


def web_notifiers(lab, web):
    """Teams (URL in a private file), Slack (URL in the environment), a webhook, a ping; each URL ends in a token."""
    return [
        {"name": "teams", "type": "teams",
         "url_file": private_file(lab, "secrets/teams-url", web.url("/teams/T0KEN-teams"))},
        {"name": "slack", "type": "slack", "url_env": "LAB_SLACK_URL"},
        {"name": "hook", "type": "webhook", "url": web.url("/hook")},
        {"name": "monitor", "type": "ping", "url_file": private_file(lab, "secrets/ping-url",
                                                                     web.url("/ping/uuid-1234"))},
    ]


def test_a_failed_run_reaches_teams_slack_a_webhook_and_the_monitor_and_no_url_is_shown(failing_lab, web):
    failing_lab.write_backups(SECURED, notifications=web_notifiers(failing_lab, web))
    result = failing_lab.run(env={"LAB_SLACK_URL": web.url("/slack/T0KEN-slack")})
    assert result.returncode == 1
    assert web.paths()[0] == "/ping/uuid-1234/start"
    assert sorted(web.paths()[1:]) == ["/hook", "/ping/uuid-1234/fail", "/slack/T0KEN-slack", "/teams/T0KEN-teams"]
    subject = f"[backup lab] FAILED on {HOST}"
    [attachment] = web.json("/teams/T0KEN-teams")["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    title, text = attachment["content"]["body"]
    assert title["text"] == subject and "secured/results: **failed**" in text["text"]
    slack = web.json("/slack/T0KEN-slack")
    assert slack["text"] == subject and slack["blocks"][0]["text"]["text"] == subject
    assert "secured/results*: *FAILED*" not in slack["blocks"][1]["text"]["text"]
    assert "secured/results: *FAILED*: source folder" in slack["blocks"][1]["text"]["text"]
    hook = web.json("/hook")
    assert (hook["verdict"], hook["subject"], hook["report"]["exit_code"]) == ("FAILED", subject, 1)
    assert {job["source"]: job["status"] for job in hook["report"]["jobs"]} == {"csvs": "ok", "results": "failed"}
    assert hook["status"]["line"] == "status: NEVER backed up: secured/results; 1 ok"
    [fail] = [request for request in web.requests if request.path.endswith("/fail")]
    assert b"secured/results: FAILED: source folder" in fail.body
    said = everything_said(failing_lab, result)
    assert "T0KEN" not in said and "uuid-1234" not in said and warnings_of(result) == []


def test_a_good_run_pings_start_then_success_and_bothers_nobody_else(good_lab, web):
    good_lab.write_backups(SECURED, notifications=web_notifiers(good_lab, web))
    result = good_lab.run(env={"LAB_SLACK_URL": web.url("/slack/T0KEN-slack")})
    assert result.returncode == 0
    assert web.paths() == ["/ping/uuid-1234/start", "/ping/uuid-1234"]


def test_a_webhook_answering_500_and_one_never_answering_are_warnings_within_their_timeout(good_lab, web):
    silent = SilentServer()
    web.statuses["/hook"] = 500
    good_lab.write_backups(SECURED, notifications=[
        {"name": "hook", "type": "webhook", "url": web.url("/hook"), "on": ["success"]},
        {"name": "mute", "type": "webhook", "url": f"http://127.0.0.1:{silent.port}/x", "on": ["success"],
         "timeout": 1}])
    started = time.monotonic()
    result = good_lab.run()
    silent.stop()
    assert result.returncode == 0 and time.monotonic() - started < 15
    assert sorted(warnings_of(result)) == [
        "warning: notice hook (webhook) not delivered: the server answered HTTP 500 Internal Server Error: no "
        "(the backup's result stands)",
        "warning: notice mute (webhook) not delivered: no answer from the server within 1 s "
        "(the backup's result stands)"]
    assert sorted((name, delivered) for name, delivered, _ in notices_in_history(good_lab)) == [
        ("hook", 0), ("mute", 0)]


def test_a_dry_run_sends_nothing_unless_asked_with_notify(good_lab, web):
    good_lab.write_backups(SECURED, notifications=[
        {"name": "hook", "type": "webhook", "url": web.url("/hook"), "on": ["success", "failure"]},
        {"name": "monitor", "type": "ping", "url": web.url("/ping/p")}])
    assert good_lab.run("--dry-run").returncode == 0
    assert web.requests == []
    assert good_lab.run("--dry-run", "--notify").returncode == 0
    assert web.paths()[0] == "/ping/p/start" and sorted(web.paths()[1:]) == ["/hook", "/ping/p"]
    hook = web.json("/hook")
    assert hook["report"]["dry_run"] is True and hook["subject"] == f"[backup lab] OK on {HOST} (dry run)"


def test_a_destination_the_lab_never_backs_up_is_told_as_stale(good_lab, web):
    good_lab.write_backups({**SECURED, "offsite": {"base_path": "../backups/offsite"}}, notifications=[
        {"name": "hook", "type": "webhook", "url": web.url("/hook")}])
    result = good_lab.run("--only", "secured")
    assert result.returncode == 0
    hook = web.json("/hook")
    assert hook["verdict"] == "STALE" and hook["subject"] == f"[backup lab] STALE on {HOST}"
    assert hook["status"]["line"] == "status: NEVER backed up: offsite/csvs, offsite/results; 2 ok"


def test_run_tells_the_pipelines_exit_status_when_the_pipeline_fails(good_lab, web):
    good_lab.write_backups(SECURED, notifications=[{"name": "hook", "type": "webhook", "url": web.url("/hook")}])
    result = good_lab.run("run", "--pipeline", f"{sys.executable} -c 'import sys; sys.exit(3)'")
    assert result.returncode == 3
    hook = web.json("/hook")  # the backup before the pipeline was fine: nothing to tell then
    assert hook["verdict"] == "FAILED" and hook["pipeline"]["exit_code"] == 3
    assert hook["report"]["ok"] is True


def test_notify_test_says_what_reached_each_notifier_and_exits_1_when_one_did_not(good_lab, web, mail_server,
                                                                                 certificate):
    web.statuses["/broken"] = 500
    good_lab.write_backups(SECURED, notifications=[
        mail_notifier(good_lab, mail_server, certificate),
        {"name": "hook", "type": "webhook", "url": web.url("/hook")},
        {"name": "broken", "type": "webhook", "url": web.url("/broken")}])
    result = good_lab.run("notify", "test")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"lab-mail (email): delivered: 127.0.0.1:{mail_server.port} accepted it for 2 recipients",
        "hook (webhook): delivered: HTTP 200",
        "broken (webhook): NOT delivered: the server answered HTTP 500 Internal Server Error: no"]
    [mail] = mail_server.mails
    assert parsed(mail)["Subject"] == f"[backup lab] TEST on {HOST}"
    assert "a test message" in parsed(mail).get_body(("plain",)).get_content()
    assert web.json("/hook")["test"] is True
    one = good_lab.run("notify", "test", "hook")
    assert (one.returncode, one.stdout) == (0, "hook (webhook): delivered: HTTP 200\n")
