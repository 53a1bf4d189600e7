"""`method: rclone`: an smb destination sent through rclone's smb backend, against a real Samba server on 127.0.0.1.

The same destination, the same results as the smbclient method: every byte and modification time on the
server, a tree either method wrote is not sent again by the other, names SMB cannot keep refused by the same
rules, and the same one-line failures (wrong password, server down) with the password nowhere.
"""

import os
import subprocess
import time

import pytest

from tests.conftest import AWKWARD_NAMES, arguments_of, assert_no_traceback, job_of, pids_named, tree
from tests.integration.smbd import SambaServer

# names the strict rules refuse, with the reason the smbclient method gives (test_smb_backup.py)
REFUSED = {
    "star*.csv": "SMB cannot store * in a name",
    "colon:name.csv": "SMB cannot store : in a name",
    "pipe|.csv": "SMB cannot store | in a name",
    "back\\slash.csv": "SMB cannot store \\\\ in a name",
    "trailing dot.": "name ends with a dot, which SMB lists back mangled",
    "CON": "name 'CON' is reserved on Windows (listed back mangled)",
    "aux.txt": "name 'aux' is reserved on Windows (listed back mangled)",
    "Twin.csv": "differs only in letter case from twin.csv; SMB would keep one file for both",
    "twin.csv": "differs only in letter case from Twin.csv; SMB would keep one file for both",
}
AN_HOUR_AGO = time.time() - 3600


@pytest.fixture
def samba(tmp_path):
    with SambaServer(tmp_path / "samba") as server:
        yield server


def configure(lab, samba, method="rclone", password=None, **options):
    """The lab's one destination `smb`: the test server's share `backup`, folder lab, through `method`."""
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials", password=password)
    lab.write_backups({"smb": {"base_path": samba.url("backup", "lab"), "port": samba.port, "method": method,
                               "credentials_file": str(credentials), **options}})


@pytest.fixture
def rclone_lab(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=AN_HOUR_AGO)
    lab.write("data/csvs/deep/er/b.csv", "3,4\n" * 100, mtime=AN_HOUR_AGO + 0.7)  # a fraction SMB keeps, smbclient not
    lab.write("data/results/figure.png", bytes(range(256)) * 40, mtime=AN_HOUR_AGO)
    configure(lab, samba)
    return lab


def on_server(samba, source=""):
    return samba.share_path("backup") / "lab" / source


def sent_and_unchanged(result, source):
    job = job_of(result, "smb", source)
    return job["files_sent"], job["files_unchanged"]


