r"""A real Samba server for tests: 127.0.0.1 only, a free port, its own config, state and account.

    with SambaServer(tmp_path / "samba") as server:
        server.url("backup", "host1")     # smb://127.0.0.1/backup/host1 (the port is server.port)
        server.share_path("backup")       # the share's folder on disk
        server.write_credentials(path)    # a smbclient credentials file for server.user
        server.stop()                     # the server goes away mid-story ...
        server.start()                    # ... and comes back on the same port
        with server.paused():             # every smbd process SIGSTOPped: connections hang, not refused
            ...                           # (SIGCONT on leaving, whatever happens)

Shares: `backup` (writable), `readonly` (read only = yes) and `tiny` (writable, on a 512 KiB tmpfs, so
writes fail with a full disk; only when server.has_tiny_share, as mounting needs root). Writable shares with
settings file servers use: `vetotmp` (veto files = /*.tmp/), `vetodot` (veto files = /.*/: every dot file),
`exact` (case sensitive = yes, mangled names = no: stores names that differ only in case, reserved DOS names
and trailing dots as they are).

Every state path lives in the given folder; nothing of the machine's own Samba setup is read or changed
(see /work/shared/notes/smbclient.md for why each setting is there).

The SMB account is `smbtest` / `s3cret-pass`. Samba needs every SMB account to be a Unix user; rather than
adding a user to /etc/passwd, a private `username map` maps the SMB name `smbtest` to the Unix user `root`
and the private passdb holds the password under `root`. Clients log in as `smbtest`; files in the shares are
written by root, so the share folders need no special modes and may sit under a 0700 pytest folder.

What smbclient 4.17 prints against this server (measured; `-s /dev/null`, TZ=UTC, stdout unless said):
- wrong password, exit 1:        session setup failed: NT_STATUS_LOGON_FAILURE
- server stopped, exit 1 (stderr):
                                 do_connect: Connection to 127.0.0.1 failed (Error NT_STATUS_CONNECTION_REFUSED)
- missing share, exit 1:         tree connect failed: NT_STATUS_BAD_NETWORK_NAME
- put into `readonly` (stdin mode exits 0):
                                 NT_STATUS_ACCESS_DENIED opening remote file \a.txt
- put into the full `tiny` share (stdin mode exits 0; `-c put` exits 1): on STDERR, followed by the usual
  progress line as if it had worked, and a truncated file (520192 of 1048576 bytes; 0 bytes for a
  later small put) is left under the remote name:
                                 cli_push returned NT_STATUS_DISK_FULL
                                 putting file /tmp/.../big.bin as \big.bin (511975.0 kb/s) (average ...)
- marker `lcd /nonexistent/__MARK_1__` (exit 0; note "chdir", not "lcd"):
                                 chdir to /nonexistent/__MARK_1__ failed (No such file or directory)
Without `-E` errors and markers go to stdout but some errors (DISK_FULL) and progress to stderr, and a pipe
block-buffers stdout, so merging the two streams does NOT keep the order: to tie each error to its command
with markers, run smbclient with `-E` (everything on stderr, in order) and read between markers.
A session left open across stop() gets, for its next `ls` (exit 0):  NT_STATUS_CONNECTION_DISCONNECTED listing \*

`recurse ON; ls` (TZ=UTC; name padded to 30 bytes, then attributes, size, date; a blank line and a
`\dir\sub` header start each folder's section; the listing ends with a blocks-available line):
  .                                   D        0  Tue Nov 24 23:23:55 2026
  top                                 D        0  Tue Nov 24 23:23:55 2026

\top\nested
  b with  spaces.txt                  A     2000  Tue Nov 24 23:23:55 2026

		264212084 blocks of size 1024. 81450544 blocks available
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

HOST = "127.0.0.1"
USER = "smbtest"
PASSWORD = "s3cret-pass"
READY_SECONDS = 10
POLL_SECONDS = 0.05
TINY_SIZE = "512k"
SHARES = ("backup", "readonly", "tiny", "vetotmp", "vetodot", "exact")
SHARE_SETTINGS = {  # the writable shares with a setting of their own
    "vetotmp": ["veto files = /*.tmp/"],
    "vetodot": ["veto files = /.*/"],
    "exact": ["case sensitive = yes", "mangled names = no"],
}
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])


def tool(name):
    """The full path of a Samba program, or skip the test when Samba is not installed."""
    found = shutil.which(name, path=SBIN_PATH)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install samba smbclient)")
    return found


class SambaServer:
    """One smbd process with a private folder; a context manager that stops it on exit."""

    host = HOST
    user = USER
    password = PASSWORD

    def __init__(self, folder):
        self.smbd = tool("smbd")
        self.smbclient = tool("smbclient")
        self.smbpasswd = tool("smbpasswd")
        self.folder = Path(folder)
        self.port = free_port()
        self.process = None
        self.has_tiny_share = False
        self.tiny_mounted = False
        self.tiny_problem = None  # why `tiny` is unavailable, when it is
        self.prepared = False
        self.ready_seconds = None  # how long the last start() took until a login worked

    # -- paths and values for tests ------------------------------------------------------------------

    @property
    def config(self):
        return self.folder / "smb.conf"

    @property
    def log_file(self):
        """smbd's own output (--debug-stdout), appended to on every start()."""
        return self.folder / "smbd.log"

    @property
    def credentials(self):
        """A credentials file for the right password, written on start()."""
        return self.folder / "credentials"

    def share_path(self, share="backup"):
        return self.folder / "shares" / share

    def url(self, share="backup", path=""):
        """smb://127.0.0.1/<share>/<path>; the port is not in the URL (it is server.port)."""
        path = str(path).strip("/")
        return f"smb://{self.host}/{share}/{path}" if path else f"smb://{self.host}/{share}"

    def write_credentials(self, path, password=None, mode=0o600):
        """Write a smbclient credentials file (`-A`) for this server's user; returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        password = self.password if password is None else password
        path.write_text(f"username={self.user}\npassword={password}\ndomain=WORKGROUP\n")
        os.chmod(path, mode)
        return path

    def smbclient_argv(self, share="backup", credentials=None):
        """argv for a bare smbclient session to a share; run it with TZ=UTC for `ls` dates in UTC.

        credentials: another credentials file (e.g. one from write_credentials with a wrong password).
        """
        return [self.smbclient, f"//{self.host}/{share}", "-s", os.devnull, "-p", str(self.port),
                "-A", str(credentials or self.credentials)]

    def run_smbclient(self, commands, share="backup", argv=None, timeout=30):
        """Feed commands (one per line) to a smbclient session on stdin; CompletedProcess with text."""
        return subprocess.run(argv or self.smbclient_argv(share), input="".join(f"{c}\n" for c in commands),
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "TZ": "UTC"})

    # -- life cycle ------------------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        """Start smbd (again, after stop(): same port, config and account) and wait until a login works."""
        if self.process is not None and self.process.poll() is None:
            return
        began = time.monotonic()
        try:
            if not self.prepared:
                self.prepare()
            self.mount_tiny()
            with open(self.log_file, "ab") as log:
                # Not start_new_session (smbd calls setsid itself and fails if it cannot) and not
                # --no-process-group (on SIGTERM smbd would signal our process group: the test runner).
                # stdin must not be an inherited pipe, or smbd never listens.
                self.process = subprocess.Popen([self.smbd, "-F", "--debug-stdout", "-s", str(self.config)],
                                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            self.wait_until_ready()
        except BaseException:
            self.stop()  # no smbd and no mount left behind when start() fails (__exit__ is not called then)
            raise
        self.ready_seconds = time.monotonic() - began

    def prepare(self):
        """Folders, smb.conf, the account; done once, a restart reuses them."""
        for name in ("lock", "state", "cache", "pid", "private", "ncalrpc", "binddns", "logs", "usershares"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder / "private", 0o700)
        os.chmod(self.folder / "usershares", 0o1755)
        for share in SHARES:
            self.share_path(share).mkdir(parents=True, exist_ok=True)
        (self.folder / "users.map").write_text(f"root = {self.user}\n")
        self.write_credentials(self.credentials)
        self.mount_tiny()
        self.write_config()
        # The SMB account behind `smbtest` is the Unix user root (see users.map).
        subprocess.run([self.smbpasswd, "-c", str(self.config), "-s", "-a", "root"],
                       input=f"{self.password}\n{self.password}\n", capture_output=True, text=True,
                       check=True, timeout=30)
        self.prepared = True

    def mount_tiny(self):
        """Put `tiny` on a small tmpfs so writes to it fail with a full disk (needs root).

        Where mounting is not permitted (not root, or no CAP_SYS_ADMIN in a container), the share is
        left out of smb.conf and has_tiny_share stays False, so tests can skip.
        """
        if self.tiny_mounted or (self.prepared and not self.has_tiny_share):
            return
        try:
            mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TINY_SIZE},mode=0777", "tmpfs",
                                    str(self.share_path("tiny"))], capture_output=True, text=True, timeout=30)
            problem = None if mount.returncode == 0 else (mount.stderr.strip() or f"mount exited {mount.returncode}")
        except (OSError, subprocess.TimeoutExpired) as error:
            problem = f"mount: {error}"
        self.tiny_mounted = problem is None
        if not self.prepared:
            self.has_tiny_share = self.tiny_mounted
            self.tiny_problem = problem
        elif not self.tiny_mounted:
            raise RuntimeError(f"could not mount the tiny share again: {problem}")

    def unmount_tiny(self):
        if not self.tiny_mounted:
            return
        target = str(self.share_path("tiny"))
        if subprocess.run(["umount", target], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", target], capture_output=True, timeout=30)
        self.tiny_mounted = False

    def write_config(self):
        folder = self.folder
        lines = [
            "[global]",
            "workgroup = WORKGROUP",
            "server role = standalone server",
            f"smb ports = {self.port}",
            f"interfaces = {HOST}",
            "bind interfaces only = yes",
            "disable netbios = yes",
            "load printers = no",
            "printing = bsd",
            "printcap name = /dev/null",
            "disable spoolss = yes",
            "map to guest = never",
            "rpc start on demand helpers = no",
            "idmap config * : backend = tdb",
            "idmap config * : range = 100000-199999",
            f"lock directory = {folder / 'lock'}",
            f"state directory = {folder / 'state'}",
            f"cache directory = {folder / 'cache'}",
            f"pid directory = {folder / 'pid'}",
            f"private dir = {folder / 'private'}",
            f"ncalrpc dir = {folder / 'ncalrpc'}",
            f"binddns dir = {folder / 'binddns'}",
            f"usershare path = {folder / 'usershares'}",
            f"passdb backend = tdbsam:{folder / 'private' / 'passdb.tdb'}",
            f"log file = {folder / 'logs' / 'log.smbd'}",
            f"username map = {folder / 'users.map'}",
            "",
            "[backup]",
            f"path = {self.share_path('backup')}",
            "read only = no",
            "",
            "[readonly]",
            f"path = {self.share_path('readonly')}",
            "read only = yes",
            "",
        ]
        for share, settings in SHARE_SETTINGS.items():
            lines += [f"[{share}]", f"path = {self.share_path(share)}", "read only = no", *settings, ""]
        if self.has_tiny_share:
            lines += ["[tiny]", f"path = {self.share_path('tiny')}", "read only = no", ""]
        self.config.write_text("\n".join(lines))

    def can_log_in(self):
        try:
            done = subprocess.run([*self.smbclient_argv("backup"), "-c", "ls"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def wait_until_ready(self):
        """Poll an authenticated `ls` (a TCP connect is no proof); fail with smbd's log if it never works."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.can_log_in():
                return
            time.sleep(POLL_SECONDS)
        exit_code = self.process.poll()
        self.stop()
        tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"smbd on {HOST}:{self.port} did not accept a login within {READY_SECONDS} s "
                           f"(exit code {exit_code}); the end of its log {self.log_file}:\n{tail}")

    def stop(self):
        """Stop the server (idempotent); afterwards a connection to its port is refused.

        smbd makes itself a process-group leader, so its helpers (smbd-notifyd, one smbd per connection)
        are found by that group and waited for, or killed, so that none outlives stop(). The tiny
        filesystem is unmounted too; start() mounts a fresh, empty one.
        """
        if self.process is not None:
            group = self.process.pid
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.end_group(group)
        self.unmount_tiny()

    @contextlib.contextmanager
    def paused(self):
        """Every smbd process of this server stopped (SIGSTOP) inside the block, continued (SIGCONT) after it: a
        server that stops answering, whose port still accepts connections."""
        group = self.process.pid
        os.killpg(group, signal.SIGSTOP)
        try:
            yield self
        finally:
            os.killpg(group, signal.SIGCONT)

    @staticmethod
    def live_members(group):
        """Pids of processes still running (not zombies) in the process group `group`."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            state, pgid = fields[0], int(fields[2])
            if pgid == group and state not in ("Z", "X"):
                members.append(int(entry.name))
        return members

    def end_group(self, group, grace=5.0):
        deadline = time.monotonic() + grace
        while self.live_members(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in self.live_members(group):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- self-tests of the fixture ---------------------------------------------------------------------------


def test_samba_fixture_serves_an_authenticated_share(tmp_path):
    local = tmp_path / "hello.txt"
    local.write_text("hello over smb\n")
    with SambaServer(tmp_path / "samba") as server:
        assert server.ready_seconds < READY_SECONDS
        done = server.run_smbclient([f'put "{local}" "hello.txt"', "ls"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert (server.share_path("backup") / "hello.txt").read_text() == "hello over smb\n"
        assert server.url("backup", "host1/") == "smb://127.0.0.1/backup/host1"

        wrong = server.write_credentials(tmp_path / "wrong.creds", password="not-it")
        argv = [*server.smbclient_argv(credentials=wrong), "-c", "ls"]
        denied = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert denied.returncode == 1
        assert "NT_STATUS_LOGON_FAILURE" in denied.stdout + denied.stderr

        missing = subprocess.run([*server.smbclient_argv("no-such-share"), "-c", "ls"], capture_output=True,
                                 text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert missing.returncode == 1
        assert "NT_STATUS_BAD_NETWORK_NAME" in missing.stdout + missing.stderr

        refused = server.run_smbclient([f'put "{local}" "a.txt"'], share="readonly")
        assert "NT_STATUS_ACCESS_DENIED" in refused.stdout
        assert not (server.share_path("readonly") / "a.txt").exists()

        server.stop()
        server.stop()  # idempotent
        gone = subprocess.run([*server.smbclient_argv(), "-c", "ls"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
        assert gone.returncode == 1
        assert "NT_STATUS_CONNECTION_REFUSED" in gone.stdout + gone.stderr

        server.start()  # back on the same port, same account, same files
        back = server.run_smbclient(["ls"])
        assert "hello.txt" in back.stdout
    assert server.process.poll() is not None


def test_samba_fixture_tiny_share_reports_a_full_disk(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024))
    with SambaServer(tmp_path / "samba") as server:
        if not server.has_tiny_share:
            pytest.skip(f"no tiny filesystem here: {server.tiny_problem}")
        # -E: errors, progress and markers all on stderr, in order (see the module docstring)
        commands = [f'put "{big}" "big.bin"', "lcd /nonexistent/__MARK_1__"]
        done = server.run_smbclient(commands, argv=[*server.smbclient_argv("tiny"), "-E"])
        assert done.returncode == 0  # stdin mode always exits 0
        before_marker = done.stderr.split("__MARK_1__")[0]
        assert "NT_STATUS_DISK_FULL" in before_marker, done.stderr
        assert "chdir to /nonexistent/__MARK_1__ failed (No such file or directory)" in done.stderr
        assert (server.share_path("tiny") / "big.bin").stat().st_size < big.stat().st_size
    assert not os.path.ismount(server.share_path("tiny"))
