"""SMB over a real network's round trip: a delaying TCP proxy (2.3 ms, as Wi-Fi or a VPN to a file server)
between smbclient and a real Samba server on 127.0.0.1. Several sessions side by side, one listing per run,
the rename in the same session as the put: the bytes on the server must be the same as with one session,
and a session cut mid-run must cost only its own files, which the next run sends.
"""

import os
import time

import pytest

from tests.conftest import job_of, tree
from tests.integration.latency_proxy import LatencyProxy
from tests.integration.smbd import SambaServer
from tests.integration.test_smb_backup import on_server, smb_config

ROUND_TRIP = 0.0023


@pytest.fixture
def samba(tmp_path):
    with SambaServer(tmp_path / "samba") as server:
        yield server


@pytest.fixture
def proxy(samba):
    with LatencyProxy(samba.port, round_trip=ROUND_TRIP) as delaying:
        yield delaying


def through_proxy(lab, samba, proxy, **options):
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials")
    lab.write_backups({"smb": {"base_path": samba.url("backup", "lab"), "port": proxy.port,
                               "credentials_file": str(credentials), "connect_timeout": 10, "stall_timeout": 10,
                               **options}})


def write_tree(lab, files, folders, size=100):
    older = time.time() - 100
    for index in range(files):
        lab.write(f"data/csvs/d{index % folders:02d}/sub/f{index:04d} it's; a name.csv",
                  os.urandom(size), mtime=older)
    lab.write("data/results/r.txt", "r\n", mtime=older)


@pytest.mark.parametrize("sessions", [1, 8])
def test_an_upload_and_a_run_with_no_change_through_a_real_round_trip(lab, samba, proxy, sessions):
    write_tree(lab, files=60, folders=6)
    through_proxy(lab, samba, proxy, sessions=sessions)
    first = lab.run("--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(job_of(first, "smb", "csvs")["sent"]) == 60
    assert tree(on_server(samba, "csvs")) == tree(lab.path("data/csvs"))  # byte for byte, no temporary file
    again = job_of(lab.run("--json"), "smb", "csvs")
    assert (again["sent"], again["files_unchanged"], again["failures"]) == ([], 60, [])
    assert proxy.connections > 0  # it did go through the proxy


def test_a_session_cut_mid_run_fails_only_its_files_and_the_next_run_sends_them(lab, samba, proxy):
    write_tree(lab, files=320, folders=8, size=4096)
    through_proxy(lab, samba, proxy, sessions=8)
    proxy.cut_one(after_bytes=60_000)  # an upload session (40 files of 4 KiB each), about a third of the way
    first = lab.run("--json")
    assert proxy.cut_done.is_set()
    csvs = job_of(first, "smb", "csvs")
    failed = {failure["path"] for failure in csvs["failures"]}
    assert len(failed) <= 40 and len(csvs["sent"]) + len(failed) == 320, csvs["failures"]
    local = tree(lab.path("data/csvs"))
    on_the_server = tree(on_server(samba, "csvs"))
    assert {path: content for path, content in on_the_server.items() if path in local and path not in failed} == \
        {path: content for path, content in local.items() if path not in failed}  # whole files only
    healed = lab.run("--json")
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert sorted(job_of(healed, "smb", "csvs")["sent"]) == sorted(failed)
    assert tree(on_server(samba, "csvs")) == local  # and no temporary file left behind


def test_top_level_folders_made_on_the_server_since_the_last_run_are_listed_not_overwritten(lab, samba):
    older = time.time() - 100
    for top in ("a", "b"):
        lab.write(f"data/csvs/{top}/x.csv", f"{top}\n", mtime=older)
    lab.write("data/results/r.txt", "r\n", mtime=older)
    smb_config(lab, samba, sessions=2)
    assert lab.run().returncode == 0  # the next run lists by this run's top-level folders: masks a*, b*
    for top in ("ab", "c"):  # made by someone else: "ab" one of those masks covers, "c" none
        lab.write(f"data/csvs/{top}/x.csv", "ours, older\n", mtime=older)
        theirs = on_server(samba, "csvs") / top / "x.csv"
        theirs.parent.mkdir()
        theirs.write_text("theirs, newer\n")
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    job = job_of(result, "smb", "csvs")
    assert (job["sent"], job["failures"], job["files_unchanged"]) == ([], [], 4)  # seen there, newer: kept
    assert {path: content for path, content in tree(on_server(samba, "csvs")).items()} == {
        "a/x.csv": b"a\n", "b/x.csv": b"b\n", "ab/x.csv": b"theirs, newer\n", "c/x.csv": b"theirs, newer\n"}


def test_changed_files_go_up_in_the_sessions_that_listed_without_a_new_connection(lab, samba, proxy):
    write_tree(lab, files=60, folders=6)
    through_proxy(lab, samba, proxy, sessions=8)
    for _ in range(2):  # the upload, then a run that learns the folder our manifest went into
        assert lab.run().returncode == 0
    before = proxy.connections
    assert lab.run().returncode == 0
    listing = proxy.connections - before  # what a run with nothing to send opens: its listing sessions
    changed = [f"data/csvs/d{index:02d}/sub/f{index:04d} it's; a name.csv" for index in range(6)]
    for path in changed:
        lab.write(path, os.urandom(50))

    before = proxy.connections
    result = lab.run("--json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(job_of(result, "smb", "csvs")["sent"]) == sorted(path.split("/", 2)[2] for path in changed)
    assert tree(on_server(samba, "csvs")) == tree(lab.path("data/csvs"))
    assert proxy.connections - before == listing + 1  # the same sessions, and one for the manifest
