"""Shared fixtures: a lab folder with its own config, and the real command run on it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SCRIPT = PROJECT / "scripts" / "backup_system.py"

# Names every destination must carry under their own name; each transport's tests add what it can store besides.
AWKWARD_NAMES = [
    "with space.csv",
    "  leading and  doubled spaces.csv",
    "single'quote.csv",
    "semi;colon.csv",
    "café é.csv",
    "日本語.csv",
    "-leading-dash.csv",
    "nested/deeper/folder with space/x.csv",
]


# The lab's two sources as most stories back them up; paths are relative to config/config.yaml.
SOURCES = {"csvs": {"path": "../data/csvs", "exclude": ["*.tmp"]}, "results": {"path": "../data/results"}}


def with_create(settings):
    """`create: true` for a destination sending to a local folder, when it does not say."""
    base = settings.get("base_path") if isinstance(settings, dict) else None
    if not isinstance(base, str) or "create" in settings or base.startswith(("smb:", "//")) or ":" in base.split("/")[0]:
        return settings
    return {**settings, "create": True}


class Lab:
    """A temporary lab: data folders, a config file, and the backup command run against them."""

    def __init__(self, root):
        self.root = Path(root)
        self.config = self.root / "config" / "config.yaml"

    def path(self, relative):
        return self.root / relative

    def write(self, relative, content="", mtime=None):
        """Write a file (text or bytes); mtime: seconds since the epoch, default now."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
        if mtime is not None:
            os.utime(target, (mtime, mtime))
        return target

    def write_newer(self, relative, content):
        """Rewrite a file with a modification time clearly after the previous one."""
        target = self.root / relative
        before = target.stat().st_mtime if target.exists() else time.time()
        return self.write(relative, content, mtime=max(time.time(), before + 2))

    def write_config(self, text):
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(textwrap.dedent(text))
        return self.config

    def write_backups(self, destinations, sources=None, **settings):
        """Write the config: name lab, log and state beside the config folder, sources (default SOURCES),
        these destinations, and any other `backups:` settings (enabled=False, ...).

        A destination whose base_path is a local folder of the lab gets `create: true` unless it says
        otherwise: the test means a folder inside the lab that the first run makes."""
        import yaml

        destinations = {name: with_create(settings_) for name, settings_ in destinations.items()}
        backups = {"name": "lab", "log_file": "../logs/backup.log", "state_dir": "../state", **settings,
                   "sources": SOURCES if sources is None else sources, "destinations": destinations}
        return self.write_config(yaml.safe_dump({"backups": backups}, allow_unicode=True, sort_keys=False))

    def argv(self, *args):
        """The command line of scripts/backup_system.py with these arguments, on this lab's config."""
        argv = [sys.executable, str(SCRIPT), *args]
        if "--config" not in args and args[:1] != ("config",):
            argv[2:2] = ["--config", str(self.config)]
        return argv

    def run(self, *args, env=None, timeout=120):
        """Run scripts/backup_system.py as a user would; returns CompletedProcess with text output."""
        return subprocess.run(self.argv(*args), capture_output=True, text=True, cwd=self.root, timeout=timeout,
                              env={**os.environ, **(env or {})})

    def start(self, *args, env=None, **popen_options):
        """Start scripts/backup_system.py without waiting (to watch or stop it mid-run); returns the Popen."""
        return subprocess.Popen(self.argv(*args), cwd=self.root, env={**os.environ, **(env or {})}, **popen_options)

    def summary_line(self, output, destination, source):
        """The summary table row of one job."""
        for line in output.splitlines():
            cells = line.split()
            if cells[:2] == [destination, source]:
                return line
        raise AssertionError(f"no summary row for {destination}/{source} in:\n{output}")


def report_of(result):
    """The JSON report a `--json` run printed on stdout."""
    assert result.stdout.lstrip().startswith("{"), result.stdout + result.stderr
    return json.loads(result.stdout)


def job_of(result, destination, source):
    """One job of a `--json` run's report (result: the finished run, or its report)."""
    report = result if isinstance(result, dict) else report_of(result)
    jobs = [job for job in report["jobs"] if (job["destination"], job["source"]) == (destination, source)]
    assert len(jobs) == 1, f"no single job {destination}/{source} in {report}"
    return jobs[0]


def assert_no_traceback(result):
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


def as_nobody_argv(folder):
    """argv that runs the backup command as the unprivileged user `nobody`, from a copy in `folder`.

    The checkout (and its .venv) may sit in a folder only root can enter, so the package,
    the script and PyYAML are copied into a world-readable folder and run by the base
    interpreter without site-packages.
    """
    import yaml

    copy = Path(folder) / "backup_system_copy"
    shutil.copytree(PROJECT / "src" / "backup_system", copy / "src" / "backup_system",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(yaml.__file__).parent, copy / "src" / "yaml", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "scripts").mkdir()
    shutil.copy(SCRIPT, copy / "scripts" / "backup_system.py")
    subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    return [*as_nobody, os.path.realpath(sys.executable), "-S", str(copy / "scripts" / "backup_system.py")]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Keep the tests' parsed-config cache out of the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path / "lab")


@pytest.fixture(scope="session")
def rclone_cache(tmp_path_factory):
    """One cache folder for every `rclone serve`: sftp's host keys are generated once."""
    return tmp_path_factory.mktemp("rclone-cache")


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(process, port, name, log_file, seconds, poll=0.05):
    """Return once something listens on 127.0.0.1:port; RuntimeError (with the end of the log) when `process`
    exits first or nothing listens within `seconds`."""
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited {process.returncode}: {log_file.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(poll)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {seconds} s")


def stop_process(process):
    """Terminate a server process, killing it when it does not end within 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pids_named(name):
    """Process ids of running programs called `name`."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as stream:
                if stream.read().strip() == name:
                    pids.append(pid)
        except OSError:
            pass
    return pids


def arguments_of(pid):
    """A process's command line as NUL-separated bytes, b'' when it has ended."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return stream.read()
    except OSError:
        return b""


def tree(folder, manifests=False):
    """{relative path: bytes} of every regular file under folder; the manifests a backup keeps beside the data
    (.backup_system/MANIFEST, see test_manifest_and_verify.py) only when asked."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.is_symlink()
            and (manifests or ".backup_system" not in path.relative_to(folder).parts[:-1])}


@pytest.fixture
def nobody_lab():
    """A lab owned by the unprivileged user `nobody`, so file permissions apply as for a lab member."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the backup as another user")
    root = tempfile.mkdtemp(prefix="lab-nobody-")
    os.chmod(root, 0o755)
    lab = Lab(Path(root) / "lab")
    lab.write_backups({"secured": {"base_path": "../backups/secured"}})
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/csvs/z.csv", "9\n")
    lab.write("data/results/figure.png", b"png")
    subprocess.run(["chown", "-R", "65534:65534", root], check=True)
    yield lab
    shutil.rmtree(root)


def run_as_nobody(lab, *args):
    copies = lab.root.parent / "copies"
    fresh = copies / str(len(list(copies.iterdir())) if copies.exists() else 0)  # one copy per call
    argv = [*as_nobody_argv(fresh), "--config", str(lab.config), *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=lab.root, timeout=60)
