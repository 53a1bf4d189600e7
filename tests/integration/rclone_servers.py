r"""Real rclone servers for tests and benchmarks: `rclone serve s3|webdav|sftp` on 127.0.0.1.

    with RcloneServer("s3", tmp_path / "s3") as server:
        server.folder                    # the served folder; for s3 each top-level folder is a bucket
        server.section()                 # the rclone.conf keys of a remote that reaches it, secrets included
        server.section(secrets=False)    # ... without them; then pass server.secret_env("NAME") to rclone
        server.stop(); server.start()    # gone mid-story, and back on the same port over the same folder

    write_rclone_conf(path, {"s3lab": server.section()})

Each server is the pinned rclone (the one backup_system runs by default), on a free port, over its
own folder, with its own cache folder (sftp host keys: share one folder between servers and they are
generated once) and no config of the machine's. start() waits until the port accepts connections;
close() stops the server whatever happens. registry_env() makes the CLI under test know
`type: rclone` until the registry line is in transports/__init__.py.

What rclone 1.75.2 does here (measured):
- `serve s3 --auth-key KEY,SECRET`: a one-letter key is refused (InvalidAccessKeyId); 16-character
  keys work, with `force_path_style = true`. Files keep their modification times (ms precision); a
  single PUT cut off mid-way leaves nothing (its `.rclone_temp_put_*` file is removed); a multipart
  upload (files over 200 MiB) cut off leaves a `.rclone_temp_multipart_*` file in the bucket folder.
- The servers cache directory listings (5 minutes by default): a file written straight into the
  served folder stays invisible to clients until then, so write() uploads through the server itself.
  `--dir-cache-time 0s` is no way out: the server then spins "forgetting directory cache" and stalls
  a client's transfers for seconds, sometimes for good (sftp and s3 both, about one run in four).
- webdav (remote `vendor = rclone`) and sftp keep modification times to the second.
- Wrong key: `api error InvalidAccessKeyId` / `SignatureDoesNotMatch` (403); webdav `401 Unauthorized`;
  sftp `ssh: unable to authenticate`. Server stopped: `dial tcp 127.0.0.1:PORT: connect: connection refused`.
- Full disk (a 512 KiB tmpfs under the served folder): sftp says `no space left on device` in most runs but
  `io: read/write on closed pipe` in about one of three; webdav `405 Method Not Allowed`; s3
  `api error InternalError`. Only a local destination (a pull) says so every time: `preallocate: file too
  big for remaining disk space` (or `no space left on device` once writing).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port, stop_process, wait_until_listening

HOST = "127.0.0.1"
PROJECT = Path(__file__).resolve().parents[2]
RCLONE = str(PROJECT / ".venv" / "bin" / "rclone") if (PROJECT / ".venv" / "bin" / "rclone").exists() \
    else (shutil.which("rclone") or "rclone")
READY_SECONDS = 20
POLL_SECONDS = 0.02
ACCESS_KEY = "AKIABACKUPTEST01"  # 16 characters: serve s3 refuses keys much shorter than real ones
SECRET_KEY = "s3cretKey/Backup+System0123456789abcdefg"  # 40, like AWS's
USER = "backup"
PASSWORD = "dav-sftp-Pa55word"
SECRET_KEYS = {"s3": ("secret_access_key",), "webdav": ("pass",), "sftp": ("pass",)}


def obscure(password):
    """rclone's reversible obscuring, which webdav and sftp remotes need for `pass`."""
    return subprocess.run([RCLONE, "obscure", password], capture_output=True, text=True, check=True).stdout.strip()


