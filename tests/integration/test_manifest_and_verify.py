"""The manifest beside the data, and `verify` reading it back: a backup the lab can prove it holds.

On a local rsync destination, where the test can tamper with the bytes behind the tool's back; the
stories every transport must pass are in test_transport_contract.py.
"""

import hashlib
import os
import time

from tests.conftest import report_of, tree

OLD = time.time() - 1000


def backed_up(lab):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=OLD)
    lab.write("data/csvs/sub/b c.csv", "b\n" * 50, mtime=OLD)
    lab.write_backups({"disk": {"base_path": "../backups"}}, sources={"csvs": {"path": "../data/csvs"}})
    assert lab.run().returncode == 0
    return lab.path("backups/csvs")


def test_the_manifest_lists_every_file_with_its_hash_and_a_no_change_run_leaves_it_alone(lab):
    backup = backed_up(lab)
    manifest = backup / ".backup_system" / "MANIFEST"
    lines = manifest.read_text().splitlines()
    assert lines[0].startswith("# backup_system manifest")
    assert [line.split("\t")[1:] for line in lines[1:]] == [["4", f"{int(OLD)}", "a.csv"],
                                                            ["100", f"{int(OLD)}", "sub/b c.csv"]]
    assert lines[1].split("\t")[0] == hashlib.sha256(b"1,2\n").hexdigest()
    os.utime(manifest, (OLD, OLD))

    assert lab.run().returncode == 0
    assert manifest.stat().st_mtime == OLD  # nothing sent: nothing read, nothing written

    lab.write_newer("data/csvs/a.csv", "changed\n")
    assert lab.run().returncode == 0
    assert "\t8\t" in manifest.read_text().splitlines()[1]


def test_verify_names_what_is_missing_changed_or_unexpected_at_the_destination(lab):
    backup = backed_up(lab)
    ok = lab.run("verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == ["disk/csvs: ok, 2 files as the manifest says", "verify: ok"]

    (backup / "a.csv").unlink()
    (backup / "sub" / "b c.csv").write_text("short\n")
    (backup / "stray.txt").write_text("?")
    found = lab.run("verify")
    assert found.returncode == 1
    assert found.stdout.splitlines() == [
        "disk/csvs: missing there: a.csv",
        "disk/csvs: changed there: sub/b c.csv: size 6 there, 100 in the manifest",
        "disk/csvs: not in the manifest: stray.txt",
        "verify: DIFFERENCES FOUND at 1 of 1"]


def test_a_flipped_byte_in_a_same_size_file_is_caught_only_by_reading_it_back(lab):
    backup = backed_up(lab)
    target = backup / "sub" / "b c.csv"
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    os.utime(target, (OLD, OLD))

    assert lab.run("verify").returncode == 0  # same size, same time: a listing cannot tell
    full = lab.run("verify", "--full")
    assert full.returncode == 1
    assert "disk/csvs: changed there: sub/b c.csv: its content differs from the manifest (SHA-256)" in full.stdout
    sample = lab.run("verify", "--sample", "5", "--json")
    assert sample.returncode == 1
    assert report_of(sample)["jobs"][0]["changed"] == [["sub/b c.csv", "its content differs from the manifest "
                                                                        "(SHA-256)"]]
    assert not [name for name in os.listdir("/tmp") if name.startswith("backup_system-verify-")]


def test_verify_before_any_manifest_says_so(lab):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write_backups({"disk": {"base_path": "../backups"}}, sources={"csvs": {"path": "../data/csvs"}})
    result = lab.run("verify")
    assert result.returncode == 1
    assert "disk/csvs: FAILED: no manifest at the destination yet" in result.stdout
    assert tree(lab.path("backups")) == {}
