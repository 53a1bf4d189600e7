"""rsync over ssh to a server that is dead or hung: the job fails fast, says why, and the run goes on.

Real servers on 127.0.0.1 only: an sshd that is stopped with SIGSTOP in the middle of a transfer, a port with
nothing listening, and a plain socket that accepts connections and never says a word. Also reach(), the listing
`config validate --reach` makes, called as that command calls it.
"""

import getpass
import os
import socket
import subprocess
import threading
import time

import pytest

from backup_system.config import load_config
from backup_system.errors import NotFound, Unreachable
from backup_system.log import Log
from backup_system.plan import build_jobs
from backup_system.transports import transport_for
from tests.conftest import assert_no_traceback, free_port, job_of, report_of, tree
from tests.integration.sshd import SshServer

USB = {"usb": {"base_path": "../usb"}}


@pytest.fixture
def data(lab):
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/r.txt", "r\n")
    return lab


@pytest.fixture
def server(tmp_path):
    with SshServer(tmp_path / "sshd") as running:
        try:
            yield running
        finally:
            running.thaw()  # a frozen server must not outlive the test, nor hang its stop


def over_ssh(server, folder, **settings):
    """The config entry of a destination on `server`, in `folder` there."""
    return {"base_path": f"{getpass.getuser()}@127.0.0.1:{folder}", "ssh_command": server.ssh_command,
            "create": True, **settings}


