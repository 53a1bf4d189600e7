"""S3 buckets keep versions themselves: `versions: true` on an rclone destination whose remote is S3.

Against moto's server (moto_server.py), which keeps versions and lifecycle rules as AWS does; what the
bucket holds is read back through boto3, not through the code under test. The destination `vault` is a
mirror of the source csvs into the bucket named in each story, at vault:<bucket>/csvs.
"""

import time
from datetime import datetime

import pytest

from tests.conftest import job_of, report_of, tree
from tests.integration.destinations import FAST_FAILURE
from tests.integration.moto_server import MotoServer
from tests.integration.rclone_servers import RcloneServer, write_rclone_conf

OLD = time.time() - 1000
UPLOAD_TIME_PRECISION = 1.1  # S3 keeps an upload's time to the second: runs a story tells apart are this far apart


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


def vault(lab, server, bucket, **options):
    """A lab whose destination `vault` mirrors csvs into the bucket, keeping versions for 30 days."""
    write_rclone_conf(lab.path("rclone/rclone.conf"), {"vault": server.section()})
    lab.write_backups({"vault": {"remote": "vault", "folder": bucket, "rclone_config": "../rclone/rclone.conf",
                                 "mode": "mirror", "versions": True, "keep_days": 30, "flags": FAST_FAILURE,
                                 **options}},
                      sources={"csvs": {"path": "../data/csvs"}})
    return lab


def backup(lab):
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return job_of(result, "vault", "csvs")


def iso(seconds):
    return datetime.fromtimestamp(seconds).isoformat()


