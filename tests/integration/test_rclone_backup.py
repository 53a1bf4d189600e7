"""Backing up through rclone, against real `rclone serve s3|webdav|sftp` servers on 127.0.0.1.

Every story runs the real command line; what arrived is read back from the served folder on disk. The
stories every destination shares (first backup, no change, changed and new, newer kept, awkward names,
exclude, nothing deleted, dry run, server down, stopped midway) run on all three servers in
test_transport_contract.py; here: pull, bisync, mirror, buckets per source, secrets, rclone's own
reasons, timeouts, a full disk, --box-only and progress.
"""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import arguments_of, job_of, pids_named, tree
from tests.integration.destinations import FAST_FAILURE
from tests.integration.rclone_servers import (
    RCLONE,
    RcloneServer,
    mount_tmpfs,
    obscure,
    unmount,
    write_rclone_conf,
)

DATED = re.compile(r"^\d{4}-\d\d-\d\d-\d{6}$")
OLD = time.time() - 1000


def serve(protocol, tmp_path, rclone_cache):
    with RcloneServer(protocol, tmp_path / f"serve-{protocol}", cache_dir=rclone_cache) as server:
        yield server


@pytest.fixture
def s3_server(tmp_path, rclone_cache):
    yield from serve("s3", tmp_path, rclone_cache)


@pytest.fixture
def webdav_server(tmp_path, rclone_cache):
    yield from serve("webdav", tmp_path, rclone_cache)


@pytest.fixture
def sftp_server(tmp_path, rclone_cache):
    yield from serve("sftp", tmp_path, rclone_cache)


def server_for(request, protocol):
    return request.getfixturevalue(f"{protocol}_server")


def cloud(remote="cloud", folder="lab", **options):
    """An rclone destination reading the lab's own rclone.conf; fast failures unless flags say otherwise."""
    return {"remote": remote, "folder": folder, "rclone_config": "../rclone/rclone.conf",
            "flags": FAST_FAILURE, **options}


def lab_with(lab, server, remote="cloud", secrets=True, **options):
    """A lab whose destination `box` is the server; options go into the destination."""
    write_rclone_conf(lab.path("rclone/rclone.conf"), {remote: server.section(secrets=secrets)})
    lab.write_backups({"box": cloud(remote, **options)})
    return lab


@pytest.fixture
def s3_lab(lab, s3_server):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=OLD)
    lab.write("data/results/figure.png", bytes(range(256)) * 40, mtime=OLD)
    return lab_with(lab, s3_server)


def everything_shown(lab, *results):
    log = lab.path("logs/backup.log")
    return "".join(result.stdout + result.stderr for result in results) + (log.read_text() if log.exists() else "")


# --- pushing --------------------------------------------------------------------------------------

def test_folder_with_source_puts_every_source_in_its_own_bucket(lab, s3_server):
    lab.write("data/csvs/a.csv", "a\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write("data/scans/run1/x.csv", "x1\n")
    lab.write("data/scans/run2/deeper/y.csv", "y2\n")
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"cloud": s3_server.section()})
    sources = {"csvs": {"path": "../data/csvs"}, "results": {"path": "../data/results"},
               "scans": {"roots": ["../data/scans"]}}
    lab.write_backups({"box": cloud(folder="lab-{source}")}, sources)
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(os.listdir(s3_server.folder)) == ["lab-csvs", "lab-results", "lab-scans"]
    assert tree(s3_server.path("lab-csvs")) == {"a.csv": b"a\n"}
    assert tree(s3_server.path("lab-scans")) == {"run1/x.csv": b"x1\n", "run2/deeper/y.csv": b"y2\n"}
    assert job_of(result, "box", "scans/run2")["target"] == "cloud:lab-scans/run2"


# --- pulling and two-way --------------------------------------------------------------------------