def test_first_upload_through_rclone_puts_every_byte_and_time_on_the_share(rclone_lab, samba):
    dry = rclone_lab.run("--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert not on_server(samba).exists()

    result = rclone_lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sent_and_unchanged(result, "csvs") == (2, 0)
    assert tree(on_server(samba, "csvs")) == tree(rclone_lab.path("data/csvs"))
    assert tree(on_server(samba, "results")) == tree(rclone_lab.path("data/results"))
    landed = on_server(samba, "csvs") / "deep" / "er" / "b.csv"
    assert abs(landed.stat().st_mtime - (AN_HOUR_AGO + 0.7)) < 0.01
    assert sent_and_unchanged(rclone_lab.run("--json"), "csvs") == (0, 2)


def test_a_tree_the_smbclient_method_wrote_is_not_sent_again_through_rclone(rclone_lab, samba):
    configure(rclone_lab, samba, method="smbclient")
    assert rclone_lab.run().returncode == 0
    before = {path: path.stat().st_mtime for path in on_server(samba).rglob("*")}

    configure(rclone_lab, samba, method="rclone")
    again = rclone_lab.run("--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sent_and_unchanged(again, "csvs") == (0, 2)
    assert sent_and_unchanged(again, "results") == (0, 1)
    assert {path: path.stat().st_mtime for path in on_server(samba).rglob("*")} == before


def test_a_tree_rclone_wrote_is_not_sent_again_by_the_smbclient_method(rclone_lab, samba):
    assert rclone_lab.run().returncode == 0

    configure(rclone_lab, samba, method="smbclient")
    again = rclone_lab.run("--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sent_and_unchanged(again, "csvs") == (0, 2)
    assert sent_and_unchanged(again, "results") == (0, 1)


def test_a_changed_file_is_sent_and_a_newer_copy_on_the_server_is_kept(rclone_lab, samba):
    assert rclone_lab.run().returncode == 0
    rclone_lab.write_newer("data/csvs/a.csv", "changed here\n")
    server_copy = on_server(samba, "results") / "figure.png"
    server_copy.write_bytes(b"edited on the server, later")
    result = rclone_lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_of(result, "smb", "csvs")["sent"] == ["a.csv"]
    assert (on_server(samba, "csvs") / "a.csv").read_text() == "changed here\n"
    assert server_copy.read_bytes() == b"edited on the server, later"


def test_awkward_names_arrive_under_their_own_names_and_are_not_sent_twice(lab, samba):
    for name in AWKWARD_NAMES:
        lab.write(f"data/csvs/{name}", name, mtime=AN_HOUR_AGO)
    lab.write("data/results/r.txt", "r")
    configure(lab, samba)
    first = lab.run("--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert tree(on_server(samba, "csvs")) == {name: name.encode() for name in AWKWARD_NAMES}
    assert sent_and_unchanged(lab.run("--json"), "csvs") == (0, len(AWKWARD_NAMES))


def test_names_smb_cannot_keep_are_refused_as_the_smbclient_method_refuses_them(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    for name in REFUSED:
        lab.write(f"data/csvs/{name}", "x")
    lab.write("data/results/r.txt", "r")
    configure(lab, samba)
    for _ in range(2):  # named every run, never sent
        result = lab.run("--json")
        assert result.returncode == 1
        csvs = job_of(result, "smb", "csvs")
        assert {failure["path"]: failure["reason"] for failure in csvs["failures"]} == REFUSED
        assert sorted(tree(on_server(samba, "csvs"))) == ["a.csv"]
    assert "smb/csvs: not sent: CON: name 'CON' is reserved on Windows" in lab.run().stdout


def test_a_wrong_password_is_one_line_and_the_password_is_nowhere(lab, samba):
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    configure(lab, samba, password="Wr0ng-Pa55word")
    process = lab.start("-v", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_arguments = []
    while process.poll() is None:
        seen_arguments += [arguments_of(pid) for pid in pids_named("rclone")]
        time.sleep(0.005)
    out, err = process.communicate()
    assert process.returncode == 1
    assert "smb/csvs: FAILED: authentication failed for smbtest at //127.0.0.1/backup" in out
    assert "Traceback" not in out + err
    logged = lab.path("logs/backup.log").read_text()
    assert "Wr0ng-Pa55word" not in out + err + logged
    assert all(b"Wr0ng-Pa55word" not in arguments for arguments in seen_arguments)
    assert "RCLONE_CONFIG_" not in logged  # the remote is in rclone's environment, which is never logged


def test_a_server_that_is_down_fails_fast_with_the_cause(rclone_lab, samba):
    samba.stop()
    started = time.monotonic()
    result = rclone_lab.run()
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert f"smb/csvs: FAILED: cannot reach //127.0.0.1/backup (port {samba.port}): connection refused" \
        in result.stdout
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert_no_traceback(result)


def test_compare_size_leaves_a_same_size_copy_another_client_put_there(rclone_lab, samba):
    theirs = on_server(samba, "csvs") / "a.csv"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("9,9\n")  # same size as ours, written later by another client
    os.utime(theirs, (AN_HOUR_AGO - 600, AN_HOUR_AGO - 600))  # and older than ours: compared by time, it would go
    configure(rclone_lab, samba, compare="size")
    result = rclone_lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_of(result, "smb", "csvs")["sent"] == ["deep/er/b.csv"]
    assert theirs.read_text() == "9,9\n"


def test_a_mirror_through_rclone_moves_what_the_source_lost_into_the_versions_folder(rclone_lab, samba):
    configure(rclone_lab, samba, mode="mirror")
    first = rclone_lab.run("--json")
    assert first.returncode == 0, first.stdout + first.stderr
    os.remove(rclone_lab.path("data/csvs/a.csv"))

    second = rclone_lab.run("--json")

    assert second.returncode == 0, second.stdout + second.stderr
    assert "a.csv" not in tree(on_server(samba, "csvs"))
    kept = on_server(samba, "csvs-versions")
    assert [tree(kept / stamp) for stamp in os.listdir(kept)] == [{"a.csv": b"1,2\n"}]
    assert tree(on_server(samba, "csvs")) == {"deep/er/b.csv": b"3,4\n" * 100}
