"""Backing up to an SMB share through smbclient, against a real Samba server on 127.0.0.1: what only SMB does.

The stories every destination shares (first backup, no change, changed and new, newer kept, awkward
names, exclude, nothing deleted, dry run, server down, stopped midway) run in test_transport_contract.py;
here: names SMB cannot store, credentials, shares, a full disk, timeouts, temporary files, the mount method.
"""

import json
import os
import subprocess
import time

import pytest
import yaml

from tests.conftest import arguments_of, job_of, pids_named, report_of, tree
from tests.integration.smbd import SambaServer

REFUSED = {
    "star*.csv": "SMB cannot store * in a name",
    "colon:name.csv": "SMB cannot store : in a name",
    "question?.csv": "SMB cannot store ? in a name",
    'double"quote.csv': 'SMB cannot store " in a name',
    "less<more>.csv": "SMB cannot store < > in a name",
    "pipe|.csv": "SMB cannot store | in a name",
    "back\\slash.csv": "SMB cannot store \\\\ in a name",
    "trailing space ": "name ends with a space, which SMB lists back mangled",
    "trailing dot.": "name ends with a dot, which SMB lists back mangled",
    "CON": "name 'CON' is reserved on Windows (listed back mangled)",
    "aux.txt": "name 'aux' is reserved on Windows (listed back mangled)",
    "tab\there.csv": "SMB cannot store \\t in a name",
}


@pytest.fixture
def samba(tmp_path):
    with SambaServer(tmp_path / "samba") as server:
        yield server


def smb_config(lab, samba, share="backup", password=None, **options):
    """A lab whose `smb` destination is the test server; options go into the destination."""
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials", password=password)
    destination = {"base_path": samba.url(share, "lab"), "port": samba.port,
                   "credentials_file": str(credentials), **options}
    lab.write_backups({"smb": destination})


@pytest.fixture
def smb_lab(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=time.time() - 100)
    lab.write("data/results/figure.png", bytes(range(256)) * 40, mtime=time.time() - 100)
    smb_config(lab, samba)
    return lab


def on_server(samba, source, share="backup"):
    return samba.share_path(share) / "lab" / source


def names_in(folder):
    """The sorted names in a folder on the server, without the manifest folder a backup keeps there."""
    return sorted(name for name in os.listdir(folder) if name != ".backup_system")


def test_names_smb_cannot_store_are_named_counted_as_failed_and_not_resent(smb_lab, samba):
    for name in REFUSED:
        smb_lab.write(f"data/csvs/{name}", "x")
    first = smb_lab.run("--json")
    assert first.returncode == 1
    csvs = job_of(first, "smb", "csvs")
    assert {failure["path"]: failure["reason"] for failure in csvs["failures"]} == REFUSED
    assert (csvs["files_sent"], csvs["files_failed"]) == (1, len(REFUSED))
    assert names_in(on_server(samba, "csvs")) == ["a.csv"]
    again = job_of(smb_lab.run("--json"), "smb", "csvs")
    assert (again["files_sent"], again["files_failed"]) == (0, len(REFUSED))
    plain = smb_lab.run()
    assert "smb/csvs: not sent: CON: name 'CON' is reserved on Windows" in plain.stdout


def test_retry_failed_tries_again_only_the_files_that_failed(smb_lab, samba):
    smb_lab.write("data/csvs/star*.csv", "x")
    assert smb_lab.run().returncode == 1
    smb_lab.write_newer("data/csvs/a.csv", "changed, but it did not fail\n")
    smb_lab.write("data/csvs/new.csv", "new, and it did not fail either\n")
    retried = smb_lab.run("--retry-failed", "--json")
    assert retried.returncode == 1  # the name still cannot be stored: named again
    csvs = job_of(retried, "smb", "csvs")
    assert [failure["path"] for failure in csvs["failures"]] == ["star*.csv"]
    assert (csvs["sent"], csvs["files_unchanged"]) == ([], 0)
    assert (on_server(samba, "csvs") / "a.csv").read_text() == "1,2\n"
    assert not (on_server(samba, "csvs") / "new.csv").exists()
    assert [job["source"] for job in json.loads(retried.stdout)["jobs"]] == ["csvs"]


