"""smb destinations (through smbclient, on a real Samba) that keep what they replace: `versions: true` and
`mode: mirror`.

Each run's replaced or deleted copies are moved on the server into <target>-versions/<stamp>/; `versions
list`, `restore --at` and `prune` read them back. The runs are dated with BACKUP_SYSTEM_NOW, days apart, so
keep_days can be seen at work without waiting; the files' own modification times stay real.
"""

import os
import time

import pytest

from tests.conftest import AWKWARD_NAMES, assert_no_traceback, job_of, report_of, tree
from tests.integration.destinations import Samba

DAY = 86400
FILE = "nested/café é;x y.csv"  # the file edited run after run
AWKWARD = ["with space.csv", "single'quote.csv", "-leading-dash.csv", "日本語.csv"]  # replaced in one run
GONE = ["with space.csv", "-leading-dash.csv"]  # deleted at the source before the third run
SOURCES = {"csvs": {"path": "../data/csvs", "exclude": ["*.tmp"]}}


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))


def stamp(seconds):
    return time.strftime("%Y-%m-%d-%H%M%S", time.localtime(seconds))


def run(lab, at, *args):
    result = lab.run(*args, env={"BACKUP_SYSTEM_NOW": iso(at)})
    assert_no_traceback(result)
    return result


@pytest.fixture
def smb(tmp_path):
    with Samba(tmp_path / "destination") as destination:
        yield destination


