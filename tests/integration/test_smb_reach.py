"""Checking an smb destination before trusting it, against a real Samba server on 127.0.0.1: `config validate
--reach` lists the target folder in one smbclient session and writes nothing; and a destination addressed by a
port in its smb:// URL alone (smb://127.0.0.1:<port>/share/lab) talks to that port.
"""

import os
import signal
import time

import pytest

from tests.conftest import assert_no_traceback, job_of, tree
from tests.integration.smbd import SambaServer

NOT_THERE_YET = "reachable; the folder is not there yet (a run makes it)"


@pytest.fixture
def samba(tmp_path):
    with SambaServer(tmp_path / "samba") as server:
        yield server


def configure(lab, samba, share="backup", password=None, url_port=False, **options):
    """The lab's one destination `smb` on the test server; the port as `port:`, or only in the URL."""
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials", password=password)
    url = samba.url(share, "lab")
    where = {"base_path": url.replace(samba.host, f"{samba.host}:{samba.port}", 1)} if url_port else \
        {"base_path": url, "port": samba.port}
    lab.write_backups({"smb": {**where, "credentials_file": str(credentials), **options}})


@pytest.fixture
def reach_lab(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/figure.png", b"png")
    configure(lab, samba)
    return lab


def reach(lab):
    return lab.run("config", "validate", "--reach", "--config", str(lab.config), timeout=60)


def line_of(result, source):
    """The --reach line of one job (smb/<source> -> <target>: <answer>)."""
    found = [line for line in result.stdout.splitlines() if line.startswith(f"smb/{source} ")
             or line.startswith(f"smb (disabled)/{source} ")]
    assert len(found) == 1, result.stdout + result.stderr
    return found[0]


def test_a_folder_a_run_will_make_is_reachable_and_nothing_is_written(reach_lab, samba):
    before = tree(samba.share_path("backup"))
    result = reach(reach_lab)
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result, "csvs").endswith(f"smb://127.0.0.1/backup/lab/csvs: {NOT_THERE_YET}")
    assert os.listdir(samba.share_path("backup")) == [] and tree(samba.share_path("backup")) == before


def test_a_folder_that_is_there_is_reachable_even_on_a_disabled_destination(reach_lab, samba):
    configure(reach_lab, samba, enabled=False)
    (samba.share_path("backup") / "lab" / "csvs").mkdir(parents=True)
    result = reach(reach_lab)
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result, "csvs").endswith(": reachable")
    assert line_of(result, "results").endswith(NOT_THERE_YET)


def test_a_wrong_password_is_refused_as_a_run_says_it(reach_lab, samba):
    configure(reach_lab, samba, password="Wr0ng-Pa55word")
    result = reach(reach_lab)
    assert result.returncode == 1
    assert "refused: authentication failed for smbtest at //127.0.0.1/backup" in line_of(result, "csvs")
    assert "Wr0ng-Pa55word" not in result.stdout + result.stderr
    assert_no_traceback(result)


def test_a_share_that_does_not_exist_is_not_found(reach_lab, samba):
    configure(reach_lab, samba, share="nosuchshare")
    result = reach(reach_lab)
    assert result.returncode == 1
    assert "not found: share 'nosuchshare' not found on 127.0.0.1" in line_of(result, "csvs")


def test_a_server_that_is_down_is_unreachable_at_once(reach_lab, samba):
    samba.stop()
    started = time.monotonic()
    result = reach(reach_lab)
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert f"unreachable: cannot reach //127.0.0.1/backup (port {samba.port})" in line_of(result, "csvs")
    assert "not tried" in line_of(result, "results")  # one dead server is contacted once


def test_a_server_that_does_not_answer_is_unreachable_within_connect_timeout(reach_lab, samba):
    configure(reach_lab, samba, connect_timeout=2)
    os.kill(samba.process.pid, signal.SIGSTOP)  # the kernel still accepts the connection; smbd never answers
    try:
        started = time.monotonic()
        result = reach(reach_lab)
        elapsed = time.monotonic() - started
    finally:
        os.kill(samba.process.pid, signal.SIGCONT)
    assert result.returncode == 1
    assert "unreachable: cannot reach //127.0.0.1/backup" in line_of(result, "csvs")
    assert elapsed < 20, f"took {elapsed:.1f} s with connect_timeout 2"


def test_a_port_given_only_in_the_url_is_the_port_a_run_and_a_reach_use(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/figure.png", b"png")
    configure(lab, samba, url_port=True)
    assert f"smb://127.0.0.1:{samba.port}/backup/lab" in lab.config.read_text()
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_of(result, "smb", "csvs")["files_sent"] == 1
    assert tree(samba.share_path("backup") / "lab") == {"csvs/a.csv": b"1,2\n", "results/figure.png": b"png"}
    assert line_of(reach(lab), "csvs").endswith(": reachable")


def test_a_url_port_that_differs_from_port_is_one_line_naming_both(lab, samba):
    configure(lab, samba, url_port=True, port=4445)
    for result in (lab.run("config", "validate", "--config", str(lab.config)), lab.run()):
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"the URL names port {samba.port} and port: says 4445" in result.stderr
        assert_no_traceback(result)


def test_a_method_rclone_destination_is_reached_through_rclone_as_its_runs_go(reach_lab, samba):
    configure(reach_lab, samba, method="rclone")
    (samba.share_path("backup") / "lab" / "csvs").mkdir(parents=True)
    result = reach(reach_lab)
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result, "csvs").endswith(": reachable")
    assert line_of(result, "results").endswith(NOT_THERE_YET)
    assert not (samba.share_path("backup") / "lab" / "results").exists()

    configure(reach_lab, samba, method="rclone", password="Wr0ng-Pa55word")
    refused = reach(reach_lab)
    assert "refused: authentication failed for smbtest at //127.0.0.1/backup" in line_of(refused, "csvs")
    assert "Wr0ng-Pa55word" not in refused.stdout + refused.stderr

    configure(reach_lab, samba, method="rclone", connect_timeout=2)
    os.kill(samba.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        hung = reach(reach_lab)
        elapsed = time.monotonic() - started
    finally:
        os.kill(samba.process.pid, signal.SIGCONT)
    assert "unreachable: cannot reach //127.0.0.1/backup" in line_of(hung, "csvs")
    assert elapsed < 20, f"took {elapsed:.1f} s with connect_timeout 2"