def test_wrong_password_is_one_clear_line_and_fails_only_that_job(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba, password="Wr0ng-Pa55word")
    result = lab.run()
    assert result.returncode == 1
    assert "smb/csvs: FAILED: authentication failed for smbtest at //127.0.0.1/backup" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "Wr0ng-Pa55word" not in result.stdout + result.stderr + lab.path("logs/backup.log").read_text()


def test_the_password_never_reaches_output_logs_or_process_arguments(smb_lab, samba):
    smb_lab.write("data/csvs/big.bin", os.urandom(1 << 20))
    process = smb_lab.start("-v", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_arguments = []
    while process.poll() is None:
        seen_arguments += [arguments_of(pid) for pid in pids_named("smbclient")]
        time.sleep(0.01)
    out, err = process.communicate()
    shown = smb_lab.run("config", "show", "--config", str(smb_lab.config)).stdout
    everything = out + err + shown + smb_lab.path("logs/backup.log").read_text()
    assert samba.password not in everything
    assert all(samba.password.encode() not in arguments for arguments in seen_arguments)


def test_missing_share(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba, share="nosuchshare")
    result = lab.run()
    assert result.returncode == 1
    assert "smb/csvs: FAILED: share 'nosuchshare' not found on 127.0.0.1" in result.stdout


def test_a_host_name_that_does_not_resolve_is_named(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    # names are looked up only in smbclient's lmhosts file (absent here), so no lookup leaves the machine;
    # and .invalid never resolves anywhere (RFC 6761)
    smb_config(lab, samba, base_path="smb://nosuchhost.invalid/backup/lab",
               smbclient_options=["--option=name resolve order=lmhosts"])
    result = lab.run()
    assert result.returncode == 1
    assert "smb/csvs: FAILED: host name nosuchhost.invalid not found" in result.stdout
    assert "NT_STATUS_UNSUCCESSFUL" not in result.stdout

def test_permission_denied_on_a_read_only_share_names_each_file(lab, samba):
    (samba.share_path("readonly") / "lab" / "csvs").mkdir(parents=True)
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba, share="readonly")
    result = lab.run("--json")
    assert result.returncode == 1
    csvs = job_of(result, "smb", "csvs")
    assert csvs["failures"] == [{"path": "a.csv", "reason": "permission denied on the server (NT_STATUS_ACCESS_DENIED)"}]


def test_a_folder_the_read_only_share_refuses_to_create_is_named_as_the_cause(lab, samba):
    (samba.share_path("readonly") / "lab").mkdir()
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/csvs/deeper/b.csv", "2")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba, share="readonly")
    result = lab.run("--json")
    assert result.returncode == 1
    refused = "permission denied creating //127.0.0.1/readonly/lab/csvs"
    assert job_of(result, "smb", "csvs")["failures"] == [{"path": "a.csv", "reason": refused},
                                                         {"path": "deeper/b.csv", "reason": refused}]
    assert "OBJECT_PATH_NOT_FOUND" not in result.stdout + result.stderr


def test_a_missing_top_folder_the_read_only_share_refuses_is_named(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba, share="readonly")
    result = lab.run()
    assert result.returncode == 1
    assert "a.csv: permission denied creating //127.0.0.1/readonly/lab" in result.stdout + result.stderr
    assert "folder missing on the server" not in result.stdout + result.stderr

def test_a_full_remote_disk_fails_the_file_and_leaves_nothing_truncated(lab, samba):
    if not samba.has_tiny_share:
        pytest.skip(samba.tiny_problem)
    lab.write("data/csvs/small.csv", "1\n")
    lab.write("data/csvs/zz-big.bin", os.urandom(2 << 20))
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba, share="tiny")
    result = lab.run("--json")
    assert result.returncode == 1
    csvs = job_of(result, "smb", "csvs")
    assert csvs["failures"] == [{"path": "zz-big.bin", "reason": "remote disk full (NT_STATUS_DISK_FULL)"}]
    assert names_in(on_server(samba, "csvs", share="tiny")) == ["small.csv"]


