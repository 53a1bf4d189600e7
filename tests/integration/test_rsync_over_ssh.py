"""The `secured` destination: rsync to user@host:/path through a real ssh server on 127.0.0.1."""

import getpass
import json

import pytest
import yaml

from tests.conftest import tree
from tests.integration.sshd import SshServer

ODD_NAMES = ["plain.csv", "with space.csv", "it's.csv", "a;b.csv", "日本.csv", "-leading-dash.csv",
             "sub folder/nested; file.csv"]


@pytest.fixture
def ssh_server(tmp_path):
    with SshServer(tmp_path / "sshd") as server:
        yield server


@pytest.fixture
def csvs(lab):
    """data/csvs with awkward names; returns the folder."""
    for index, name in enumerate(ODD_NAMES):
        lab.write(f"data/csvs/{name}", f"id,value\n{index},{name}\n")
    return lab.path("data/csvs")


def remote_disk(tmp_path):
    return tmp_path / "remote-disk"


def secured_destination(server, tmp_path):
    """The `secured` destination: over ssh, as this user, to this machine's remote-disk folder."""
    return {"base_path": f"{getpass.getuser()}@127.0.0.1:{remote_disk(tmp_path)}",
            "ssh_command": server.ssh_command}


def write_config(lab, csvs, destinations):
    lab.write_config(yaml.safe_dump({"backups": {"sources": {"csvs": {"path": str(csvs)}},
                                                 "destinations": destinations}}))


def report(completed):
    assert completed.stdout, completed.stderr
    return json.loads(completed.stdout)


def assert_no_traceback(completed):
    assert "Traceback" not in completed.stdout + completed.stderr


def test_backup_over_ssh_copies_every_file_then_sends_nothing_the_second_time(lab, csvs, ssh_server, tmp_path):
    write_config(lab, csvs, {"secured": secured_destination(ssh_server, tmp_path)})

    first = lab.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert tree(remote_disk(tmp_path) / "csvs") == tree(csvs)
    assert len(tree(csvs)) == len(ODD_NAMES)

    second = report(lab.run("--json"))
    assert second["ok"] is True
    [job] = second["jobs"]
    assert (job["destination"], job["source"], job["status"]) == ("secured", "csvs", "ok")
    assert job["files_sent"] == 0
    assert job["files_unchanged"] == len(ODD_NAMES)


def test_ssh_server_gone_fails_the_job_with_ssh_reason(lab, csvs, ssh_server, tmp_path):
    write_config(lab, csvs, {"secured": secured_destination(ssh_server, tmp_path)})
    ssh_server.stop()

    completed = lab.run()

    assert completed.returncode == 1, completed.stdout + completed.stderr
    failures = [line for line in completed.stdout.splitlines() if line.startswith("secured/csvs: FAILED: ")]
    assert failures, completed.stdout
    assert "Connection refused" in failures[0]
    assert_no_traceback(completed)
    assert not remote_disk(tmp_path).exists()


def test_ssh_reason_is_one_clean_line(lab, csvs, ssh_server, tmp_path):
    write_config(lab, csvs, {"secured": secured_destination(ssh_server, tmp_path)})
    ssh_server.stop()

    [job] = report(lab.run("--json"))["jobs"]

    assert "Connection refused" in job["error"]
    assert "\r" not in job["error"]


def test_ssh_server_gone_does_not_stop_the_local_destination(lab, csvs, ssh_server, tmp_path):
    local = tmp_path / "usb-disk"
    write_config(lab, csvs, {"secured": secured_destination(ssh_server, tmp_path), "usb": {"base_path": str(local)}})
    ssh_server.stop()

    completed = lab.run("--json")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    jobs = {job["destination"]: job for job in report(completed)["jobs"]}
    assert jobs["secured"]["status"] == "failed"
    assert "Connection refused" in jobs["secured"]["error"]
    assert jobs["usb"]["status"] == "ok"
    assert jobs["usb"]["files_sent"] == len(ODD_NAMES)
    assert tree(local / "csvs") == tree(csvs)
    assert_no_traceback(completed)
