"""The guard against a silently vanished source: a mirror never empties a backup because its folder vanished.

A mirror to a local rclone remote (the guard sits before every transport; mirror is what deletes).
"""

import time

from tests.conftest import job_of, tree
from tests.integration.rclone_servers import write_rclone_conf

OLD = time.time() - 1000


def mirror_lab(lab, files=4):
    for index in range(files):
        lab.write(f"data/csvs/run{index}.csv", f"{index}\n" * 100, mtime=OLD)
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    lab.write_backups({"box": {"remote": "disk", "folder": str(lab.path("backups/box")), "mode": "mirror",
                               "rclone_config": "../rclone/rclone.conf", "sources": ["csvs"]}})
    first = lab.run("--json")
    assert job_of(first, "box", "csvs")["status"] == "ok", first.stdout + first.stderr
    return lab


def test_a_renamed_source_folder_refuses_the_mirror_and_leaves_the_backup_untouched(lab):
    mirror_lab(lab)
    before = tree(lab.path("backups/box"))
    lab.path("data/csvs").rename(lab.path("data/csvs-old"))

    result = lab.run()

    assert result.returncode == 1
    assert (f"box/csvs: FAILED: refused, nothing touched: the source folder {lab.path('data/csvs')} is missing"
            in result.stdout)
    assert tree(lab.path("backups/box")) == before


def test_an_emptied_source_is_refused(lab):
    mirror_lab(lab)
    for path in lab.path("data/csvs").iterdir():
        path.unlink()

    result = lab.run()

    assert result.returncode == 1
    assert "the source folder" in result.stdout and "is empty" in result.stdout
    assert sorted(tree(lab.path("backups/box/csvs"))) == ["run0.csv", "run1.csv", "run2.csv", "run3.csv"]


def test_a_source_that_lost_most_of_its_files_is_refused_until_forced(lab):
    mirror_lab(lab)
    for index in (1, 2, 3):
        lab.path(f"data/csvs/run{index}.csv").unlink()

    refused = lab.run("--json")
    job = job_of(refused, "box", "csvs")
    assert refused.returncode == 1 and job["status"] == "failed"
    assert "holds 1 file, 75% fewer than the 4 at the last successful run (max_shrink: 50%)" in job["error"]
    assert len(tree(lab.path("backups/box/csvs"))) == 4

    forced = lab.run("--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert list(tree(lab.path("backups/box/csvs"))) == ["run0.csv"]

    # the forced run is the new yardstick: the next plain run goes through
    assert lab.run().returncode == 0


def test_a_notebook_forces_the_same_way(lab):
    from backup_system import run_backup

    mirror_lab(lab)
    lab.path("data/csvs").rename(lab.path("data/elsewhere"))
    lab.write("data/csvs/only.csv", "1\n")
    assert run_backup(str(lab.config), progress=False).exit_code == 1
    assert run_backup(str(lab.config), force=True, progress=False).exit_code == 0
    assert list(tree(lab.path("backups/box/csvs"))) == ["only.csv"]


def test_a_source_that_lost_a_few_files_is_mirrored(lab):
    mirror_lab(lab)
    lab.path("data/csvs/run3.csv").unlink()

    result = lab.run("--json")

    assert result.returncode == 0, result.stdout
    assert job_of(result, "box", "csvs")["files_removed"] == 1
