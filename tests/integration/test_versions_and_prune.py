"""Kept versions: `versions list` shows every copy of a file, `prune` removes folders past keep_days by their name.

The versions folders here are laid out as a mirror keeps them (<target>-versions/<stamp>/<path>), each
copy with its own old modification time, to show that only the stamp in the folder's name decides.
"""

import os
import time

from tests.conftest import report_of, tree

OLD = time.time() - 400 * 86400  # every copy's own mtime: far older than keep_days


def stamp(days_ago, now):
    return time.strftime("%Y-%m-%d-%H%M%S", time.localtime(now - days_ago * 86400))


def lab_with_versions(lab, now):
    """A backup of csvs/a.csv at `disk`, and two kept copies of it: 200 and 10 days old."""
    lab.write("data/csvs/a.csv", "live\n", mtime=OLD + 300)
    lab.write_backups({"disk": {"base_path": "../backups"}}, sources={"csvs": {"path": "../data/csvs"}})
    assert lab.run().returncode == 0
    for days, content in ((200, "first\n"), (10, "second\n")):
        lab.write(f"backups/csvs-versions/{stamp(days, now)}/a.csv", content, mtime=OLD + days)
    return lab


def test_versions_list_shows_each_kept_copy_and_the_live_one_last(lab):
    now = time.time()
    lab_with_versions(lab, now)

    for path in (str(lab.path("data/csvs/a.csv")), "csvs/a.csv"):
        result = lab.run("versions", "list", path, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        copies = report_of(result)["copies"]
        assert [(copy["size"], copy["kept_at"] is None) for copy in copies] == [(6, False), (7, False), (5, True)]

    table = lab.run("versions", "list", "csvs/a.csv")
    assert table.stdout.splitlines()[0] == "csvs/a.csv:"
    assert table.stdout.splitlines()[-1].split()[:2] == ["disk", "live"]
    assert lab.run("versions", "list", "csvs/nothing.csv").returncode == 1


def test_prune_removes_only_versions_older_than_keep_days_by_their_name(lab):
    now = time.time()
    lab_with_versions(lab, now)
    versions = lab.path("backups/csvs-versions")

    dry = lab.run("prune", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "disk/csvs: would prune 1 versions folder (1 file, 6 B)" in dry.stdout
    assert len(os.listdir(versions)) == 2

    pruned = lab.run("prune")
    assert pruned.returncode == 0
    assert pruned.stdout.splitlines()[-1] == "prune: 1 old copy (6 B) removed"
    assert os.listdir(versions) == [stamp(10, now)]
    assert tree(lab.path("backups/csvs")) == {"a.csv": b"live\n"}

    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now + 180 * 86400))
    assert lab.run("prune", env={"BACKUP_SYSTEM_NOW": later}).returncode == 0
    assert os.listdir(versions) == []


def mirror_with_a_kept_version(lab, **options):
    """A mirror to a local rclone remote whose second run kept the first copy of a.csv as a version."""
    from tests.integration.rclone_servers import write_rclone_conf

    lab.write("data/csvs/a.csv", "first\n", mtime=OLD)
    lab.write("data/csvs/b.csv", "b\n", mtime=OLD)
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    lab.write_backups({"box": {"remote": "disk", "folder": str(lab.path("backups/box")), "mode": "mirror",
                               "rclone_config": "../rclone/rclone.conf", **options}},
                      sources={"csvs": {"path": "../data/csvs"}})
    assert lab.run().returncode == 0
    lab.write_newer("data/csvs/a.csv", "second\n")
    assert lab.run().returncode == 0
    versions = lab.path("backups/box/csvs-versions")
    assert [tree(versions / stamp) for stamp in os.listdir(versions)] == [{"a.csv": b"first\n"}]
    return versions


def test_a_backup_prunes_versions_past_keep_days_at_its_end(lab):
    versions = mirror_with_a_kept_version(lab, keep_days=30)
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 31 * 86400))

    listed = report_of(lab.run("versions", "list", "csvs/a.csv", "--json"))["copies"]
    assert [copy["size"] for copy in listed] == [6, 7]

    result = lab.run(env={"BACKUP_SYSTEM_NOW": later})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "box/csvs: pruned 1 kept copy older than 30 days (6 B)" in result.stdout + result.stderr
    assert os.listdir(versions) == []
    assert tree(lab.path("backups/box/csvs")) == {"a.csv": b"second\n", "b.csv": b"b\n"}


def test_prune_manual_leaves_versions_to_the_prune_command(lab):
    versions = mirror_with_a_kept_version(lab, keep_days=30, prune="manual")
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 31 * 86400))
    assert lab.run(env={"BACKUP_SYSTEM_NOW": later}).returncode == 0
    assert len(os.listdir(versions)) == 1
    assert lab.run("prune", env={"BACKUP_SYSTEM_NOW": later}).returncode == 0
    assert os.listdir(versions) == []


def test_versions_true_keeps_each_replaced_copy_and_restore_at_brings_back_the_one_of_that_time(lab):
    from tests.integration.rclone_servers import write_rclone_conf

    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    lab.write_backups({"box": {"remote": "disk", "folder": str(lab.path("backups/box")), "versions": True,
                               "rclone_config": "../rclone/rclone.conf"}},
                      sources={"csvs": {"path": "../data/csvs"}})
    moments = []
    for run, content in enumerate(("one\n", "two\n", "three\n")):
        lab.write("data/csvs/a.csv", content, mtime=OLD + 100 * run)
        result = lab.run("--json")
        assert result.returncode == 0, result.stdout + result.stderr
        moments.append(time.time())
        time.sleep(1.1)  # versions folders are named to the second

    copies = report_of(lab.run("versions", "list", "csvs/a.csv", "--json"))["copies"]
    assert [copy["size"] for copy in copies] == [4, 4, 6]
    between = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(moments[1]))  # after run 2, before run 3
    restored = lab.run("restore", "--from", "box", "--to", str(lab.path("restored")), "--at", between)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert lab.path("restored/csvs/a.csv").read_text() == "two\n"