def test_pull_brings_a_remote_tree_down_and_then_only_what_changed(lab, s3_server):
    remote_tree = {"top.csv": "top\n", "a/b/c.csv": "deep\n", "x y/z;w.csv": "odd\n"}
    for key, text in remote_tree.items():
        s3_server.write(f"lab/csvs/{key}", text, mtime=OLD)
    lab.write("data/csvs/local-only.csv", "mine\n")
    lab_with(lab, s3_server, direction="pull", sources=["csvs"])
    first = lab.run("--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(job_of(first, "box", "csvs")["sent"]) == sorted(remote_tree)
    assert "box/csvs: pulling from cloud:lab/csvs" in lab.path("logs/backup.log").read_text()
    assert tree(lab.path("data/csvs")) == {**{key: text.encode() for key, text in remote_tree.items()},
                                           "local-only.csv": b"mine\n"}
    s3_server.write("lab/csvs/a/b/c.csv", "deep, changed remotely\n", mtime=time.time())
    again = job_of(lab.run("--json"), "box", "csvs")
    assert (again["sent"], again["files_unchanged"]) == (["a/b/c.csv"], 2)
    assert lab.path("data/csvs/a/b/c.csv").read_text() == "deep, changed remotely\n"
    assert lab.path("data/csvs/local-only.csv").read_text() == "mine\n"


def bisync_lab(lab, server):
    for name in ("stable1.csv", "stable2.csv", "shared.csv"):
        lab.write(f"data/csvs/{name}", f"{name}\n", mtime=OLD)
    server.write("lab/csvs/from-remote.csv", "remote\n", mtime=OLD)
    return lab_with(lab, server, direction="bisync", sources=["csvs"])


def test_bisync_first_run_resyncs_and_says_so_then_changes_flow_both_ways(lab, s3_server):
    bisync_lab(lab, s3_server)
    first = lab.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "first bisync of" in first.stderr and "--resync" in first.stderr
    assert "box/csvs: syncing with cloud:lab/csvs" in first.stderr
    assert tree(lab.path("data/csvs")) == tree(s3_server.path("lab", "csvs"))
    assert lab.path("data/csvs/from-remote.csv").read_text() == "remote\n"
    lab.write("data/csvs/new-here.csv", "here\n")
    s3_server.write("lab/csvs/sub/new-there.csv", "there\n")
    second = lab.run("--json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "first bisync" not in second.stderr
    assert sorted(job_of(second, "box", "csvs")["sent"]) == ["new-here.csv", "sub/new-there.csv"]
    assert tree(lab.path("data/csvs")) == tree(s3_server.path("lab", "csvs"))
    assert lab.path("data/csvs/sub/new-there.csv").read_text() == "there\n"


def test_a_first_bisync_keeps_the_older_of_two_different_copies_in_a_dated_folder(lab, s3_server):
    lab.write("data/csvs/both.csv", "older, here\n", mtime=OLD)
    s3_server.write("lab/csvs/both.csv", "newer, there\n", mtime=OLD + 100)
    lab_with(lab, s3_server, direction="bisync", sources=["csvs"])
    result = lab.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert lab.path("data/csvs/both.csv").read_text() == "newer, there\n"
    dated = os.listdir(lab.path("data/csvs-versions"))
    assert len(dated) == 1 and DATED.match(dated[0]), dated
    assert tree(lab.path(f"data/csvs-versions/{dated[0]}")) == {"both.csv": b"older, here\n"}


def test_bisync_conflict_is_named_and_both_versions_are_kept(lab, s3_server):
    bisync_lab(lab, s3_server)
    assert lab.run().returncode == 0
    lab.write_newer("data/csvs/shared.csv", "edited here\n")
    s3_server.write("lab/csvs/shared.csv", "edited there, too\n", mtime=time.time() + 5)
    result = lab.run("--json")
    assert result.returncode == 1
    failures = job_of(result, "box", "csvs")["failures"]
    assert [failure["path"] for failure in failures] == ["shared.csv"]
    assert failures[0]["reason"].startswith("changed on both sides since the last run: both kept, as "
                                            "shared.csv.conflict1 (here) and shared.csv.conflict2 (remote)")
    for side in (lab.path("data/csvs"), s3_server.path("lab", "csvs")):
        assert (side / "shared.csv.conflict1").read_text() == "edited here\n"
        assert (side / "shared.csv.conflict2").read_text() == "edited there, too\n"
    unsettled = lab.run()
    assert unsettled.returncode == 1, unsettled.stdout + unsettled.stderr
    assert ("box/csvs: not sent: shared.csv: an earlier conflict is not settled: both copies are still here and "
            "there (shared.csv.conflict1, shared.csv.conflict2)") in unsettled.stdout
    os.rename(lab.path("data/csvs/shared.csv.conflict1"), lab.path("data/csvs/shared.csv"))
    os.remove(lab.path("data/csvs/shared.csv.conflict2"))
    settled = lab.run()
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert tree(s3_server.path("lab", "csvs")) == tree(lab.path("data/csvs"))
    assert s3_server.path("lab", "csvs", "shared.csv").read_text() == "edited here\n"


def test_bisync_that_starts_with_both_sides_empty_carries_on_once_files_appear(lab, s3_server):
    os.makedirs(lab.path("data/csvs"))
    lab_with(lab, s3_server, direction="bisync", sources=["csvs"])
    assert lab.run().returncode == 0
    lab.write("data/csvs/first.csv", "1\n")
    second = lab.run()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nothing was on either side last time" in second.stderr
    assert s3_server.path("lab", "csvs", "first.csv").read_text() == "1\n"


def test_a_bisync_pair_rclone_set_aside_after_a_critical_error_is_not_resynced_behind_the_users_back(lab, s3_server):
    bisync_lab(lab, s3_server)
    assert lab.run().returncode == 0
    workdir = next(lab.path("state/box/rclone-bisync").iterdir())
    for listing in workdir.glob("*.lst"):
        listing.rename(f"{listing}-err")  # what rclone bisync does after a critical error
    result = lab.run()
    assert result.returncode == 1
    assert (f"box/csvs: FAILED: the last bisync of {lab.path('data/csvs')} with cloud:lab/csvs stopped with a critical "
            f"error and rclone set the pair aside; check both sides, then delete {workdir}") in result.stdout
    assert "first bisync" not in result.stderr


# --- mirror, dry run ------------------------------------------------------------------------------

def test_mirror_moves_what_it_deletes_or_replaces_into_a_dated_folder_beside_the_backup(lab, s3_server):
    lab.write("data/csvs/keep.csv", "keep\n", mtime=OLD)
    lab.write("data/csvs/gone.csv", "soon deleted here\n", mtime=OLD)
    lab.write("data/csvs/edit.csv", "first version\n", mtime=OLD)
    lab_with(lab, s3_server, mode="mirror", sources=["csvs"])
    assert lab.run().returncode == 0
    os.remove(lab.path("data/csvs/gone.csv"))
    lab.write_newer("data/csvs/edit.csv", "second version\n")
    before = tree(s3_server.path("lab", "csvs"))
    preview = lab.run("--dry-run")
    assert "box/csvs: would move into backup dir: gone.csv" in preview.stderr, preview.stderr
    assert "box/csvs: would send edit.csv" in preview.stdout
    assert re.search(r"^box/csvs: would remove at the destination: gone\.csv \(kept in cloud:lab/csvs-versions/"
                     r"\d{4}-\d\d-\d\d-\d{6}\)$", preview.stdout, re.MULTILINE), preview.stdout
    assert tree(s3_server.path("lab", "csvs")) == before and not s3_server.path("lab", "csvs-versions").exists()
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert tree(s3_server.path("lab", "csvs")) == {"keep.csv": b"keep\n", "edit.csv": b"second version\n"}
    dated = os.listdir(s3_server.path("lab", "csvs-versions"))
    assert len(dated) == 1 and DATED.match(dated[0]), dated
    assert tree(s3_server.path("lab", "csvs-versions", dated[0])) == {
        "gone.csv": b"soon deleted here\n", "edit.csv": b"first version\n"}
    mirrored = job_of(result, "box", "csvs")
    assert (mirrored["sent"], mirrored["files_unchanged"]) == (["edit.csv"], 1)
    assert mirrored["files_removed"] == 1 and mirrored["status"] == "ok"
    assert mirrored["removed"] == [{"path": "gone.csv", "kept_in": f"cloud:lab/csvs-versions/{dated[0]}"}]
    lab.write("data/csvs/new.csv", "new\n")
    os.remove(lab.path("data/csvs/keep.csv"))
    text = lab.run()
    assert text.returncode == 0, text.stdout + text.stderr
    assert re.search(r"^box/csvs: removed at the destination: keep\.csv \(kept in cloud:lab/csvs-versions/"
                     r"\d{4}-\d\d-\d\d-\d{6}\)$", text.stdout, re.MULTILINE), text.stdout
    assert text.stdout.count("removed at the destination") == 1


def test_rclone_binary_names_the_rclone_that_runs(lab):
    lab.write("data/csvs/a.csv", "1\n")
    os.makedirs(lab.path("tools"))
    os.symlink(os.path.join(os.path.dirname(sys.executable), "rclone"), lab.path("tools/my rclone"))
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    backup = str(lab.path("backups/box"))
    lab.write_backups({"box": cloud("disk", backup, sources=["csvs"], rclone_binary="../tools/my rclone"),
                       "gone": cloud("disk", backup, sources=["csvs"], rclone_binary="../tools/missing")})
    result = lab.run("-v")
    assert f"box/csvs: run ['{lab.path('tools/my rclone')}', '--config'" in result.stderr
    assert lab.path("backups/box/csvs/a.csv").read_text() == "1\n"
    assert f"gone/csvs: FAILED: {lab.path('tools/missing')} is not installed or not on PATH" in result.stdout


def test_rclone_settings_in_the_users_environment_do_not_hide_what_was_sent(lab):
    lab.write("data/csvs/a.csv", "1\n")
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    lab.write_backups({"box": cloud("disk", str(lab.path("backups/box")), sources=["csvs"])})
    env = {**os.environ, "RCLONE_LOG_FILE": str(lab.path("rclone.log")), "RCLONE_LOG_LEVEL": "ERROR",
           "RCLONE_USE_JSON_LOG": "false", "RCLONE_DRY_RUN": "true"}
    result = lab.run("--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_of(result, "box", "csvs")["sent"] == ["a.csv"]
    assert lab.path("backups/box/csvs/a.csv").read_text() == "1\n"


def test_mirror_at_the_top_of_a_remote_is_refused_before_rclone_runs(lab):
    lab.write("data/csvs/a.csv", "1\n")
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    lab.write_backups({"box": cloud("disk", mode="mirror", csvs_path="disk:/", sources=["csvs"])})
    result = lab.run()
    assert result.returncode == 1
    assert "box/csvs: FAILED: mode: mirror needs a folder inside disk: for its versions folder" in result.stdout


def test_rclones_own_reason_is_the_line_shown(lab):
    """rclone closes with 'Failed to sync: <cause>'; a usage error comes first in ~100 lines of help."""
    lab.write("data/csvs/a.csv", "1\n")
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    backup = str(lab.path("backups/box"))
    lab.write_backups({
        "overlap": cloud("disk", backup, mode="mirror", sources=["csvs"],
                         flags=[*FAST_FAILURE, "--backup-dir", f"disk:{backup}/csvs/old"]),
        "typo": cloud("disk", backup, sources=["csvs"], flags=["--tranfsers", "4"])})
    result = lab.run()
    assert result.returncode == 1
    assert "overlap/csvs: FAILED: rclone failed at 'disk': destination and parameter to --backup-dir mustn't " \
           "overlap" in result.stdout
    assert "typo/csvs: FAILED: rclone: unknown flag: --tranfsers (rclone exit 2)" in result.stdout


def test_a_dry_run_of_a_first_bisync_changes_nothing_on_either_side(lab, s3_server):
    lab.write("data/csvs/here.csv", "here\n")
    lab_with(lab, s3_server, direction="bisync", sources=["csvs"])
    result = lab.run("--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "box/csvs: would send here.csv" in result.stdout
    assert "does not exist yet: the first bisync will create it" in result.stderr
    assert list(s3_server.folder.iterdir()) == [] and not list(lab.path("state").rglob("*.lst"))
    assert lab.run().returncode == 0
    s3_server.write("lab/csvs/there.csv", "there\n")
    again = lab.run("--dry-run", "--json")
    assert job_of(again, "box", "csvs")["would_send"] == ["there.csv"]
    assert not lab.path("data/csvs/there.csv").exists()


# --- failures -------------------------------------------------------------------------------------

def test_an_unknown_remote_is_one_line_naming_the_remotes_that_exist(s3_lab):
    config = yaml.safe_load(s3_lab.config.read_text())
    config["backups"]["destinations"]["box"]["remote"] = "Box-Folder"
    s3_lab.config.write_text(yaml.safe_dump(config))
    result = s3_lab.run()
    assert result.returncode == 1
    assert (f"box/csvs: FAILED: remote 'Box-Folder' is not in the rclone config file "
            f"{s3_lab.path('rclone/rclone.conf')}; remotes there: cloud") in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unknown_remote_names_the_config_file_rclone_config_points_to(lab):
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/r.txt", "r\n")
    elsewhere = lab.path("elsewhere/rclone.conf")
    elsewhere.parent.mkdir()
    elsewhere.write_text("[cloud]\ntype = local\n")
    lab.write_backups({"box": {"remote": "Box-Folder", "folder": "lab", "flags": FAST_FAILURE}})
    result = lab.run(env={"RCLONE_CONFIG": str(elsewhere)})
    assert result.returncode == 1
    assert (f"box/csvs: FAILED: remote 'Box-Folder' is not in the rclone config file {elsewhere}; "
            f"remotes there: cloud") in result.stdout
    assert "default file" not in result.stdout

def s3_lab_with_secret_in_env(lab, s3_server, secret):
    """The S3 secret travels in rclone_env from the user's environment, never in rclone.conf."""
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/big.bin", os.urandom(1 << 20))
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"s3lab": s3_server.section(secrets=False)})
    env_name = "RCLONE_CONFIG_S3LAB_SECRET_ACCESS_KEY"
    lab.write_backups({"box": cloud("s3lab", rclone_env={env_name: "${LAB_S3_SECRET}"})})
    return {"LAB_S3_SECRET": secret}


def test_a_wrong_s3_key_is_one_clear_line_and_never_shown(lab, s3_server):
    wrong = "Wr0ngSecretKeyWr0ngSecretKeyWr0ngSecret!"
    env = s3_lab_with_secret_in_env(lab, s3_server, wrong)
    result = lab.run("-v", env=env)
    assert result.returncode == 1
    assert "box/csvs: FAILED: authentication refused by 's3lab': api error SignatureDoesNotMatch" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert wrong not in everything_shown(lab, result)


def test_the_secret_never_reaches_output_logs_config_show_json_or_process_arguments(lab, s3_server):
    env = s3_lab_with_secret_in_env(lab, s3_server, s3_server.secret_key)
    assert s3_server.secret_key not in lab.path("rclone/rclone.conf").read_text()
    process = lab.start("-v", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen_arguments = []
    while process.poll() is None:
        seen_arguments += [arguments for arguments in map(arguments_of, pids_named("rclone"))
                           if b"\x00serve\x00" not in arguments]  # the servers hold the key by design
        time.sleep(0.005)
    out, err = process.communicate()
    assert process.returncode == 0, out + err
    assert seen_arguments, "never saw the rclone process"
    shown = lab.run("config", "show", "--config", str(lab.config), env=env).stdout
    assert "RCLONE_CONFIG_S3LAB_SECRET_ACCESS_KEY: '***'" in shown
    assert s3_server.secret_key not in out + err + shown + lab.path("logs/backup.log").read_text()
    assert [arguments for arguments in seen_arguments if s3_server.secret_key.encode() in arguments] == []


@pytest.mark.parametrize("protocol", ["webdav", "sftp"])
def test_a_wrong_password_is_refused_in_one_line(request, lab, protocol):
    server = server_for(request, protocol)
    lab.write("data/csvs/a.csv", "1")
    lab.write("data/results/r.txt", "r")
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"lab": server.section(secrets=False)})
    wrong = obscure("not-the-password")
    lab.write_backups({"box": cloud("lab", rclone_env={"RCLONE_CONFIG_LAB_PASS": wrong})})
    result = lab.run()
    assert result.returncode == 1
    refused = next(line for line in result.stdout.splitlines() if line.startswith("box/csvs: FAILED: "))
    assert refused.startswith("box/csvs: FAILED: authentication refused by 'lab': "), result.stdout
    if protocol == "webdav":  # the status, then the body that repeats it: said once
        assert refused.endswith(": 401 Unauthorized") and refused.count("401 Unauthorized") == 1, refused
    assert wrong not in everything_shown(lab, result)


def test_a_timeout_bounds_every_rclone_call(s3_lab):
    s3_lab.write("data/csvs/big.bin", os.urandom(4 << 20))
    config = yaml.safe_load(s3_lab.config.read_text())
    config["backups"]["destinations"]["box"].update(timeout=0.001)
    s3_lab.config.write_text(yaml.safe_dump(config))
    result = s3_lab.run()
    assert result.returncode == 1
    assert "box/csvs: FAILED: rclone stopped after the 0.001 s timeout" in result.stdout


def test_a_full_disk_fails_the_job_in_one_line(lab, s3_server):
    """Pulling into a full local disk: the one place every server reports the full disk the same way
    (see rclone_servers for what the servers say when their own disk is full)."""
    s3_server.write("lab/csvs/small.csv", "1\n", mtime=OLD)
    s3_server.write("lab/csvs/zz-big.bin", os.urandom(2 << 20), mtime=OLD)
    try:
        mount_tmpfs(lab.path("data/csvs"), "512k")
    except PermissionError as error:
        pytest.skip(str(error))
    try:
        lab_with(lab, s3_server, direction="pull", sources=["csvs"])
        result = lab.run("--json")
        assert result.returncode == 1
        csvs = job_of(result, "box", "csvs")
        assert csvs["error"], json.dumps(csvs)
        assert csvs["error"].startswith(f"'{lab.path('data/csvs')}' is full (quota or disk): ")
        assert re.search("no space left on device|file too big for remaining disk space", csvs["error"])
        assert [failure["path"] for failure in csvs["failures"]] == ["zz-big.bin"]
        assert sorted(tree(lab.path("data/csvs"))) == ["small.csv"]
    finally:
        unmount(lab.path("data/csvs"))


# --- names a remote would change, folders it cannot read ----------------------------------------

NFC, NFD = "caf\u00e9.txt", "cafe\u0301.txt"
CONTROL = "tab\there.csv"
NOT_UTF8 = os.fsdecode(b"latin-1 caf\xe9.csv")


def run_keeping_names(lab, *args):
    """lab.run, its output read with the names that are not UTF-8 kept (surrogateescape)."""
    ran = subprocess.run(lab.argv(*args), capture_output=True, cwd=lab.root, timeout=120)
    return subprocess.CompletedProcess(ran.args, ran.returncode, ran.stdout.decode("utf-8", "surrogateescape"),
                                       ran.stderr.decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("remote", ["s3", "local folder"])
def test_names_the_remote_would_change_or_fold_together_are_refused_by_name_and_the_rest_sent(request, lab, remote):
    for name in ("plain.csv", "日本語.csv", NFC, NFD, CONTROL, NOT_UTF8, "glob [x]*?.csv"):
        lab.write(f"data/csvs/{name}", f"{name!r}\n")
    if remote == "s3":
        server = request.getfixturevalue("s3_server")
        lab_with(lab, server, sources=["csvs"])
        served = server.path("lab", "csvs")
    else:
        write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
        lab.write_backups({"box": cloud("disk", str(lab.path("backups/box")), sources=["csvs"])})
        served = lab.path("backups/box/csvs")
    result = run_keeping_names(lab, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    csvs = job_of(json.loads(result.stdout), "box", "csvs")
    reasons = {failure["path"]: failure["reason"] for failure in csvs["failures"]}
    assert reasons == {
        CONTROL: "name holds a control character; the remote would store it under another name",
        NOT_UTF8: "name is not valid UTF-8; the remote would store it under another name",
        NFC: f"written in Unicode NFC (composed), and {NFD} (NFD (decomposed)) differs only in that; rclone would "
             f"keep one file for both",
        NFD: f"written in Unicode NFD (decomposed), and {NFC} (NFC (composed)) differs only in that; rclone would "
             f"keep one file for both"}
    assert csvs["status"] == "partial" and sorted(csvs["sent"]) == ["glob [x]*?.csv", "plain.csv", "日本語.csv"]
    assert tree(served) == {name: f"{name!r}\n".encode() for name in csvs["sent"]}
    text = run_keeping_names(lab)
    assert text.returncode == 1 and f"box/csvs: not sent: {CONTROL}: name holds a control character" in text.stdout
    assert job_of(json.loads(run_keeping_names(lab, "--json").stdout), "box", "csvs")["files_unchanged"] == 3


def test_an_unreadable_folder_is_named_beside_an_unreadable_file(nobody_lab):
    from tests.conftest import run_as_nobody

    lab = nobody_lab
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"disk": {"type": "local"}})
    # the checkout (and the rclone in its .venv) may sit in a folder only root can enter
    rclone = lab.path("rclone/rclone")
    shutil.copy(RCLONE, rclone)
    subprocess.run(["chown", "-R", "65534:65534", str(lab.path("rclone"))], check=True)
    lab.write_backups({"box": cloud("disk", str(lab.path("backups/box")), sources=["csvs"],
                                    rclone_binary=str(rclone))})
    lab.write("data/csvs/secret.csv", "no\n").chmod(0o000)
    lab.write("data/csvs/locked/inner.csv", "no\n")
    lab.path("data/csvs/locked").chmod(0o000)
    result = run_as_nobody(lab, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    csvs = job_of(result, "box", "csvs")
    reasons = {failure["path"]: failure["reason"] for failure in csvs["failures"]}
    assert sorted(reasons) == ["locked", "secret.csv"], csvs["error"]
    assert reasons["locked"] == "cannot read folder: permission denied"
    assert "permission denied" in reasons["secret.csv"]
    assert sorted(csvs["sent"]) == ["a.csv", "z.csv"] and csvs["status"] == "partial"
    lab.path("data/csvs/secret.csv").unlink()
    alone = job_of(run_as_nobody(lab, "--json"), "box", "csvs")
    assert alone["status"] == "partial" and [failure["path"] for failure in alone["failures"]] == ["locked"]


# --- several destinations -------------------------------------------------------------------------

def box_and_secured(lab, server):
    """The team's shape: `box` is remote Box-Folder, folder Ramanlab-Backups; `secured` is a local disk.

    A WebDAV server stands in for Box (a folder store: S3 would refuse the upper-case bucket name)."""
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/r.txt", "r\n")
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"Box-Folder": server.section()})
    lab.write_backups({"box": cloud("Box-Folder", "Ramanlab-Backups"),
                       "secured": {"base_path": "../backups/secured"}})


