"""One adapter per kind of destination, each over a real test server on 127.0.0.1 (or a local folder).

The contract suite (test_transport_contract.py) runs every story on every adapter. Each offers the same
few operations, so a story never asks which kind it has:

    with Samba(tmp_path / "destination") as destination:   # starts its server; stops it on exit
        destination.configure(lab, **options)     # the lab's config: sources csvs and results, this destination
        destination.name                          # its name in the config, the summary and the JSON report
        destination.read("csvs/a.csv")            # bytes there, read from the server's own folder on disk
        destination.files("csvs")                 # {relative: bytes} of one source there; files(): everything
        destination.landed(lab, "csvs")           # what files() must be after a complete backup of these
        destination.mtime("csvs/a.csv")           # whole seconds
        destination.write_newer("csvs/a.csv", b"edited")   # another computer edits the copy there
        destination.stop()                        # the server goes away mid-story

What differs between kinds is declared as data (extra_names, slow, fail_fast, keeps_partial, unreachable),
as rclone's fs/features.go does. A new transport adds one adapter class here and one row in the suite.
"""

import getpass
import os
import time
from pathlib import Path

from tests.conftest import tree
from tests.integration.rclone_servers import RcloneServer, write_rclone_conf
from tests.integration.smbd import SambaServer
from tests.integration.sshd import SshServer

# One attempt of the job, not three (~5 s each, on every failure test); a few low-level tries stay:
# `rclone serve s3` now and then answers 500 to PutObjects that create folders side by side.
FAST_FAILURE = ["--retries", "1", "--low-level-retries", "3"]
# A stopped server: each low-level try of a refused connection waits out the S3 SDK's back-off
# (a stopped s3 server takes 60 s to fail both jobs with FAST_FAILURE, webdav 17 s).
NO_RETRIES = ["--retries", "1", "--low-level-retries", "1"]
HOUR = 3600


class Destination:
    """A destination of one kind: the server behind it, where it keeps files on disk, its config entry."""

    name = ""              # the destination's name in the config, the summary and the JSON report
    where = ""             # the folder under root where the sources land: root/where/<source>/...
    extra_names = ()       # names it stores under their own name beside conftest.AWKWARD_NAMES
    slow = {}              # destination options that slow a transfer enough to stop it midway
    big_size = 24 << 20    # with `slow`, a file of this size is still on its way after a second
    fail_fast = {}         # destination options that make a job give up at once when the server is down
    keeps_partial = False  # an interrupted file waits in partial_path() to be resumed by the next run
    unreachable = ""       # what the FAILED line says when the server is down
    server = None          # the server behind it (start, stop), if it has one
    has_server = True      # False: a local folder, which the server-down story cannot stop

    def __init__(self, folder, cache_dir=None):
        self.folder = Path(folder)
        self.root = self.folder / "disk"  # everything the destination ever writes is under here

    def __enter__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def start(self):
        """Start the server behind the destination, if it has one."""
        if self.server:
            self.server.start()

    def close(self):
        """Stop the server behind the destination, if it has one; whatever happened to it."""
        if self.server:
            self.server.stop()

    def stop(self):
        if self.server is None:
            raise NotImplementedError(f"{type(self).__name__} has no server to stop")
        self.server.stop()

    def settings(self, lab):
        """The destination's entry in the lab's config (what the story's options are added to)."""
        raise NotImplementedError

    def target(self, source):
        """Where the report says a source went."""
        raise NotImplementedError

    def configure(self, lab, others=None, sources=None, **options):
        """Write the lab's config: sources csvs (*.tmp excluded) and results, or `sources`; this destination,
        then `others`."""
        lab.write_backups({self.name: {**self.settings(lab), **options}, **(others or {})}, sources)
        return lab

    def path(self, relative=""):
        """The file or folder on disk behind a path relative to the destination ("csvs/a.csv")."""
        return self.root / self.where / relative

    def read(self, relative):
        return self.path(relative).read_bytes()

    def files(self, source=None):
        """{relative path: bytes} of one source at the destination, or of everything under root."""
        return tree(self.path(source) if source else self.root)

    def landed(self, lab, *sources):
        """What files() holds after a complete backup of these sources: their local trees and nothing else."""
        return {f"{self.where}/{source}/{relative}": content for source in sources
                for relative, content in tree(lab.path(f"data/{source}")).items()}

    def mtime(self, relative):
        return int(self.path(relative).stat().st_mtime)

    def write_newer(self, relative, content):
        """Another computer edits the copy at the destination; its time is an hour ahead of now."""
        target = self.path(relative)
        target.write_bytes(content)
        os.utime(target, (time.time() + HOUR, time.time() + HOUR))

    def untouched(self):
        """Nothing was ever written: no file and no folder under root."""
        return list(self.root.iterdir()) == []

    def partial_path(self, relative):
        """Where an interrupted file waits to be resumed (only when keeps_partial)."""
        raise NotImplementedError


