r"""A real S3 server that keeps versions and lifecycle rules, for tests: moto's server on 127.0.0.1.

    with MotoServer(tmp_path / "moto") as server:
        server.section()                  # the rclone.conf keys of a remote that reaches it
        server.versioning("bucket")       # "Enabled", "Suspended", or None when it was never set
        server.lifecycle_rules("bucket")  # the bucket's lifecycle rules as boto3 reads them, [] when none
        server.versions("bucket", "key")  # [(version id, size, is latest)] of every version, newest first
        server.storage_class("bucket", "key")   # of the live object

`rclone serve s3` keeps no versions (PutBucketVersioning: 501 NotImplemented), so the stories of
S3's own versions run against moto (PyPI `moto[server]`, in the dev extras). Each server is one
`python -m moto.server` process on a free port, holding everything in memory; it listens ~0.6 s
after it starts. What is read back goes through boto3 (installed with moto), not through the code
under test.

What moto 5.2 does here (measured): it accepts any key and does not check signatures (the
signing is checked against AWS's published example instead); a bucket name needs 3 characters or
more; LastModified, and so rclone's version names (`a-v2026-12-01-144510-000.csv`), is to the
second; `--s3-version-at` and `--s3-versions --s3-version-deleted` work as on AWS; an object
stored as DEEP_ARCHIVE is listed and deleted like any other.
"""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, stop_process, wait_until_listening

HOST = "127.0.0.1"
READY_SECONDS = 30
POLL_SECONDS = 0.05
ACCESS_KEY = "AKIAMOTOBACKUP0001"
SECRET_KEY = "moto/Secret+Key0123456789abcdefghijklmno"
REGION = "eu-west-1"


class MotoServer:
    """One moto server process; a context manager that stops it on exit."""

    def __init__(self, folder):
        self.root = Path(folder)
        self.port = free_port()
        self.process = None

    @property
    def endpoint(self):
        return f"http://{HOST}:{self.port}"

    @property
    def log_file(self):
        return self.root / "moto.log"

    def section(self):
        """rclone.conf keys of an S3 remote (provider Other, as for any S3-compatible server) that reaches it."""
        return {"type": "s3", "provider": "Other", "endpoint": self.endpoint, "region": REGION,
                "location_constraint": REGION, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, "force_path_style": "true"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def versioning(self, bucket):
        return self.client().get_bucket_versioning(Bucket=bucket).get("Status")

    def lifecycle_rules(self, bucket):
        from botocore.exceptions import ClientError

        try:
            return self.client().get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
                return []
            raise

    def versions(self, bucket, key):
        listed = self.client().list_object_versions(Bucket=bucket, Prefix=key)
        return [(item["VersionId"], item["Size"], item["IsLatest"]) for item in listed.get("Versions", ())
                if item["Key"] == key]

    def storage_class(self, bucket, key):
        return self.client().head_object(Bucket=bucket, Key=key).get("StorageClass", "STANDARD")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def wait_until_ready(self):
        wait_until_listening(self.process, self.port, "moto server", self.log_file, READY_SECONDS, POLL_SECONDS)

    def stop(self):
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None