def test_three_runs_keep_three_copies_and_restore_at_a_time_between_runs_gives_that_content(lab, moto):
    vault(lab, moto, "three-runs")
    lab.write("data/csvs/a.csv", "first\n", mtime=OLD)
    lab.write("data/csvs/b.csv", "b\n", mtime=OLD)
    backup(lab)
    lab.write_newer("data/csvs/a.csv", "second!\n")
    assert backup(lab)["sent"] == ["a.csv"]
    time.sleep(UPLOAD_TIME_PRECISION)
    between = time.time()
    time.sleep(UPLOAD_TIME_PRECISION)
    lab.write_newer("data/csvs/a.csv", "third\n")
    assert backup(lab)["sent"] == ["a.csv"]

    listed = lab.run("versions", "list", "csvs/a.csv", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    copies = report_of(listed)["copies"]
    assert [(copy["size"], copy["kept_at"] is None) for copy in copies] == [(6, False), (8, False), (6, True)]
    assert copies[0]["kept_at"] < between < copies[1]["kept_at"]
    assert lab.run("versions", "list", "csvs/a.csv").stdout.splitlines()[-1].split()[:2] == ["vault", "live"]
    assert not any(name.endswith("-versions") for name in moto.client().list_objects_v2(
        Bucket="three-runs").get("Contents", ()) for name in [name["Key"].split("/")[0]])

    restored = lab.run("restore", "--from", "vault", "--at", iso(between), "--to", str(lab.path("restored")))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert tree(lab.path("restored/csvs")) == {"a.csv": b"second!\n", "b.csv": b"b\n"}
    assert int(lab.path("restored/csvs/b.csv").stat().st_mtime) == int(OLD)


def test_a_file_deleted_here_leaves_the_live_tree_and_is_restorable_from_before(lab, moto):
    vault(lab, moto, "mirror-deletion")
    lab.write("data/csvs/keep.csv", "keep\n" * 10, mtime=OLD)  # a small share of the tree goes: no guard
    lab.write("data/csvs/gone.csv", "precious\n", mtime=OLD)
    backup(lab)
    time.sleep(UPLOAD_TIME_PRECISION)
    before = time.time()
    time.sleep(UPLOAD_TIME_PRECISION)
    lab.path("data/csvs/gone.csv").unlink()

    mirrored = backup(lab)

    assert mirrored["files_removed"] == 1
    assert mirrored["removed"] == [{"path": "gone.csv", "kept_in": "the bucket's versions of vault:mirror-deletion/csvs"}]
    live = moto.client().list_objects_v2(Bucket="mirror-deletion").get("Contents", ())
    assert [item["Key"] for item in live if not item["Key"].startswith("csvs/.backup_system/")] == ["csvs/keep.csv"]
    assert [size for _, size, _ in moto.versions("mirror-deletion", "csvs/gone.csv")] == [9]
    now = lab.run("restore", "--from", "vault", "--to", str(lab.path("now")))
    assert tree(lab.path("now/csvs")) == {"keep.csv": b"keep\n" * 10}, now.stdout + now.stderr
    then = lab.run("restore", "--from", "vault", "--at", iso(before), "--to", str(lab.path("then")))
    assert then.returncode == 0, then.stdout + then.stderr
    assert tree(lab.path("then/csvs")) == {"keep.csv": b"keep\n" * 10, "gone.csv": b"precious\n"}
    copies = report_of(lab.run("versions", "list", "csvs/gone.csv", "--json"))["copies"]
    assert [(copy["size"], copy["kept_at"] is not None) for copy in copies] == [(9, True)]


def test_the_bucket_gets_versioning_and_a_rule_expiring_old_versions_after_keep_days_once(lab, moto):
    moto.client().create_bucket(Bucket="ruled", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    theirs = {"ID": "lab's own", "Filter": {"Prefix": "scans/"}, "Status": "Enabled", "Expiration": {"Days": 400}}
    moto.client().put_bucket_lifecycle_configuration(Bucket="ruled", LifecycleConfiguration={"Rules": [theirs]})
    vault(lab, moto, "ruled", keep_days=45)
    lab.write("data/csvs/a.csv", "1\n", mtime=OLD)

    backup(lab)
    backup(lab)

    assert moto.versioning("ruled") == "Enabled"
    rules = {rule["ID"]: rule for rule in moto.lifecycle_rules("ruled")}
    assert rules["lab's own"]["Expiration"] == {"Days": 400}  # a rule of the bucket's owner stays
    ours = rules["backup_system csvs/"]
    assert (ours["Status"], ours["Filter"]["Prefix"]) == ("Enabled", "csvs/")
    assert ours["NoncurrentVersionExpiration"]["NoncurrentDays"] == 45
    log = lab.path("logs/backup.log").read_text()
    assert log.count("vault:ruled keeps versions; a lifecycle rule expires those under csvs/ 45 days") == 1

    pruned = lab.run("prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "vault/csvs: left to the bucket's lifecycle rule: its versions expire 45 days after" in pruned.stdout


def test_a_deep_archive_mirror_with_versions_uploads_changes_and_carries_deletions(lab, moto):
    vault(lab, moto, "deep-archive", flags=[*FAST_FAILURE, "--s3-storage-class", "DEEP_ARCHIVE"])
    lab.write("data/csvs/a.csv", "first\n", mtime=OLD)
    lab.write("data/csvs/b.csv", "b\n", mtime=OLD)
    lab.write("data/csvs/c.csv", "c\n" * 20, mtime=OLD)
    assert lab.run("config", "validate", "--config", str(lab.config)).returncode == 0
    backup(lab)
    lab.write_newer("data/csvs/a.csv", "changed\n")
    lab.path("data/csvs/b.csv").unlink()

    mirrored = backup(lab)

    assert (mirrored["sent"], mirrored["files_removed"], mirrored["status"]) == (["a.csv"], 1, "ok")
    assert [(size, latest) for _, size, latest in moto.versions("deep-archive", "csvs/a.csv")] == \
        [(8, True), (6, False)]
    assert moto.storage_class("deep-archive", "csvs/a.csv") == "DEEP_ARCHIVE"
    assert [latest for _, _, latest in moto.versions("deep-archive", "csvs/b.csv")] == [False]
    keys = [item["Key"] for item in moto.client().list_object_versions(Bucket="deep-archive").get("Versions", ())]
    assert not [key for key in keys if key.startswith("csvs-versions/")]  # no server-side copy was asked for


def test_versions_on_a_server_that_keeps_none_fail_the_job_in_one_line(lab, tmp_path, rclone_cache):
    with RcloneServer("s3", tmp_path / "serve-s3", cache_dir=rclone_cache) as server:
        lab.write("data/csvs/a.csv", "1\n", mtime=OLD)
        lab.write_backups({"vault": {"remote": "vault", "folder": "lab", "rclone_config": "../rclone/rclone.conf",
                                     "mode": "mirror", "versions": True,
                                     "flags": [*FAST_FAILURE, "--s3-storage-class", "DEEP_ARCHIVE"]}},
                          sources={"csvs": {"path": "../data/csvs"}})
        write_rclone_conf(lab.path("rclone/rclone.conf"), {"vault": server.section()})  # provider Rclone

        cold = lab.run()

        assert cold.returncode == 1, cold.stdout + cold.stderr
        assert "vault/csvs: FAILED: versions: true with the storage class DEEP_ARCHIVE needs an S3 bucket that " \
               "keeps versions itself, and vault: is none" in cold.stdout
        write_rclone_conf(lab.path("rclone/rclone.conf"), {"vault": {**server.section(), "provider": "Other"}})

        unversioned = lab.run()

        assert unversioned.returncode == 1, unversioned.stdout + unversioned.stderr
        assert "vault/csvs: FAILED: cannot enable versioning of vault:lab: rclone failed at 'vault': api error " \
               "NotImplemented" in unversioned.stdout
        assert "for a server that keeps no versions, set versions: false" in unversioned.stdout
        assert "Traceback" not in cold.stdout + cold.stderr + unversioned.stdout + unversioned.stderr
        assert not server.path("lab/csvs/a.csv").exists()


def test_requests_are_signed_as_aws_signs_its_published_example():
    import calendar

    from backup_system.transports.rclone.s3_lifecycle import signed_headers

    # "GET Bucket Lifecycle", AWS S3 API reference, Signature Version 4 examples
    headers = signed_headers("GET", "examplebucket.s3.amazonaws.com", "/", "lifecycle", b"",
                             ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None),
                             "us-east-1", calendar.timegm((2013, 5, 24, 0, 0, 0)))
    assert headers["authorization"].endswith(
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