class LocalRsync(Destination):
    """rsync to a local folder (a mounted disk), named relative to the config file as users do."""

    name = "secured"
    where = "secured"
    extra_names = ('double"quote.csv', "star*.csv", "$(touch pwned).csv", "back\\slash.csv", "new\nline.csv")
    slow = {"rsync_options": ["--bwlimit=4m"]}
    keeps_partial = True
    has_server = False

    def settings(self, lab):
        return {"base_path": os.path.relpath(self.path(), lab.config.parent)}

    def target(self, source):
        return str(self.path(source))

    def partial_path(self, relative):
        source, _, rest = relative.partition("/")
        return self.path(source) / ".backup_system-partial" / "resume" / rest.rpartition("/")[2]  # ours


class RsyncOverSsh(LocalRsync):
    """rsync to user@127.0.0.1:/path through a real sshd."""

    has_server = True
    name = "server"
    where = "lab"
    unreachable = "connection refused"

    def __init__(self, folder, cache_dir=None):
        super().__init__(folder)
        self.server = SshServer(self.folder / "sshd")

    def settings(self, lab):  # create: the server's folder `lab` is made by the first backup
        return {"base_path": self.base_path, "ssh_command": self.server.ssh_command, "create": True}

    @property
    def base_path(self):
        return f"{getpass.getuser()}@127.0.0.1:{self.path()}"

    def target(self, source):
        return f"{self.base_path}/{source}"

    def partial_path(self, relative):
        source, _, rest = relative.partition("/")
        return self.path(source) / ".backup_system-partial" / rest.rpartition("/")[2]  # ours, at the top


class Samba(Destination):
    """An SMB share through smbclient, on a real smbd."""

    name = "smb"
    where = "lab"
    extra_names = ("plain.csv", "looks  D  0  Mon Jan  1 000000 2024.csv",  # looks like a listing line
                   "NT_STATUS_ACCESS_DENIED.log",  # a name, not an error
                   "y" * 251 + ".csv")  # 255 bytes, the longest name Linux allows
    big_size = 64 << 20  # smbclient has no bandwidth limit: a bigger file instead
    unreachable = "cannot reach //127.0.0.1/backup"

    def __init__(self, folder, cache_dir=None):
        super().__init__(folder)
        self.server = SambaServer(self.folder / "samba")
        self.root = self.server.share_path("backup")

    def settings(self, lab):
        credentials = self.server.write_credentials(lab.root / "private" / "smbcredentials")
        return {"base_path": self.server.url("backup", self.where), "port": self.server.port,
                "credentials_file": str(credentials)}

    def target(self, source):
        return self.server.url("backup", f"{self.where}/{source}")


class RcloneServe(Destination):
    """An rclone remote `cloud` served by `rclone serve <protocol>`; for s3 the folder `lab` is the bucket."""

    name = "box"
    where = "lab"
    extra_names = ('double"quote.csv', "hash#percent%amp&plus+.csv", "question?mark.csv")
    slow = {"flags": [*FAST_FAILURE, "--bwlimit", "8M"]}
    fail_fast = {"flags": NO_RETRIES}
    protocol = ""

    def __init__(self, folder, cache_dir=None):
        super().__init__(folder)
        self.server = RcloneServer(self.protocol, self.folder / f"serve-{self.protocol}", cache_dir=cache_dir)
        self.root = self.server.folder

    @property
    def unreachable(self):
        return f"cannot reach 127.0.0.1:{self.server.port}: connection refused"

    def close(self):
        self.server.close()

    def settings(self, lab):
        write_rclone_conf(lab.path("rclone/rclone.conf"), {"cloud": self.server.section()})
        return {"remote": "cloud", "folder": self.where, "rclone_config": "../rclone/rclone.conf",
                "flags": FAST_FAILURE}

    def target(self, source):
        return f"cloud:{self.where}/{source}"

    def write_newer(self, relative, content):
        """Uploaded through the server, which would not see a file written into its folder for minutes."""
        self.server.write(f"{self.where}/{relative}", content, mtime=time.time() + HOUR)


class RcloneS3(RcloneServe):
    protocol = "s3"


class RcloneWebdav(RcloneServe):
    protocol = "webdav"


class RcloneSftp(RcloneServe):
    protocol = "sftp"