def test_box_only_runs_only_the_box_destination(lab, webdav_server):
    box_and_secured(lab, webdav_server)
    result = lab.run("--box-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert tree(webdav_server.path("Ramanlab-Backups", "csvs")) == tree(lab.path("data/csvs"))
    assert not lab.path("backups").exists()


# --- progress -------------------------------------------------------------------------------------

def run_on_a_terminal(lab, *args):
    """The CLI with stdout and stderr on a pseudo-terminal; everything it wrote there."""
    leader, follower = pty.openpty()
    process = lab.start(*args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:
            chunk = b""
        if not chunk:
            break
        output += chunk
    os.close(leader)
    process.wait(timeout=30)
    return process.returncode, output.decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_and_stays_quiet_otherwise(s3_lab):
    s3_lab.write("data/csvs/big.bin", os.urandom(3 << 20))
    config = yaml.safe_load(s3_lab.config.read_text())
    config["backups"]["destinations"]["box"].update(flags=["--bwlimit", "2M"], sources=["csvs"])
    s3_lab.config.write_text(yaml.safe_dump(config))
    code, shown = run_on_a_terminal(s3_lab)
    assert code == 0, shown
    assert re.search(r"box/csvs: [\d.]+ \w?i?B / 3\.0 MiB, [\d.]+ \w?i?B/s, ETA ", shown), shown
    s3_lab.write("data/csvs/big.bin", os.urandom(3 << 20))
    code, quiet = run_on_a_terminal(s3_lab, "-q")
    assert code == 0 and "ETA" not in quiet, quiet
    s3_lab.write("data/csvs/big.bin", os.urandom(3 << 20))
    code, as_json = run_on_a_terminal(s3_lab, "--json")
    assert code == 0 and "ETA" not in as_json and json.loads(as_json)["ok"], as_json
    s3_lab.write("data/csvs/big.bin", os.urandom(3 << 20))
    code, verbose_json = run_on_a_terminal(s3_lab, "-v", "--json")
    assert code == 0 and "'copy'" in verbose_json and "ETA" not in verbose_json, verbose_json
    s3_lab.write("data/csvs/big.bin", os.urandom(3 << 20))
    piped = s3_lab.run()
    assert piped.returncode == 0 and "ETA" not in piped.stdout + piped.stderr


def unfinished_uploads(lab, bucket="lab"):
    """The multipart uploads S3 still holds unfinished in the bucket, as rclone lists them (none: no bucket yet)."""
    listed = subprocess.run([RCLONE, "--config", str(lab.path("rclone/rclone.conf")), "backend",
                             "list-multipart-uploads", f"cloud:{bucket}"], capture_output=True, text=True)
    return json.loads(listed.stdout)[bucket] if listed.returncode == 0 else []


def test_multipart_uploads_a_killed_run_left_are_aborted_by_the_next_run(lab, s3_server):
    big = os.urandom(24 << 20)
    lab.write("data/csvs/big.bin", big)
    lab.write("data/results/r.txt", "r\n")
    multipart = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]  # S3's own cut-off is 200 MiB
    lab_with(lab, s3_server, flags=[*FAST_FAILURE, *multipart, "--bwlimit", "4M"])
    process = lab.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not unfinished_uploads(lab):
        assert time.monotonic() < deadline, "the upload never started"
        time.sleep(0.2)
    time.sleep(1)  # a part or two on its way
    os.killpg(process.pid, signal.SIGKILL)  # the run and its rclone, as a power cut would
    process.wait()
    assert len(unfinished_uploads(lab)) == 1  # its parts stay on the store (and on its bill)
    lab_with(lab, s3_server, flags=[*FAST_FAILURE, *multipart])
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert unfinished_uploads(lab) == []
    assert s3_server.path("lab", "csvs", "big.bin").read_bytes() == big
    assert not [path for path in s3_server.folder.rglob("*") if ".rclone_temp" in path.name]
    assert "the last upload to cloud:lab/csvs was cut off: aborting the multipart uploads it left there" in \
        lab.path("logs/backup.log").read_text()
    again = lab.run("--json")  # a run that ended on its own leaves no mark: nothing to abort next time
    assert "cut off" not in again.stderr and again.returncode == 0
