"""rclone against a server that is not there or stops answering: the job fails fast, in one line naming the
real cause, and the run goes on to the next destination.

The servers are `rclone serve s3` on 127.0.0.1 (stopped with SIGSTOP to stop answering) and a port with
nothing listening (a socket bound to 127.0.0.1:0, its port noted, the socket closed). Nothing leaves the
machine: "name not found" is told by the unit tests from rclone's own words.
"""

import json
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
import yaml

from tests.conftest import assert_no_traceback, job_of, tree
from tests.integration.rclone_servers import RcloneServer, write_rclone_conf

OLD = time.time() - 1000
BIG = 24 << 20  # with --bwlimit 4M, still on its way for seconds


def dead_port():
    """A port on 127.0.0.1 that refuses connections: bound once, noted, closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dead_section(port):
    """rclone.conf keys of an S3 remote whose endpoint has nothing listening."""
    return {"type": "s3", "provider": "Rclone", "endpoint": f"http://127.0.0.1:{port}",
            "access_key_id": "AKIABACKUPTEST01", "secret_access_key": "s3cretKey/Backup+System0123456789abcdefg",
            "force_path_style": "true"}


@pytest.fixture
def s3_server(tmp_path, rclone_cache):
    with RcloneServer("s3", tmp_path / "serve-s3", cache_dir=rclone_cache) as server:
        yield server


@contextmanager
def stopped(server):
    """The server process frozen (SIGSTOP): it holds its port and answers nothing; thawed whatever happens."""
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def lab_for(lab, section, usb=True, **box):
    """The lab's csvs and results to `box` (the remote `cloud`, defaults but what `box` says), then to a
    local folder `usb`."""
    lab.write("data/csvs/a.csv", "1,2\n", mtime=OLD)
    lab.write("data/results/r.txt", "r\n", mtime=OLD)
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"cloud": section})
    destinations = {"box": {"remote": "cloud", "folder": "lab", "rclone_config": "../rclone/rclone.conf", **box}}
    if usb:
        destinations["usb"] = {"base_path": "../usb"}
    lab.write_backups(destinations)
    return lab


def assert_usb_still_ran(lab, result):
    for source in ("csvs", "results"):
        assert job_of(result, "usb", source)["status"] == "ok"
        assert tree(lab.path(f"usb/{source}")) == tree(lab.path(f"data/{source}"))


def wait_until_on_its_way(folder, size, seconds=30):
    """Until part of a file of `size` bytes (64 KiB or more of it) is in the served folder, under any name."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in list(folder.rglob("*")):
            try:
                if 1 << 16 <= path.stat().st_size < size:
                    return
            except OSError:
                pass  # renamed or removed meanwhile
        time.sleep(0.01)
    raise AssertionError(f"the upload never started: {sorted(tree(folder))}")


# --- dead ------------------------------------------------------------------------------------------

def test_an_endpoint_with_nothing_listening_fails_in_seconds_with_one_line_and_the_run_goes_on(lab):
    port = dead_port()
    lab_for(lab, dead_section(port))  # rclone's own retries and the default connect_timeout (15 s)
    started = time.monotonic()
    result = lab.run("--json")
    took = time.monotonic() - started
    assert took < 30, took
    assert result.returncode == 1, result.stdout + result.stderr
    csvs, results = job_of(result, "box", "csvs"), job_of(result, "box", "results")
    assert (csvs["status"], csvs["error"]) == ("failed", f"cannot reach 127.0.0.1:{port}: connection refused")
    assert results["error"] == f"not tried: cannot reach 127.0.0.1:{port}: connection refused (found by box/csvs)"
    assert_usb_still_ran(lab, result)
    plain = lab.run()
    assert f"box/csvs: FAILED: cannot reach 127.0.0.1:{port}: connection refused\n" in plain.stdout
    assert "full" not in plain.stdout + plain.stderr
    assert_no_traceback(plain)


def test_a_server_gone_before_the_run_is_told_by_the_reach_check_in_the_same_words(lab):
    from backup_system.config import load_config
    from backup_system.errors import Unreachable
    from backup_system.log import WARNING, Log
    from backup_system.plan import build_jobs
    from backup_system.transports import transport_for

    port = dead_port()
    lab_for(lab, dead_section(port), usb=False)
    job = build_jobs(load_config(str(lab.config)))[0][0]
    started = time.monotonic()
    with pytest.raises(Unreachable) as refused:
        transport_for(job.destination, Log(None, WARNING)).reach(job.target)
    assert time.monotonic() - started < 15
    assert str(refused.value) == f"cannot reach 127.0.0.1:{port}: connection refused"


