"""rsync destinations that keep what they replace: `versions: true` and `mode: mirror`, locally and over ssh.

Each run's replaced or deleted copies land in <target>-versions/<stamp>/; `versions list`, `restore --at` and
`prune` read them back. The runs are dated with BACKUP_SYSTEM_NOW, days apart, so that keep_days can be seen
at work without waiting; the files' own modification times stay real.
"""

import getpass
import os
import time

import pytest

from tests.conftest import AWKWARD_NAMES, assert_no_traceback, job_of, report_of, tree
from tests.integration.sshd import SshServer

DAY = 86400
FILE = "nested/café é;x y.csv"  # the file edited run after run
GONE = ["with space.csv", "-leading-dash.csv"]  # deleted at the source before the third run


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))


def stamp(seconds):
    return time.strftime("%Y-%m-%d-%H%M%S", time.localtime(seconds))


@pytest.fixture(params=["local", "ssh"])
def place(request, tmp_path):
    """(base_path, extra settings, the folder on this machine that base_path names) of a local or ssh target."""
    folder = tmp_path / "server"
    folder.mkdir()
    if request.param == "local":
        yield str(folder), {}, folder
        return
    with SshServer(tmp_path / "sshd") as server:
        yield f"{getpass.getuser()}@127.0.0.1:{folder}", {"ssh_command": server.ssh_command}, folder


def run(lab, at, *args):
    result = lab.run(*args, env={"BACKUP_SYSTEM_NOW": iso(at)})
    assert_no_traceback(result)
    return result


def test_a_mirror_keeps_each_replaced_and_deleted_copy_restores_any_day_and_prunes_by_keep_days(lab, place):
    base_path, settings, folder = place
    lab.write_backups({"disk": {"base_path": base_path, "mode": "mirror", "keep_days": 30, **settings}},
                      sources={"csvs": {"path": "../data/csvs"}})
    for name in AWKWARD_NAMES:
        lab.write(f"data/csvs/{name}", name)
    start = time.time()
    days = [start, start + 10 * DAY, start + 20 * DAY]
    for number, (day, content) in enumerate(zip(days, ("one\n", "two!\n", "three!!\n"), strict=True)):
        lab.write_newer(f"data/csvs/{FILE}", content)
        if number == 2:
            for name in GONE:
                os.remove(lab.path(f"data/csvs/{name}"))
        result = run(lab, day, "--json")
        assert result.returncode == 0, result.stdout + result.stderr

    live, versions = folder / "csvs", folder / "csvs-versions"
    assert tree(live) == tree(lab.path("data/csvs"))  # deletions carried to the live tree
    assert sorted(os.listdir(versions)) == [stamp(days[1]), stamp(days[2])]
    assert tree(versions / stamp(days[1])) == {FILE: b"one\n"}
    assert tree(versions / stamp(days[2])) == {FILE: b"two!\n", **{name: name.encode() for name in GONE}}
    assert (live / ".backup_system" / "MANIFEST").exists()  # a mirror never deletes our manifest
    removed = job_of(result, "disk", "csvs")
    assert removed["files_removed"] == 2, removed

    copies = report_of(run(lab, days[2], "versions", "list", f"csvs/{FILE}", "--json"))["copies"]
    assert [(copy["size"], copy["kept_at"] is None) for copy in copies] == [(4, False), (5, False), (8, True)]

    back = run(lab, days[2], "restore", "--from", "disk", "--to", str(lab.path("then")), "--at", iso(days[1] + DAY))
    assert back.returncode == 0, back.stdout + back.stderr
    assert tree(lab.path("then/csvs")) == {**{name: name.encode() for name in AWKWARD_NAMES}, FILE: b"two!\n"}
    kept = versions / stamp(days[2]) / GONE[0]
    assert abs(os.path.getmtime(lab.path(f"then/csvs/{GONE[0]}")) - os.path.getmtime(kept)) < 1  # ssh lists seconds

    pruned = run(lab, start + 45 * DAY, "prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert os.listdir(versions) == [stamp(days[2])]  # 35 days old: gone; 25 days old: kept
    assert tree(live) == tree(lab.path("data/csvs"))


def test_the_summary_names_each_file_a_mirror_removed_and_where_it_is_kept(lab, tmp_path):
    lab.write_backups({"disk": {"base_path": "../backups", "mode": "mirror"}}, sources={"csvs": {"path": "../data/csvs"}})
    for name in ("a.csv", "b.csv", "c.csv", "old/semi;colon.csv"):
        lab.write(f"data/csvs/{name}", "1,2\n" * 10)
    assert lab.run().returncode == 0
    os.remove(lab.path("data/csvs/old/semi;colon.csv"))
    os.rmdir(lab.path("data/csvs/old"))

    dry = lab.run("--dry-run")
    assert dry.returncode == 0 and "disk/csvs: would remove at the destination: old/semi;colon.csv" in dry.stdout
    assert lab.path("backups/csvs/old/semi;colon.csv").exists()

    result = lab.run()
    assert result.returncode == 0, result.stdout + result.stderr
    [stamp_folder] = os.listdir(lab.path("backups/csvs-versions"))
    kept_in = lab.path(f"backups/csvs-versions/{stamp_folder}")
    assert f"disk/csvs: removed at the destination: old/semi;colon.csv (kept in {kept_in})" in result.stdout
    assert tree(kept_in) == {"old/semi;colon.csv": b"1,2\n" * 10}
    assert not lab.path("backups/csvs/old").exists()


def test_versions_true_keeps_each_overwritten_copy_and_deletes_nothing(lab, tmp_path):
    lab.write_backups({"disk": {"base_path": "../backups", "versions": True}}, sources={"csvs": {"path": "../data/csvs"}})
    lab.write("data/csvs/a.csv", "one\n")
    lab.write("data/csvs/b.csv", "b\n")
    start = time.time()
    assert run(lab, start).returncode == 0
    lab.write_newer("data/csvs/a.csv", "two\n")
    os.remove(lab.path("data/csvs/b.csv"))
    assert run(lab, start + DAY).returncode == 0
    assert tree(lab.path("backups/csvs")) == {"a.csv": b"two\n", "b.csv": b"b\n"}  # a copy deletes nothing
    assert tree(lab.path(f"backups/csvs-versions/{stamp(start + DAY)}")) == {"a.csv": b"one\n"}
