"""Backups that send archives: the compression stage seen through the command line."""

import json
import os
import subprocess
import zipfile

import pytest

from tests.conftest import as_nobody_argv, job_of, tree

CONFIG = """\
backups:
  name: lab
  log_file: ../logs/backup.log
  state_dir: ../state
  sources:
    csvs: {path: ../data/csvs}
    results: {path: ../data/results}
  compression:
    enabled: false
    format: zip
    output_dir: ../archives
  destinations:
    secured: {base_path: ../backups/secured, create: true}
    usb: {base_path: ../backups/usb, use_compression: true, create: true}
"""


@pytest.fixture
def archive_lab(lab):
    lab.write_config(CONFIG)
    lab.write("data/csvs/a b.csv", "1,2\n" * 100, mtime=1700000000)
    lab.write("data/csvs/日本/c.csv", "3,4\n", mtime=1700000100)
    lab.write("data/results/figure.png", bytes(range(256)) * 40, mtime=1700000200)
    return lab


def report(result):
    assert result.stdout.lstrip().startswith("{"), result.stdout + result.stderr
    return json.loads(result.stdout)


def sent_archives(lab, destination, source):
    """The archives at a destination (beside them only the manifest folder every backup keeps)."""
    return sorted(path.name for path in lab.path(f"backups/{destination}/{source}").iterdir()
                  if path.name != ".backup_system")


def test_one_destination_gets_the_tree_and_another_the_archive_built_once(archive_lab):
    result = report(archive_lab.run("--json"))
    assert result["ok"], result
    assert tree(archive_lab.path("backups/secured/csvs")) == tree(archive_lab.path("data/csvs"))
    [archive_name] = sent_archives(archive_lab, "usb", "csvs")
    assert archive_name.startswith("csvs-") and archive_name.endswith(".zip")
    with zipfile.ZipFile(archive_lab.path(f"backups/usb/csvs/{archive_name}")) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == tree(archive_lab.path("data/csvs"))
    assert [(item["source"], item["status"], item["files_in"]) for item in result["archives"]] == [
        ("csvs", "archived", 2), ("results", "archived", 1)]


def test_unzip_restores_the_bytes_and_the_times(archive_lab, tmp_path):
    assert archive_lab.run().returncode == 0
    [archive_name] = sent_archives(archive_lab, "usb", "csvs")
    out = tmp_path / "restored"
    subprocess.run(["unzip", "-q", str(archive_lab.path(f"backups/usb/csvs/{archive_name}")), "-d", str(out)],
                   check=True)
    assert tree(out) == tree(archive_lab.path("data/csvs"))
    assert int((out / "a b.csv").stat().st_mtime) == 1700000000


def test_a_no_change_run_reuses_the_archive_and_sends_nothing_new(archive_lab):
    assert archive_lab.run().returncode == 0
    again = report(archive_lab.run("--json"))
    assert [item["status"] for item in again["archives"]] == ["reused", "reused"]
    assert [job["files_sent"] for job in again["jobs"]] == [0, 0, 0, 0]
    archive_lab.write_newer("data/csvs/a b.csv", "changed\n")
    changed = report(archive_lab.run("--json"))
    assert [item["status"] for item in changed["archives"]] == ["archived", "reused"]
    assert len(sent_archives(archive_lab, "usb", "csvs")) == 2


def test_compress_and_no_compress_override_every_destination_for_one_run(archive_lab):
    assert report(archive_lab.run("--no-compress", "--json"))["archives"] == []
    assert tree(archive_lab.path("backups/usb/csvs")) == tree(archive_lab.path("data/csvs"))
    compressed = report(archive_lab.run("--compress", "--only", "secured", "--json"))
    assert [item["source"] for item in compressed["archives"]] == ["csvs", "results"]
    assert any(name.endswith(".zip") for name in sent_archives(archive_lab, "secured", "csvs"))


