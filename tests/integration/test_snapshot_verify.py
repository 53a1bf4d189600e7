"""verify and versions list on a `mode: snapshot` destination: one snapshot at a time, never the target mixed.

Each complete snapshot holds its own manifest (<snapshot>/.backup_system/MANIFEST), hard-linked to the previous
one when nothing changed. Runs are dated with BACKUP_SYSTEM_NOW, a day apart, as in test_rsync_snapshots.py.
"""

import getpass
import os
import time

import pytest

from tests.conftest import assert_no_traceback, report_of
from tests.integration.sshd import SshServer

DAY = 86400
OLD = time.time() - 1000
AWKWARD = "nested/café é;x [y]*.csv"


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))


def name(seconds):
    return time.strftime("%Y-%m-%dT%H%M%S", time.localtime(seconds))


def seconds(snapshot):
    """When a snapshot was taken: the time in its name."""
    return time.mktime(time.strptime(snapshot, "%Y-%m-%dT%H%M%S"))


def run(lab, at, *args, expect=0):
    result = lab.run(*args, env={"BACKUP_SYSTEM_NOW": iso(at)})
    assert_no_traceback(result)
    assert result.returncode == expect, result.stdout + result.stderr
    return result


def three_snapshots(lab, base_path="../backups", **settings):
    """Three snapshot runs a day apart: a.csv edited before the second and the third, same.csv never, gone.csv
    deleted before the third. The snapshots' names, oldest first."""
    lab.write_backups({"disk": {"base_path": base_path, "mode": "snapshot", **settings}},
                      sources={"csvs": {"path": "../data/csvs"}})
    lab.write(f"data/csvs/{AWKWARD}", "run 0\n", mtime=OLD)
    lab.write("data/csvs/same.csv", "unchanged\n", mtime=OLD)
    lab.write("data/csvs/gone.csv", "soon deleted\n", mtime=OLD)
    start = time.time()
    run(lab, start)
    lab.write(f"data/csvs/{AWKWARD}", "run 1, longer\n", mtime=OLD + 100)
    run(lab, start + DAY)
    lab.write(f"data/csvs/{AWKWARD}", "run 2, longer still\n", mtime=OLD + 200)
    os.remove(lab.path("data/csvs/gone.csv"))
    run(lab, start + 2 * DAY)
    return start, [name(start + day * DAY) for day in range(3)]


def corrupt_in_latest(snapshot, relative):
    """Change one byte of a file in one snapshot only: the hard link broken first (a new file of the same size and
    modification time), so the older snapshots keep their copy."""
    path = snapshot / relative
    data, info = bytearray(path.read_bytes()), path.stat()
    data[0] ^= 1
    path.unlink()
    path.write_bytes(bytes(data))
    os.utime(path, (info.st_atime, info.st_mtime))


def test_each_snapshot_holds_its_own_manifest_linked_when_unchanged(lab):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    lab.write("data/csvs/a.csv", "a\n", mtime=OLD)
    start = time.time()
    run(lab, start)
    run(lab, start + DAY)  # nothing changed
    lab.write("data/csvs/b.csv", "b\n", mtime=OLD)
    run(lab, start + 2 * DAY)

    target = lab.path("backups/csvs")
    manifests = [target / name(start + day * DAY) / ".backup_system" / "MANIFEST" for day in range(3)]
    assert [manifest.read_text().count("\n") - 1 for manifest in manifests] == [1, 1, 2]
    assert manifests[0].stat().st_ino == manifests[1].stat().st_ino  # unchanged: one more hard link
    assert manifests[1].stat().st_ino != manifests[2].stat().st_ino
    assert not (target / ".backup_system").exists()  # nothing beside the snapshots


def test_a_manifest_of_the_same_size_written_within_a_second_is_not_taken_for_the_previous_one(lab):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    lab.write("data/csvs/a.csv", "1\n", mtime=OLD)
    start = time.time()
    run(lab, start)
    lab.write("data/csvs/a.csv", "2\n", mtime=OLD + 1)  # the manifest keeps its size: only a digest and a time differ
    run(lab, start + DAY)
    every = run(lab, start + 2 * DAY, "verify", "--full", "--snapshot", "all")
    assert every.stdout.splitlines()[-1] == "verify --full: ok"


def test_verify_checks_latest_and_names_a_file_corrupted_there_while_older_snapshots_still_verify(lab):
    start, names = three_snapshots(lab)
    ok = run(lab, start + 3 * DAY, "verify", "--full")
    assert ok.stdout.splitlines() == [f"disk/csvs@{names[2]}: ok, 2 files as the manifest says", "verify --full: ok"]

    corrupt_in_latest(lab.path(f"backups/csvs/{names[2]}"), AWKWARD)
    assert run(lab, start + 3 * DAY, "verify").returncode == 0  # same size and time: a listing cannot tell
    found = run(lab, start + 3 * DAY, "verify", "--full", expect=1)
    assert found.stdout.splitlines() == [
        f"disk/csvs@{names[2]}: changed there: {AWKWARD}: its content differs from the manifest (SHA-256)",
        "verify --full: DIFFERENCES FOUND at 1 of 1"]

    older = run(lab, start + 3 * DAY, "verify", "--full", "--snapshot", names[1])
    assert older.stdout.splitlines()[0] == f"disk/csvs@{names[1]}: ok, 3 files as the manifest says"


