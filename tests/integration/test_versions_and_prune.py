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
