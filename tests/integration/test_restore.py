"""restore beyond the contract suite: from archives, at a time between runs, names planted to escape --to,
and an interrupted restore.

The round trip on every transport is in test_transport_contract.py; here a local rsync destination, where
the test can plant what a hostile or broken destination might hold.
"""

import os
import signal
import stat
import subprocess
import time
import zipfile

import pytest

from tests.conftest import report_of, tree

OLD = time.time() - 1000


def archive_lab(lab, fmt):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=OLD)
    lab.write("data/csvs/deep/b c.csv", "b\n" * 40, mtime=OLD + 1)
    lab.write_backups({"disk": {"base_path": "../backups", "use_compression": True}},
                      sources={"csvs": {"path": "../data/csvs"}},
                      compression={"enabled": False, "format": fmt, "output_dir": "../archives"})
    assert lab.run().returncode == 0
    return lab


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_a_destination_of_archives_gives_back_the_newest_one_unpacked_with_times(lab, fmt):
    archive_lab(lab, fmt)
    result = lab.run("restore", "--from", "disk", "--to", str(lab.path("restored")), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert tree(lab.path("restored/csvs")) == tree(lab.path("data/csvs"))
    assert int(lab.path("restored/csvs/deep/b c.csv").stat().st_mtime) == int(OLD + 1)
    assert sorted(report_of(result)["jobs"][0]["sent"]) == ["a.csv", "deep/b c.csv"]

    too_early = lab.run("restore", "--from", "disk", "--to", str(lab.path("early")), "--at", "2020-01-01")
    assert too_early.returncode == 1
    assert "holds no archive from before 2020-01-01 00:00" in too_early.stdout


def test_an_archive_planted_with_escaping_names_restores_only_what_stays_inside(lab):
    archive_lab(lab, "zip")
    planted = lab.path("backups/csvs") / f"csvs-{time.strftime('%Y%m%d-%H%M%S', time.localtime(time.time() + 5))}.zip"
    with zipfile.ZipFile(planted, "w") as archive:
        archive.writestr("ok.csv", "fine\n")
        archive.writestr("../../escaped.txt", "out\n")
        archive.writestr("/abs.txt", "out\n")
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    result = lab.run("restore", "--from", "disk", "--to", str(lab.path("restored")), "--at", "now", "--json",
                     env={"BACKUP_SYSTEM_NOW": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 60))})

    job = report_of(result)["jobs"][0]
    assert result.returncode == 1
    assert job["sent"] == ["ok.csv"]
    assert sorted(failure["path"] for failure in job["failures"]) == ["../../escaped.txt", "/abs.txt", "link"]
    assert tree(lab.path("restored")) == {"csvs/ok.csv": b"fine\n"}
    assert not lab.path("escaped.txt").exists() and not os.path.lexists(lab.path("restored/csvs/link"))


def test_a_symbolic_link_planted_at_the_destination_is_reported_not_followed(lab):
    lab.write("data/csvs/a.csv", "1\n", mtime=OLD)
    lab.write_backups({"disk": {"base_path": "../backups"}}, sources={"csvs": {"path": "../data/csvs"}})
    assert lab.run().returncode == 0
    os.symlink("/etc", lab.path("backups/csvs/etc"))

    result = lab.run("restore", "--from", "disk", "--to", str(lab.path("restored")))

    assert result.returncode == 1
    assert "disk/csvs: not restored: etc: a symbolic link at the destination (to /etc): not restored" in result.stdout
    assert tree(lab.path("restored")) == {"csvs/a.csv": b"1\n"}
    assert not os.path.lexists(lab.path("restored/csvs/etc"))


def test_a_restore_killed_midway_leaves_no_file_cut_short_under_its_name(lab):
    lab.write("data/csvs/big.bin", os.urandom(64 << 20), mtime=OLD)
    lab.write("data/csvs/small.csv", "s\n", mtime=OLD)
    lab.write_backups({"disk": {"base_path": "../backups"}}, sources={"csvs": {"path": "../data/csvs"}})
    assert lab.run().returncode == 0
    restored = lab.path("restored")

    running = lab.start("restore", "--from", "disk", "--to", str(restored), stdout=subprocess.DEVNULL,
                        start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline and not list(restored.glob(".backup_system-restore-*/*/big.bin")) \
            and not list(restored.glob(".backup_system-restore-*/*/.big.bin.*")):
        time.sleep(0.01)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()

    for path in restored.rglob("*"):
        if path.is_file() and ".backup_system-restore-" not in str(path):
            assert path.read_bytes() == lab.path(f"data/csvs/{path.name}").read_bytes(), path
    again = lab.run("restore", "--from", "disk", "--to", str(restored), "--force")
    assert again.returncode == 0, again.stdout + again.stderr
    assert tree(restored / "csvs") == tree(lab.path("data/csvs"))
    assert sorted(os.listdir(restored)) == ["csvs"]  # the interrupted restore's staging folder is gone too


def test_a_notebook_restores_with_the_same_words_and_sees_a_table(lab):
    from backup_system import restore

    lab.write("data/csvs/a.csv", "1\n", mtime=OLD)
    lab.write("data/csvs/b.txt", "b\n", mtime=OLD)
    lab.write_backups({"disk": {"base_path": "../backups"}}, sources={"csvs": {"path": "../data/csvs"}})
    assert lab.run().returncode == 0

    record = restore(str(lab.config), from_="disk", to=str(lab.path("restored")), at="now", paths="*.csv")

    assert record.ok and [job.sent for job in record.jobs] == [("a.csv",)]
    assert tree(lab.path("restored")) == {"csvs/a.csv": b"1\n"}
    assert "<table>" in record._repr_html_()