def test_a_timeout_bounds_every_smbclient_call(smb_lab, samba):
    smb_lab.write("data/csvs/big.bin", os.urandom(1 << 20))
    smb_config(smb_lab, samba, timeout=0.001)
    result = smb_lab.run()
    assert result.returncode == 1
    assert "smb/csvs: FAILED: smbclient stopped after the 0.001 s timeout" in result.stdout


def test_remove_from_local_deletes_only_files_confirmed_on_the_server(smb_lab, samba):
    smb_lab.write("data/csvs/sub/b.csv", "b\n")
    smb_lab.write("data/csvs/CON", "refused, so it stays\n")
    smb_config(smb_lab, samba, remove_from_local=True)
    dry = smb_lab.run("--dry-run")
    assert dry.returncode == 1 and smb_lab.path("data/csvs/a.csv").exists()
    result = smb_lab.run("--json")
    csvs = job_of(result, "smb", "csvs")
    assert csvs["files_removed"] == 2
    assert sorted(tree(smb_lab.path("data/csvs"))) == ["CON"]
    assert (on_server(samba, "csvs") / "sub" / "b.csv").read_text() == "b\n"
    assert "removed from local: sub/b.csv" in smb_lab.path("logs/backup.log").read_text()


def test_smb_only_runs_only_the_smb_destination(smb_lab, samba):
    config = yaml.safe_load(smb_lab.config.read_text())
    config["backups"]["destinations"]["secured"] = {"base_path": "../backups/secured"}
    smb_lab.config.write_text(yaml.safe_dump(config))
    only = smb_lab.run("--smb-only")
    assert only.returncode == 0, only.stdout + only.stderr
    assert not smb_lab.path("backups").exists()
    assert tree(on_server(samba, "csvs")) == tree(smb_lab.path("data/csvs"))


def test_a_credentials_file_readable_by_others_is_refused(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba)
    os.chmod(lab.root / "private" / "smbcredentials", 0o644)
    result = lab.run()
    assert result.returncode == 2
    assert "is readable by others: run chmod 600" in result.stderr