def wait_for(found, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found():
            return
        time.sleep(0.01)
    raise AssertionError("never happened")


def on_its_way(folder):
    """Part of big.bin has reached the server, under rsync's temporary name."""
    return [path for path in folder.rglob(".big.bin.*") if path.stat().st_size]


def test_a_server_that_stops_answering_mid_transfer_fails_its_job_fast_and_the_run_goes_on(data, server, tmp_path):
    data.write("data/csvs/big.bin", os.urandom(6 << 20))
    served = tmp_path / "served"
    data.write_backups({"server": over_ssh(server, served, stall_timeout=3, rsync_options=["--bwlimit=1m"]), **USB})
    process = data.start("--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: on_its_way(served))
        server.freeze()
        frozen = time.monotonic()
        out, err = process.communicate(timeout=90)
        waited = time.monotonic() - frozen
    finally:
        process.kill()
        server.thaw()
    result = subprocess.CompletedProcess([], process.returncode, out, err)
    assert waited < 40, f"the run went on {waited:.0f} s after the server stopped answering"
    assert result.returncode == 1, out + err
    csvs = job_of(result, "server", "csvs")
    assert csvs["error"] == "the server stopped answering: no answer from 127.0.0.1 for 3 s while sending big.bin"
    assert "big.bin" not in csvs["sent"]
    results = job_of(result, "server", "results")
    assert results["error"] == f"not tried: {csvs['error']} (found by server/csvs)"
    for source in ("csvs", "results"):
        assert job_of(result, "usb", source)["status"] == "ok"
        assert tree(data.path(f"usb/{source}")) == tree(data.path(f"data/{source}"))
    assert_no_traceback(result)


def test_nothing_listening_fails_at_once_and_the_other_source_is_not_tried(data):
    port = free_port()
    data.write_backups({"server": {"base_path": "backup@127.0.0.1:/srv/lab", "connect_timeout": 5,
                                   "ssh_command": ["ssh", "-p", str(port)]}, **USB})
    started = time.monotonic()
    result = data.run("--json")
    assert time.monotonic() - started < 15
    assert result.returncode == 1, result.stdout + result.stderr
    csvs, results = job_of(result, "server", "csvs"), job_of(result, "server", "results")
    assert csvs["error"] == "cannot reach 127.0.0.1: connection refused"
    assert results["error"] == "not tried: cannot reach 127.0.0.1: connection refused (found by server/csvs)"
    assert results["seconds"] < 1
    assert [job["status"] for job in report_of(result)["jobs"] if job["destination"] == "usb"] == ["ok", "ok"]
    plain = data.run()
    assert "server/csvs: FAILED: cannot reach 127.0.0.1: connection refused" in plain.stdout
    assert_no_traceback(plain)


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 where connections are accepted and never answered, as a hung server does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return  # closed: the test is over

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for connection in held:
        connection.close()


def test_a_server_that_accepts_but_never_speaks_fails_within_the_connect_timeout(data, silent_port):
    data.write_backups({"server": {"base_path": "backup@127.0.0.1:/srv/lab", "connect_timeout": 2,
                                   "ssh_command": ["ssh", "-p", str(silent_port)], "sources": ["csvs"]}})
    started = time.monotonic()
    result = data.run("--json")
    assert time.monotonic() - started < 2 + 20
    assert result.returncode == 1, result.stdout + result.stderr
    assert job_of(result, "server", "csvs")["error"] == "cannot reach 127.0.0.1: timed out"


# --- reach(): a listing only, in the words a run uses ----------------------------------------------------

def reach_all(lab):
    """{(destination, source): the line reach() returns, or the error it raises}, as `config validate --reach`
    asks every destination, enabled or not."""
    config = load_config(str(lab.config))
    jobs, _ = build_jobs(config, only=list(config.destinations))
    log = Log()
    answers = {}
    for job in jobs:
        try:
            answers[job.destination.name, job.source.name] = transport_for(job.destination, log).reach(job.target)
        except Exception as error:  # noqa: BLE001 (the story compares the error itself)
            answers[job.destination.name, job.source.name] = error
    return answers


def test_reach_a_local_folder_there_one_a_run_makes_and_an_unmounted_disk(data, tmp_path):
    disk = tmp_path / "disk"
    (disk / "csvs").mkdir(parents=True)
    data.write_backups({"secured": {"base_path": str(disk), "create": False},
                        "usb": {"base_path": str(tmp_path / "media" / "usb"), "create": False}})
    answers = reach_all(data)
    assert answers["secured", "csvs"] == "reachable"
    assert answers["secured", "results"] == "reachable; the folder is not there yet (a run makes it)"
    unmounted = answers["usb", "csvs"]
    assert isinstance(unmounted, NotFound)
    assert tree(disk) == {} and sorted(path.name for path in disk.iterdir()) == ["csvs"]  # nothing written
    run = data.run("--only", "usb")
    assert f"usb/csvs: FAILED: {unmounted}" in run.stdout  # the same words as a run
    assert str(unmounted).startswith(f"{tmp_path / 'media' / 'usb'} does not exist: is the disk or share mounted?")


def test_reach_over_ssh_lists_only_and_names_a_missing_folder_or_a_dead_server(data, server, tmp_path):
    served = tmp_path / "served"
    (served / "csvs").mkdir(parents=True)
    port = free_port()
    data.write_backups({"server": over_ssh(server, served, create=False),
                        "gone": over_ssh(server, tmp_path / "unmounted", create=False),
                        "down": {"base_path": "backup@127.0.0.1:/srv/lab", "connect_timeout": 3,
                                 "ssh_command": ["ssh", "-p", str(port)], "sources": ["csvs"]}})
    started = time.monotonic()
    answers = reach_all(data)
    assert time.monotonic() - started < 60
    assert answers["server", "csvs"] == "reachable"
    assert answers["server", "results"] == "reachable; the folder is not there yet (a run makes it)"
    assert isinstance(answers["gone", "csvs"], NotFound)
    assert str(answers["gone", "csvs"]).startswith(f"{getpass.getuser()}@127.0.0.1:{tmp_path / 'unmounted'} "
                                                   "does not exist: is the disk or share mounted?")
    assert isinstance(answers["down", "csvs"], Unreachable)
    assert str(answers["down", "csvs"]) == "cannot reach 127.0.0.1: connection refused"
    assert sorted(str(path.relative_to(served)) for path in served.rglob("*")) == ["csvs"]  # nothing written
    assert not (tmp_path / "unmounted").exists()


def test_reach_a_server_that_never_answers_is_bounded_by_the_connect_timeout(data, silent_port):
    data.write_backups({"server": {"base_path": "backup@127.0.0.1:/srv/lab", "connect_timeout": 2,
                                   "ssh_command": ["ssh", "-p", str(silent_port)], "sources": ["csvs"]}})
    started = time.monotonic()
    answer = reach_all(data)["server", "csvs"]
    assert time.monotonic() - started < 2 + 15
    assert isinstance(answer, Unreachable) and str(answer) == "cannot reach 127.0.0.1: timed out"