def test_a_server_killed_mid_upload_fails_its_job_as_unreachable_within_a_minute(lab, s3_server):
    lab_for(lab, s3_server.section(), flags=["--bwlimit", "4M"])
    lab.write("data/csvs/big.bin", os.urandom(BIG), mtime=OLD)
    process = lab.start("--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_on_its_way(s3_server.folder, BIG)
        s3_server.stop()
        killed = time.monotonic()
        out, err = process.communicate(timeout=120)
        took = time.monotonic() - killed
    finally:
        if process.poll() is None:
            process.kill()
    assert took < 60, took
    assert process.returncode == 1, out + err
    report = json.loads(out)
    assert job_of(report, "box", "csvs")["error"] == f"cannot reach 127.0.0.1:{s3_server.port}: connection refused"
    assert_usb_still_ran(lab, report)


# --- hung -----------------------------------------------------------------------------------------

def test_a_server_that_stops_answering_mid_upload_fails_its_job_as_stalled_and_the_next_destination_runs(
        lab, s3_server):
    lab_for(lab, s3_server.section(), stall_timeout=3, flags=["--bwlimit", "4M"])
    lab.write("data/csvs/big.bin", os.urandom(BIG), mtime=OLD)
    process = lab.start("--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_on_its_way(s3_server.folder, BIG)
        with stopped(s3_server):
            frozen = time.monotonic()
            out, err = process.communicate(timeout=120)
            took = time.monotonic() - frozen
    finally:
        if process.poll() is None:
            process.kill()
    assert took < 60, took
    assert process.returncode == 1, out + err
    report = json.loads(out)
    csvs = job_of(report, "box", "csvs")
    assert csvs["error"] == "the server stopped answering: nothing moved for 3 s while uploading big.bin to cloud:lab/csvs"
    assert job_of(report, "box", "results")["error"].startswith("not tried: the server stopped answering")
    assert_usb_still_ran(lab, report)
    assert "Traceback" not in out + err


def test_a_server_frozen_before_the_run_fails_within_the_connect_timeout(lab, s3_server):
    lab_for(lab, s3_server.section(), connect_timeout=2)
    with stopped(s3_server):
        started = time.monotonic()
        result = lab.run("--json")
        took = time.monotonic() - started
    assert took < 30, took
    assert result.returncode == 1
    assert job_of(result, "box", "csvs")["error"] == \
        f"the server stopped answering: 127.0.0.1:{s3_server.port} sent nothing for 2 s (connect_timeout)"
    assert_usb_still_ran(lab, result)


# --- the timeout key: what was happening ----------------------------------------------------------

def test_the_timeout_says_it_stopped_rclone_while_connecting(lab, s3_server):
    lab_for(lab, s3_server.section(), usb=False, timeout=2, connect_timeout=60)
    with stopped(s3_server):
        result = lab.run()
    assert result.returncode == 1
    assert (f"box/csvs: FAILED: rclone stopped after the 2 s timeout while connecting to "
            f"127.0.0.1:{s3_server.port}\n") in result.stdout, result.stdout


def test_the_timeout_says_it_stopped_rclone_while_uploading_which_file(lab, s3_server):
    lab_for(lab, s3_server.section(), usb=False, timeout=3, flags=["--bwlimit", "1M"], sources=["csvs"])
    lab.write("data/csvs/big.bin", os.urandom(8 << 20), mtime=OLD)
    result = lab.run()
    assert result.returncode == 1
    assert ("box/csvs: FAILED: rclone stopped after the 3 s timeout while uploading big.bin to cloud:lab/csvs\n"
            in result.stdout), result.stdout


# --- reach ----------------------------------------------------------------------------------------

def reach(lab, source="csvs"):
    """transport_for(destination, log).reach(target) for the job of `box` and `source`, as
    `config validate --reach` calls it."""
    from backup_system.config import load_config
    from backup_system.log import WARNING, Log
    from backup_system.plan import build_jobs
    from backup_system.transports import transport_for

    jobs = build_jobs(load_config(str(lab.config)))[0]
    job = next(job for job in jobs if (job.destination.name, job.source.name) == ("box", source))
    return transport_for(job.destination, Log(None, WARNING)).reach(job.target)


def test_reach_lists_the_target_and_writes_nothing(lab, s3_server):
    lab_for(lab, s3_server.section(), usb=False)
    s3_server.write("lab/csvs/there.csv", "x\n")
    s3_server.write("other/file.txt", "y\n")  # the bucket `other` exists; `lab/results` does not
    before = tree(s3_server.folder)
    assert reach(lab, "csvs") == "reachable"
    assert reach(lab, "results") == "reachable; the folder is not there yet (a run makes it)"
    config = yaml.safe_load(lab.config.read_text())
    config["backups"]["destinations"]["box"]["folder"] = "other/new"
    lab.config.write_text(yaml.safe_dump(config))
    assert reach(lab, "csvs") == "reachable; the folder is not there yet (a run makes it)"
    config["backups"]["destinations"]["box"]["folder"] = "no-such-bucket"
    lab.config.write_text(yaml.safe_dump(config))
    assert reach(lab, "csvs") == "reachable; the folder is not there yet (a run makes it)"
    assert tree(s3_server.folder) == before


def test_reach_raises_what_a_run_raises(lab, s3_server):
    from backup_system.errors import NotFound, Refused

    lab_for(lab, {**s3_server.section(), "secret_access_key": "Wr0ngSecretKeyWr0ngSecretKeyWr0ngSecret!"},
            usb=False)
    with pytest.raises(Refused) as refused:
        reach(lab)
    assert str(refused.value).startswith("authentication refused by 'cloud': api error SignatureDoesNotMatch")
    assert job_of(lab.run("--json"), "box", "csvs")["error"] == str(refused.value)
    config = yaml.safe_load(lab.config.read_text())
    config["backups"]["destinations"]["box"]["remote"] = "Box-Folder"
    lab.config.write_text(yaml.safe_dump(config))
    with pytest.raises(NotFound) as missing:
        reach(lab)
    assert str(missing.value) == (f"remote 'Box-Folder' is not in the rclone config file "
                                  f"{lab.path('rclone/rclone.conf')}; remotes there: cloud")