def test_a_mirror_keeps_each_replaced_and_deleted_copy_restores_any_day_and_prunes_by_keep_days(lab, smb):
    smb.configure(lab, sources=SOURCES, mode="mirror", keep_days=30)
    for name in AWKWARD_NAMES:
        lab.write(f"data/csvs/{name}", name)
    lab.write("data/csvs/scratch.tmp", "excluded\n")
    start = time.time()
    days = [start, start + 10 * DAY, start + 20 * DAY]
    mtimes = []
    for number, (day, content) in enumerate(zip(days, ("one\n", "two!\n", "three!!\n"), strict=True)):
        mtimes.append(int(lab.write_newer(f"data/csvs/{FILE}", content).stat().st_mtime))
        if number == 2:
            for name in GONE:
                os.remove(lab.path(f"data/csvs/{name}"))
        result = run(lab, day, "--json")
        assert result.returncode == 0, result.stdout + result.stderr

    live, versions = smb.path("csvs"), smb.path("csvs-versions")
    local = tree(lab.path("data/csvs"))
    del local["scratch.tmp"]
    assert tree(live) == local  # deletions carried to the live tree
    assert sorted(os.listdir(versions)) == [stamp(days[1]), stamp(days[2])]
    assert tree(versions / stamp(days[1])) == {FILE: b"one\n"}
    assert tree(versions / stamp(days[2])) == {FILE: b"two!\n", **{name: name.encode() for name in GONE}}
    assert (live / ".backup_system" / "MANIFEST").exists()  # a mirror never moves our manifest
    job = job_of(result, "smb", "csvs")
    assert job["files_removed"] == 2, job

    verified = run(lab, days[2], "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr  # the manifest forgot the files moved away

    copies = report_of(run(lab, days[2], "versions", "list", f"csvs/{FILE}", "--json"))["copies"]
    assert [(copy["size"], copy["kept_at"] is None) for copy in copies] == [(4, False), (5, False), (8, True)]

    back = run(lab, days[2], "restore", "--from", "smb", "--to", str(lab.path("then")), "--at", iso(days[1] + DAY))
    assert back.returncode == 0, back.stdout + back.stderr
    assert tree(lab.path("then/csvs")) == {**{name: name.encode() for name in AWKWARD_NAMES}, FILE: b"two!\n"}
    assert int(os.path.getmtime(lab.path(f"then/csvs/{FILE}"))) == mtimes[1]  # run 2's copy with its own time
    assert int(os.path.getmtime(lab.path(f"then/csvs/{GONE[1]}"))) == int(os.path.getmtime(
        versions / stamp(days[2]) / GONE[1]))

    pruned = run(lab, start + 45 * DAY, "prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert os.listdir(versions) == [stamp(days[2])]  # 35 days old: gone; 25 days old: kept
    assert tree(live) == local


def test_versions_true_moves_each_replaced_awkward_name_and_deletes_nothing(lab, smb):
    smb.configure(lab, sources=SOURCES, versions=True)
    for name in [*AWKWARD, "kept.csv"]:
        lab.write(f"data/csvs/{name}", f"old {name}\n")
    start = time.time()
    assert run(lab, start).returncode == 0
    for name in AWKWARD:
        lab.write_newer(f"data/csvs/{name}", f"new {name}\n")
    os.remove(lab.path("data/csvs/kept.csv"))
    second = run(lab, start + DAY, "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(job_of(second, "smb", "csvs")["sent"]) == len(AWKWARD)
    assert tree(smb.path("csvs")) == {**{name: f"new {name}\n".encode() for name in AWKWARD},
                                      "kept.csv": b"old kept.csv\n"}  # a copy deletes nothing
    kept = smb.path(f"csvs-versions/{stamp(start + DAY)}")
    assert tree(kept) == {name: f"old {name}\n".encode() for name in AWKWARD}
    assert not [name for name in os.listdir(smb.path("csvs")) if name.startswith(".backup_system-")]


def test_a_file_whose_old_copy_cannot_be_moved_is_not_replaced(lab, smb):
    smb.configure(lab, sources=SOURCES, versions=True)
    lab.write("data/csvs/a.csv", "first\n")
    lab.write("data/csvs/b.csv", "first b\n")
    start = time.time()
    assert run(lab, start).returncode == 0
    lab.write_newer("data/csvs/a.csv", "second\n")
    lab.write_newer("data/csvs/b.csv", "second b\n")
    blocker = smb.path(f"csvs-versions/{stamp(start + DAY)}/a.csv")  # the place a.csv's old copy would go
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"someone else's\n")
    result = run(lab, start + DAY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not be moved into the versions folder" in result.stdout
    assert smb.read("csvs/a.csv") == b"first\n"  # not replaced: its old copy would have been lost
    assert blocker.read_bytes() == b"someone else's\n"
    assert smb.read("csvs/b.csv") == b"second b\n"
    assert tree(blocker.parent) == {"a.csv": b"someone else's\n", "b.csv": b"first b\n"}


def test_a_mirror_dry_run_names_what_it_would_remove_and_changes_nothing(lab, smb):
    smb.configure(lab, sources=SOURCES, mode="mirror")
    lab.write("data/csvs/a.csv", "a\n")
    lab.write("data/csvs/old/semi;colon.csv", "b\n")
    assert lab.run().returncode == 0
    os.remove(lab.path("data/csvs/old/semi;colon.csv"))
    dry = lab.run("--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "smb/csvs: would remove at the destination: old/semi;colon.csv (kept in " in dry.stdout
    assert smb.read("csvs/old/semi;colon.csv") == b"b\n" and not smb.path("csvs-versions").exists()

    result = lab.run()
    assert result.returncode == 0, result.stdout + result.stderr
    [folder] = os.listdir(smb.path("csvs-versions"))
    assert f"smb/csvs: removed at the destination: old/semi;colon.csv (kept in {smb.target('csvs')}-versions/" \
           f"{folder})" in result.stdout
    assert tree(smb.path("csvs")) == {"a.csv": b"a\n"}


def test_versions_on_a_target_at_the_top_of_the_share_are_refused_in_one_line(lab, smb):
    settings = smb.settings(lab)
    lab.write_backups({"smb": {**settings, "csvs_path": smb.server.url("backup"), "versions": True}},
                      sources=SOURCES)
    result = lab.run("config", "validate", "--config", str(lab.config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "csvs_path: versions and mode: mirror need a folder inside the share" in result.stdout + result.stderr
    assert_no_traceback(result)


def test_a_mounted_share_mirrors_through_rsync_and_keeps_what_it_deletes(lab, smb, tmp_path, monkeypatch):
    """cifs cannot be mounted in this sandbox, so a mounts table naming a local folder stands in for one."""
    from backup_system import run_backup
    from backup_system.transports.smb import transport

    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(f"//127.0.0.1/backup {mount_point} cifs rw 0 0\n")
    monkeypatch.setattr(transport, "MOUNTS", str(mounts))
    smb.configure(lab, sources=SOURCES, mode="mirror")
    lab.write("data/csvs/a.csv", "a\n" * 20)  # the guard lets a mirror lose at most half the bytes
    lab.write("data/csvs/b.csv", "b\n")
    lab.write("data/csvs/gone.csv", "gone\n")
    assert run_backup(str(lab.config)).ok
    os.remove(lab.path("data/csvs/gone.csv"))
    assert run_backup(str(lab.config)).ok
    assert tree(mount_point / "lab" / "csvs") == {"a.csv": b"a\n" * 20, "b.csv": b"b\n"}
    [folder] = os.listdir(mount_point / "lab" / "csvs-versions")
    assert tree(mount_point / "lab" / "csvs-versions" / folder) == {"gone.csv": b"gone\n"}
    assert list(smb.server.share_path().iterdir()) == []  # nothing went through smbclient