def test_verify_snapshot_all_gives_one_line_per_snapshot_and_json(lab):
    start, names = three_snapshots(lab)
    corrupt_in_latest(lab.path(f"backups/csvs/{names[2]}"), "same.csv")
    every = run(lab, start + 3 * DAY, "verify", "--full", "--snapshot", "all", expect=1)
    assert every.stdout.splitlines() == [
        f"disk/csvs@{names[0]}: ok, 3 files as the manifest says",
        f"disk/csvs@{names[1]}: ok, 3 files as the manifest says",
        f"disk/csvs@{names[2]}: changed there: same.csv: its content differs from the manifest (SHA-256)",
        "verify --full: DIFFERENCES FOUND at 1 of 3"]

    report = report_of(run(lab, start + 3 * DAY, "verify", "--full", "--snapshot", "all", "--json", expect=1))
    assert not report["ok"]
    assert [(job["snapshot"], job["files"], job["changed"]) for job in report["jobs"]] == [
        (names[0], 3, []), (names[1], 3, []),
        (names[2], 2, [["same.csv", "its content differs from the manifest (SHA-256)"]])]
    assert report["jobs"][2]["target"] == str(lab.path(f"backups/csvs/{names[2]}"))


def test_verify_snapshot_mistakes_are_one_line(lab):
    start, names = three_snapshots(lab)
    missing = run(lab, start + 3 * DAY, "verify", "--snapshot", "2001-01-01T000000", expect=1)
    assert "disk/csvs: FAILED: no complete snapshot 2001-01-01T000000 at" in missing.stdout
    assert names[2] in missing.stdout
    typo = run(lab, start + 3 * DAY, "verify", "--snapshot", "yesterday", expect=2)
    assert "verify --snapshot yesterday: give a snapshot's folder name" in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1


def test_versions_list_shows_each_distinct_copy_with_the_snapshots_holding_it(lab):
    start, names = three_snapshots(lab)
    copies = report_of(run(lab, start + 3 * DAY, "versions", "list", f"csvs/{AWKWARD}", "--json"))["copies"]
    assert [(copy["size"], copy["snapshots"], copy["kept_at"]) for copy in copies] == [
        (6, [names[0]], seconds(names[1])), (14, [names[1]], seconds(names[2])), (20, [names[2]], None)]

    same = report_of(run(lab, start + 3 * DAY, "versions", "list", "csvs/same.csv", "--json"))["copies"]
    assert [(copy["snapshots"], copy["kept_at"]) for copy in same] == [(names, None)]  # one copy, live
    gone = report_of(run(lab, start + 3 * DAY, "versions", "list", "csvs/gone.csv", "--json"))["copies"]
    assert [(copy["snapshots"], copy["kept_at"] is None) for copy in gone] == [(names[:2], False)]

    table = run(lab, start + 3 * DAY, "versions", "list", "csvs/same.csv").stdout.splitlines()
    assert table[0] == "csvs/same.csv:" and table[1].split()[-1] == "snapshots"
    assert table[2].split()[:2] == ["disk", "live"] and table[2].endswith(", ".join(names))


def test_over_ssh_verify_and_versions_list_read_one_snapshot_each(lab, tmp_path):
    folder = tmp_path / "server"
    folder.mkdir()
    with SshServer(tmp_path / "sshd") as server:
        start, names = three_snapshots(lab, f"{getpass.getuser()}@127.0.0.1:{folder}",
                                       ssh_command=server.ssh_command)
        manifests = [folder / "csvs" / snapshot / ".backup_system" / "MANIFEST" for snapshot in names]
        assert all(manifest.exists() for manifest in manifests)
        corrupt_in_latest(folder / "csvs" / names[2], AWKWARD)
        found = run(lab, start + 3 * DAY, "verify", "--full", expect=1)
        assert found.stdout.splitlines() == [
            f"disk/csvs@{names[2]}: changed there: {AWKWARD}: its content differs from the manifest (SHA-256)",
            "verify --full: DIFFERENCES FOUND at 1 of 1"]
        copies = report_of(run(lab, start + 3 * DAY, "versions", "list", f"csvs/{AWKWARD}", "--json"))["copies"]
        assert [(copy["size"], copy["snapshots"]) for copy in copies] == [(6, [names[0]]), (14, [names[1]]),
                                                                           (20, [names[2]])]


@pytest.mark.parametrize("command", [("verify",), ("versions", "list", "csvs/a.csv")])
def test_before_any_snapshot_both_say_so(lab, command):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "snapshot"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    lab.write("data/csvs/a.csv", "a\n")
    result = lab.run(*command)
    assert_no_traceback(result)
    assert result.returncode == 1