class RcloneServer:
    """One `rclone serve <protocol>` process over a folder; a context manager that stops it on exit."""

    def __init__(self, protocol, folder, cache_dir=None, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                 user=USER, password=PASSWORD, size_limit=None, extra_args=()):
        if protocol not in SECRET_KEYS:
            raise ValueError(f"unknown protocol {protocol}")
        self.protocol = protocol
        self.root = Path(folder)
        self.folder = self.root / "served"
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / "cache"
        self.access_key, self.secret_key = access_key, secret_key
        self.user, self.password = user, password
        self.size_limit = size_limit  # a tmpfs of this size under the served folder (needs root)
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.process = None
        self.mounted = False
        self._obscured = None

    # -- what tests use --------------------------------------------------------------------------

    @property
    def log_file(self):
        return self.root / f"serve-{self.protocol}.log"

    @property
    def secrets(self):
        """The values a test must never find in output, logs or process arguments."""
        return [self.secret_key] if self.protocol == "s3" else [self.password, self.obscured_password]

    @property
    def obscured_password(self):
        if self._obscured is None:
            self._obscured = obscure(self.password)  # random each time rclone obscures: keep one
        return self._obscured

    def section(self, secrets=True):
        """rclone.conf keys for a remote that reaches this server."""
        if self.protocol == "s3":
            keys = {"type": "s3", "provider": "Rclone", "endpoint": f"http://{HOST}:{self.port}",
                    "access_key_id": self.access_key, "secret_access_key": self.secret_key,
                    "force_path_style": "true"}
        elif self.protocol == "webdav":
            keys = {"type": "webdav", "url": f"http://{HOST}:{self.port}/", "vendor": "rclone",
                    "user": self.user, "pass": self.obscured_password}
        else:
            keys = {"type": "sftp", "host": HOST, "port": str(self.port), "user": self.user,
                    "pass": self.obscured_password, "shell_type": "none"}
        if not secrets:
            keys = {key: value for key, value in keys.items() if key not in SECRET_KEYS[self.protocol]}
        return keys

    def secret_env(self, remote):
        """The secret keys as rclone's environment variables for `remote` (RCLONE_CONFIG_<REMOTE>_<KEY>)."""
        full = self.section()
        return {f"RCLONE_CONFIG_{remote.upper()}_{key.upper()}": full[key] for key in SECRET_KEYS[self.protocol]}

    def path(self, *parts):
        return self.folder.joinpath(*parts)

    def write(self, relative, content, mtime=None):
        """A file another computer uploads (through the server, so it knows at once); mtime in epoch seconds."""
        staging = self.root / "staging" / f"upload-{time.monotonic_ns()}"
        staging.parent.mkdir(parents=True, exist_ok=True)
        staging.write_bytes(content if isinstance(content, bytes) else content.encode())
        if mtime is not None:
            os.utime(staging, (mtime, mtime))
        conf = write_rclone_conf(self.root / "client.conf", {"server": self.section()})
        subprocess.run([RCLONE, "--config", str(conf), "copyto", str(staging), f"server:{relative}"],
                       capture_output=True, text=True, check=True, timeout=60)
        staging.unlink()
        return self.path(relative)

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def argv(self):
        auth = {"s3": ["--auth-key", f"{self.access_key},{self.secret_key}"],
                "webdav": ["--user", self.user, "--pass", self.password],
                "sftp": ["--user", self.user, "--pass", self.password, "--authorized-keys", os.devnull]}
        return [RCLONE, "serve", self.protocol, str(self.folder), "--addr", f"{HOST}:{self.port}",
                *auth[self.protocol], *self.extra_args]

    def start(self):
        """Start the server (again, after stop(): same port and folder) and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if self.size_limit and not self.mounted:
            self.mount_tmpfs()
        env = {**os.environ, "RCLONE_CACHE_DIR": str(self.cache_dir), "RCLONE_CONFIG": os.devnull}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        try:
            self.wait_until_ready()
        except BaseException:
            self.close()
            raise

    def wait_until_ready(self):
        wait_until_listening(self.process, self.port, f"rclone serve {self.protocol}", self.log_file, READY_SECONDS,
                             POLL_SECONDS)

    def stop(self):
        """Stop the server process; the folder stays."""
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def close(self):
        self.stop()
        if self.mounted:
            unmount(self.folder)
            self.mounted = False

    def mount_tmpfs(self):
        mount_tmpfs(self.folder, self.size_limit)
        self.mounted = True


def mount_tmpfs(folder, size):
    """A size-limited folder (a tmpfs), to fill a disk on purpose; needs root. Undo with unmount()."""
    if os.geteuid() != 0:
        raise PermissionError("a size-limited folder needs root (mount -t tmpfs)")
    Path(folder).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs: {done.stderr.strip()}")


def unmount(folder):
    subprocess.run(["umount", str(folder)], capture_output=True)


def write_rclone_conf(path, remotes):
    """An rclone.conf with one [section] per remote name -> keys; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items()) + "\n"
                   for name, keys in remotes.items())
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
