"""The everyday run stays cheap: a no-change backup imports only what it uses (see ../shared/notes/startup.md)."""

import os
import subprocess
import sys

from tests.conftest import PROJECT

CONFIG = """\
backups:
  sources:
    csvs: {path: data}
  destinations:
    secured: {base_path: backup, create: true}
"""
# Heavy or unused on a plain rsync run: each costs milliseconds the no-change budget does not have.
# (The run is recorded in the history's journal; SQLite is for the commands that read it.)
NEVER_ON_A_PLAIN_RUN = (
    "yaml", "json", "sqlite3", "jinja2", "py7zr", "zipfile", "shlex", "smtplib", "urllib.request", "socket",
    "backup_system.history_db",
    "backup_system.compression", "backup_system.archive_formats", "backup_system.config.reference",
    "backup_system.transports.smb.transport", "backup_system.transports.smb.session",
    "backup_system.transports.smb.listing", "backup_system.transports.smb.names",
    "backup_system.transports.rclone.transport", "backup_system.transports.rclone.command",
    "backup_system.transports.rclone.log_reader",
)
PROBE = """\
import sys
sys.path.insert(0, {src!r})
from backup_system.cli import main
status = main(["--config", {config!r}, "-q"])
print(status, " ".join(sorted(sys.modules)))
"""


def modules_after_a_backup(tmp_path):
    probe = PROBE.format(src=str(PROJECT / "src"), config=str(tmp_path / "config.yaml"))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    status, modules = result.stdout.split(" ", 1)
    return int(status), set(modules.split())


def test_a_no_change_rsync_run_imports_no_parser_no_other_transport_and_no_later_feature(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1,2\n")
    first_status, first = modules_after_a_backup(tmp_path)  # parses the YAML and keeps a copy
    status, modules = modules_after_a_backup(tmp_path)
    assert (first_status, status) == (0, 0)
    assert "yaml" in first and "backup_system.transports.rsync.transport" in modules
    assert sorted(modules & set(NEVER_ON_A_PLAIN_RUN)) == []