def test_a_dry_run_builds_nothing_and_says_what_would_be_archived(archive_lab):
    result = archive_lab.run("--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not archive_lab.path("archives").exists() and not archive_lab.path("backups").exists()
    assert "csvs        would build" in result.stdout


def test_archive_list_and_archive_test_find_a_damaged_archive(archive_lab):
    assert archive_lab.run().returncode == 0
    listing = archive_lab.run("archive", "list", "--config", str(archive_lab.config))
    assert listing.returncode == 0
    assert "csvs" in listing.stdout and ".zip" in listing.stdout
    [name] = sent_archives(archive_lab, "usb", "csvs")
    built = archive_lab.path(f"archives/csvs/{name}")
    assert archive_lab.run("archive", "test", str(built)).stdout.strip() == f"{built}: ok"
    data = bytearray(built.read_bytes())
    data[len(data) // 3] ^= 0xFF
    built.write_bytes(bytes(data))
    damaged = archive_lab.run("archive", "test", str(built))
    assert damaged.returncode == 1
    assert "failed its test" in damaged.stderr and "Traceback" not in damaged.stderr


def test_the_summary_shows_each_archive_with_its_ratio(archive_lab):
    result = archive_lab.run()
    assert result.returncode == 0
    heading = next(line for line in result.stdout.splitlines() if line.startswith("archive of"))
    assert heading.split() == ["archive", "of", "status", "files", "in", "bytes", "in", "bytes", "out", "ratio",
                               "time"]
    row = next(line for line in result.stdout.splitlines() if line.startswith("csvs ") and "archived" in line)
    assert row.split()[2] == "2"


# --- files an archive leaves out ------------------------------------------------------------------

def run_as_nobody(lab, *args):
    """conftest's run_as_nobody, its output read with the names that are not UTF-8 kept (surrogateescape)."""
    argv = [*as_nobody_argv(lab.root.parent / f"copy{len(list(lab.root.parent.glob('copy*')))}"),
            "--config", str(lab.config), *args]
    ran = subprocess.run(argv, capture_output=True, cwd=lab.root, timeout=60)
    return subprocess.CompletedProcess(argv, ran.returncode, ran.stdout.decode("utf-8", "surrogateescape"),
                                       ran.stderr.decode("utf-8", "surrogateescape"))


def test_every_file_left_out_of_the_archive_is_named_for_each_job_that_sends_it_and_fails_the_run(nobody_lab):
    lab = nobody_lab
    lab.write_backups({"usb": {"base_path": "../backups/usb", "use_compression": True, "create": True},
                       "nas": {"base_path": "../backups/nas", "use_compression": True, "create": True}},
                      sources={"csvs": {"path": "../data/csvs"}},
                      compression={"enabled": False, "format": "zip", "output_dir": "../archives"})
    lab.write("data/csvs/secret.csv", "no\n").chmod(0o000)
    lab.write("data/csvs/locked/inner.csv", "no\n")
    lab.path("data/csvs/locked").chmod(0o000)
    lab.path("data/csvs/link.csv").symlink_to("a.csv")
    lab.write(os.fsdecode(b"data/csvs/caf\xe9.csv"), "latin-1 name\n")
    result = run_as_nobody(lab, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    reasons = {"secret.csv": "not in the archive: cannot read: Permission denied",
               "locked": "not in the archive: cannot read folder: Permission denied",
               "link.csv": "not in the archive: symbolic link, not followed",
               os.fsdecode(b"caf\xe9.csv"): "not in the archive: name is not valid UTF-8, cannot be stored in an archive"}
    for destination in ("usb", "nas"):
        job = job_of(result, destination, "csvs")
        assert job["status"] == "partial" and job["files_sent"] == 1, job
        assert {failure["path"]: failure["reason"] for failure in job["failures"]} == reasons
    [archive] = sent_archives(lab, "usb", "csvs")
    with zipfile.ZipFile(lab.path(f"backups/usb/csvs/{archive}")) as built:
        assert sorted(built.namelist()) == ["a.csv", "z.csv"]
    text = run_as_nobody(lab)
    assert text.returncode == 1
    assert "usb/csvs: not sent: secret.csv: not in the archive: cannot read: Permission denied" in text.stdout
    assert "nas/csvs: not sent: link.csv: not in the archive: symbolic link, not followed" in text.stdout
    assert "backup: 2 of 2 jobs FAILED" in text.stdout


def test_a_7z_archive_refuses_a_name_with_a_backslash_and_sends_the_rest(archive_lab):
    config = archive_lab.config.read_text().replace("format: zip", "format: 7z")
    archive_lab.config.write_text(config)
    archive_lab.write("data/csvs/back\\slash.csv", "5,6\n")
    result = archive_lab.run("--only", "usb")
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("usb/csvs: not sent: back\\slash.csv: not in the archive: name holds '\\', which 7z takes for a folder "
            "separator; a zip archive can store it") in result.stdout
    [archive_name] = sent_archives(archive_lab, "usb", "csvs")
    import py7zr

    with py7zr.SevenZipFile(archive_lab.path(f"backups/usb/csvs/{archive_name}")) as archive:
        assert sorted(archive.getnames()) == ["a b.csv", "日本/c.csv"]
    assert sent_archives(archive_lab, "usb", "results")[0].endswith(".7z")
    assert "usb/results: not sent" not in result.stdout and "backup: 1 of 2 jobs FAILED" in result.stdout
