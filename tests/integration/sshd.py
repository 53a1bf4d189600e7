"""A real OpenSSH server for tests: 127.0.0.1 only, a free port, its own keys and config.

    with SshServer(tmp_path / "sshd") as server:
        server.ssh_command    # the `ssh_command` config value that logs in with the test key
        server.stop()         # the server goes away mid-story
        server.freeze()       # the server and every session it runs stop answering (SIGSTOP); thaw() resumes

Everything lives in the given folder; nothing of the machine's own ssh setup is read or changed.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

SSHD = "/usr/sbin/sshd"
READY_SECONDS = 10


def make_key(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "backup-system-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


class SshServer:
    """One sshd process with a private folder; a context manager that stops it on exit."""

    def __init__(self, folder):
        if not os.access(SSHD, os.X_OK):
            pytest.skip(f"{SSHD} is not installed (apt-get install openssh-server, or make setup-test)")
        self.folder = Path(folder)
        self.port = free_port()
        self.process = None

    @property
    def key(self):
        return self.folder / "client_key"

    @property
    def log_file(self):
        return self.folder / "sshd.log"

    @property
    def ssh_command(self):
        """ssh logging in to this server with the test key, never asking or remembering anything."""
        return ["ssh", "-p", str(self.port), "-i", str(self.key), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.write_config()
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation needs it
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
        self.wait_until_ready()

    def write_config(self):
        host_key = make_key(self.folder / "host_key")
        make_key(self.key)
        authorized = self.folder / "authorized_keys"
        authorized.write_text(self.key.with_suffix(".pub").read_text())
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            f"PidFile {self.folder / 'sshd.pid'}",
            "",
        ]))
        return config

    def wait_until_ready(self):
        """Poll until a real login runs `true`; fail with sshd's own log if it never does."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.can_log_in():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sshd on 127.0.0.1:{self.port} did not accept a login within {READY_SECONDS} s; "
                           f"its log:\n{self.log_file.read_text(errors='replace')}")

    def can_log_in(self):
        argv = [*self.ssh_command, "-o", "ConnectTimeout=2", "127.0.0.1", "true"]
        return subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=10).returncode == 0

    def processes(self):
        """The pids of the server and of everything it started (its sessions, their shells and rsyncs)."""
        children = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as stream:
                    parent = int(stream.read().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(pid))
        found, waiting = [], [self.process.pid]
        while waiting:
            pid = waiting.pop()
            found.append(pid)
            waiting.extend(children.get(pid, []))
        return found

    def freeze(self):
        """The server hangs: it and every session stop (SIGSTOP), connections stay open but nothing answers."""
        self.signal_all(signal.SIGSTOP)

    def thaw(self):
        """Undo freeze() (harmless when not frozen)."""
        self.signal_all(signal.SIGCONT)

    def signal_all(self, number):
        if self.process is None or self.process.poll() is not None:
            return
        for pid in self.processes():
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass

    def stop(self):
        """Stop the server (idempotent); afterwards a connection to its port is refused."""
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()  # a frozen server would not act on SIGTERM
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