def test_a_credentials_file_as_smbclient_reads_it_with_spaces_and_one_without_a_password(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    smb_config(lab, samba)
    credentials = lab.root / "private" / "smbcredentials"
    credentials.write_text(f"username = {samba.user}\npassword = {samba.password}\n")
    spaced = lab.run()
    assert spaced.returncode == 0, spaced.stdout + spaced.stderr
    assert (on_server(samba, "csvs") / "a.csv").read_text() == "1"
    credentials.write_text(f"username={samba.user}\n")
    result = lab.run()
    assert result.returncode == 2  # refused before any job, as config validate refuses it
    assert f"credentials_file: credentials file {credentials} has no password= line" in result.stderr


def test_remote_dir_and_smbclient_options_reach_the_server(lab, samba):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    smb_config(lab, samba, base_path="//127.0.0.1/backup", remote_dir="lab/deeper",
               smbclient_options=["--option=client max protocol=SMB3"])
    result = lab.run("-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (samba.share_path() / "lab" / "deeper" / "csvs" / "a.csv").read_text() == "1\n"
    assert "'--option=client max protocol=SMB3'" in result.stderr


def test_method_mount_without_a_mount_fails_the_job_clearly(smb_lab, samba):
    smb_config(smb_lab, samba, method="mount")
    result = smb_lab.run()
    assert result.returncode == 1
    assert "smb/csvs: FAILED: //127.0.0.1/backup is not mounted on this machine (method: mount)" in result.stdout


def test_a_mounted_share_is_written_through_rsync_to_its_mount_point(smb_lab, samba, tmp_path, monkeypatch):
    """cifs cannot be mounted in this sandbox, so a mounts table naming a local folder stands in for one."""
    from backup_system import run_backup
    from backup_system.transports.smb import transport as smb

    mount_point = tmp_path / "mnt" / "lab share"
    mount_point.mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"//127.0.0.1/backup {str(mount_point).replace(' ', chr(92) + '040')} cifs rw 0 0\n")
    monkeypatch.setattr(smb, "MOUNTS", str(mounts))
    report = run_backup(str(smb_lab.config))
    assert report.ok
    assert (mount_point / "lab" / "csvs" / "a.csv").read_text() == "1,2\n"
    assert list(samba.share_path().iterdir()) == []


def test_names_that_differ_only_in_case_are_refused_rather_than_merged_on_the_server(smb_lab, samba):
    smb_lab.write("data/csvs/Report.txt", "the long report\n")
    smb_lab.write("data/csvs/report.txt", "short\n")
    result = smb_lab.run("--json")
    assert result.returncode == 1
    failed = {item["path"] for item in job_of(result, "smb", "csvs")["failures"]}
    assert failed == {"Report.txt", "report.txt"}
    assert names_in(on_server(samba, "csvs")) == ["a.csv"]


def test_a_folder_name_cannot_smuggle_commands_into_smbclient(lab, samba):
    evil = "run1\n!touch pwned #"
    lab.write(f"scans/{evil}/x.csv", "1\n")
    lab.write("scans/run2/y.csv", "2\n")
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials")
    lab.write_backups({"smb": {"base_path": samba.url("backup", "lab"), "port": samba.port,
                               "credentials_file": str(credentials)}}, sources={"scans": {"roots": ["../scans"]}})
    result = lab.run("--json")
    assert result.returncode == 1
    jobs = {job["source"]: job for job in report_of(result)["jobs"]}
    assert "cannot read from a folder whose path holds a double quote or a control character" in \
        jobs[f"scans/{evil}"]["error"]
    assert jobs["scans/run2"]["sent"] == ["y.csv"]
    assert not list(lab.root.rglob("pwned"))


# -- dead and hung servers (issue 14): each fails its job fast, with the reason, and the next destination runs --

def with_local_destination_after(lab, samba, **options):
    """The smb destination (with these options), then `secured`, a local folder that must still be written."""
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials")
    lab.write_backups({"smb": {"base_path": samba.url("backup", "lab"), "port": samba.port,
                               "credentials_file": str(credentials), **options},
                       "secured": {"base_path": "../backups/secured"}})


def assert_smb_failed_and_secured_ran(result, lab, reason):
    report = report_of(result)
    jobs = {(job["destination"], job["source"]): job for job in report["jobs"]}
    assert jobs[("smb", "csvs")]["error"].startswith(reason), jobs[("smb", "csvs")]["error"]
    assert jobs[("smb", "results")]["error"].startswith(f"not tried: {reason}")
    assert (jobs[("secured", "csvs")]["error"], jobs[("secured", "results")]["error"]) == (None, None)
    assert tree(lab.path("backups/secured/csvs")) == tree(lab.path("data/csvs"))


def test_a_server_that_refuses_connections_fails_its_job_within_seconds(smb_lab, samba):
    with_local_destination_after(smb_lab, samba)
    samba.stop()
    began = time.monotonic()
    result = smb_lab.run("--json")
    assert time.monotonic() - began < 20  # seconds, not minutes (a run takes ~1 s here)
    assert result.returncode == 1
    assert_smb_failed_and_secured_ran(result, smb_lab, f"cannot reach //127.0.0.1/backup (port {samba.port}): "
                                                       f"connection refused")


def test_a_server_that_never_answers_fails_its_job_within_connect_timeout(smb_lab, samba):
    with_local_destination_after(smb_lab, samba, connect_timeout=2)
    with samba.paused():  # the port accepts connections, nothing answers
        began = time.monotonic()
        result = smb_lab.run("--json")
        took = time.monotonic() - began
    assert took < 15, took  # smbclient alone would wait 20 s for the first answer
    assert result.returncode == 1
    assert_smb_failed_and_secured_ran(result, smb_lab, f"cannot reach //127.0.0.1/backup (port {samba.port}): "
                                                       f"no answer within 2 s (connect_timeout)")


def test_a_server_that_stops_answering_mid_run_fails_its_job_as_stalled(smb_lab, samba):
    for index in range(3000):  # enough files that the upload is still going when the server stops
        smb_lab.write(f"data/csvs/many/f{index:04d}.csv", f"{index}\n")
    # one upload session: connected when the first file appears, so it is the one the stop catches
    with_local_destination_after(smb_lab, samba, connect_timeout=2, stall_timeout=2, sessions=1)
    process = smb_lab.start("--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        folder = on_server(samba, "csvs") / "many"
        deadline = time.monotonic() + 60
        while not (folder.is_dir() and any(folder.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.002)
        with samba.paused():
            began = time.monotonic()
            out, err = process.communicate(timeout=90)
            took = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
    assert took < 30, took  # stall_timeout 2 s, with a generous margin (not the 6 h transfer timeout)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    assert result.returncode == 1, out + err
    # (smb/results "not tried" too: the runner does that only for a server unreachable or stalled)
    assert_smb_failed_and_secured_ran(result, smb_lab, "the server stopped answering: nothing from "
                                                       "//127.0.0.1/backup for 2 s (stall_timeout) while uploading")


# -- compare: size (issue 14): a copy another client put there, with the same size and another time --

def put_by_another_client(samba, relative, content, mtime):
    copy = on_server(samba, "csvs") / relative
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(content)
    os.utime(copy, (mtime, mtime))


def test_a_copy_with_another_time_is_kept_locally_and_the_job_says_why(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=time.time() - 1000)
    lab.write("data/results/r.txt", "r\n")
    put_by_another_client(samba, "a.csv", b"1,2\n", time.time() - 5000)  # same size, older: ours would be sent
    put_by_another_client(samba, "b.csv", b"3,4\n", time.time())
    lab.write("data/csvs/b.csv", "3,4\n", mtime=time.time() - 1000)  # same size, newer there: kept
    smb_config(lab, samba, remove_from_local=True)
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    csvs = job_of(result, "smb", "csvs")
    assert (csvs["sent"], csvs["files_unchanged"], csvs["files_removed"]) == (["a.csv"], 1, 1)
    assert lab.path("data/csvs/b.csv").exists()
    assert ("smb/csvs: kept locally: 1 files whose copy on the server has another modification time "
            "(compare: size to accept them)") in result.stderr


def test_compare_size_takes_a_copy_of_the_same_size_as_the_file_and_removes_it_locally(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=time.time() - 1000)
    lab.write("data/csvs/other size.csv", "longer here\n", mtime=time.time() - 1000)
    lab.write("data/results/r.txt", "r\n")
    put_by_another_client(samba, "a.csv", b"9,9\n", time.time() - 5000)  # same size, another time and content
    put_by_another_client(samba, "other size.csv", b"short\n", time.time() - 5000)
    smb_config(lab, samba, remove_from_local=True, compare="size")
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    csvs = job_of(result, "smb", "csvs")
    assert (csvs["sent"], csvs["files_unchanged"], csvs["files_removed"]) == (["other size.csv"], 1, 2)
    assert (on_server(samba, "csvs") / "a.csv").read_bytes() == b"9,9\n"  # the server's copy, as the script did
    assert (on_server(samba, "csvs") / "other size.csv").read_bytes() == b"longer here\n"
    assert tree(lab.path("data/csvs")) == {}
    assert "kept locally" not in result.stderr
