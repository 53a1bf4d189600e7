"""`config validate --reach` contacts every destination, enabled or not, with a listing only, and says per
destination and source: reachable, refused, not found or unreachable, in the words a run uses; exit 0 when all
are reachable, 1 when any is not, 2 for a config mistake. Nothing is written anywhere.

Each transport's reach() is its own; a story about one skips until that transport has it."""

import importlib
import time

import pytest

from backup_system.transports import TRANSPORTS, Transport
from tests.conftest import free_port, tree


def needs_reach(type_name):
    module = importlib.import_module(f"backup_system.transports.{type_name}.transport")
    if getattr(module, TRANSPORTS[type_name]).reach is Transport.reach:
        pytest.skip(f"the {type_name} transport has no reach() yet")


def reach(lab, env=None):
    return lab.run("config", "validate", "--reach", "--config", str(lab.config), env=env, timeout=120)


def lines_of(result):
    """The reach lines: every line after the ok line and validate's notes, without the closing count."""
    return [line for line in result.stdout.splitlines()[1:-1] if not line.startswith("note: ")]


@pytest.fixture
def data(lab):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    return lab


def test_reach_says_a_local_folder_is_reachable_and_an_unmounted_disk_is_not_found(data, tmp_path):
    needs_reach("rsync")
    disk = tmp_path / "disk"
    disk.mkdir()
    data.write_backups({"secured": {"base_path": str(disk), "create": False},
                        "usb": {"base_path": str(tmp_path / "media" / "usb"), "create": False, "enabled": False}})
    result = reach(data)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = lines_of(result)
    assert [line.split(" -> ")[0] for line in lines] == ["secured/csvs", "secured/results", "usb (disabled)/csvs",
                                                        "usb (disabled)/results"]
    assert lines[0].startswith(f"secured/csvs -> {disk}/csvs: reachable")
    assert lines[2].startswith(f"usb (disabled)/csvs -> {tmp_path}/media/usb/csvs: not found: ")
    assert "is the disk or share mounted?" in lines[2]
    assert result.stdout.splitlines()[-1] == "reach: 2 of 4 reachable"
    assert tree(disk) == {} and not (tmp_path / "media").exists()  # a listing only
    assert not data.path("state").exists()


def test_reach_exits_0_when_every_destination_answers(data, tmp_path):
    needs_reach("rsync")
    data.write_backups({"secured": {"base_path": str(tmp_path)}})
    result = reach(data)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "reach: 2 of 2 reachable"


def test_reach_finds_an_ssh_port_with_nothing_listening_unreachable_and_tries_that_server_once(data):
    needs_reach("rsync")
    port = free_port()
    data.write_backups({"server": {"base_path": "backup@127.0.0.1:/srv/lab", "connect_timeout": 5,
                                   "ssh_command": ["ssh", "-p", str(port)]}})
    started = time.monotonic()
    result = reach(data)
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stdout + result.stderr
    first, second = lines_of(result)
    assert first.startswith("server/csvs -> backup@127.0.0.1:/srv/lab/csvs: unreachable: cannot reach 127.0.0.1")
    assert "connection refused" in first
    assert second.startswith("server/results -> backup@127.0.0.1:/srv/lab/results: not tried: unreachable: ")


def test_reach_finds_an_rclone_server_with_nothing_listening_unreachable(data, tmp_path):
    needs_reach("rclone")
    conf = tmp_path / "rclone.conf"
    conf.write_text(f"[dav]\ntype = webdav\nurl = http://127.0.0.1:{free_port()}/\nvendor = rclone\n")
    data.write_backups({"box": {"remote": "dav", "folder": "lab", "rclone_config": str(conf),
                                "connect_timeout": 5}})
    started = time.monotonic()
    result = reach(data)
    assert time.monotonic() - started < 40
    assert result.returncode == 1, result.stdout + result.stderr
    first, second = lines_of(result)
    assert first.startswith("box/csvs -> dav:lab/csvs: unreachable: cannot reach 127.0.0.1")
    assert second.startswith("box/results -> dav:lab/results: not tried: unreachable: ")


def test_reach_lists_a_samba_share_and_a_disabled_destination_too(data, tmp_path):
    needs_reach("smb")
    from tests.integration.smbd import SambaServer

    with SambaServer(tmp_path / "samba") as samba:
        (samba.share_path("backup") / "lab" / "csvs").mkdir(parents=True)
        data.write_backups({"smb": {"base_path": f"smb://127.0.0.1:{samba.port}/backup/lab", "enabled": False,
                                    "credentials_file": str(samba.credentials), "method": "smbclient"}})
        result = reach(data)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = lines_of(result)
        assert lines[0] == "smb (disabled)/csvs -> smb://127.0.0.1/backup/lab/csvs: reachable"
        assert lines[1] == ("smb (disabled)/results -> smb://127.0.0.1/backup/lab/results: reachable; the folder is "
                            "not there yet (a run makes it)")
        assert tree(samba.share_path("backup")) == {}


# --- what does not depend on a transport ----------------------------------------------------------------------

def test_a_destination_whose_variable_is_unset_is_not_contacted_and_fails_the_check(data):
    data.write_backups({"usb": {"base_path": "${LAB_REACH_DISK}/lab", "enabled": False}})
    result = reach(data)
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines_of(result) == [f"usb (disabled): not contacted: {data.config}:14: backups.destinations.usb."
                                f"base_path: environment variable LAB_REACH_DISK is not set"]


def test_a_config_mistake_is_still_exit_2_and_contacts_nothing(data):
    data.write_config("backups:\n  destinations:\n    secured: {base_path: ../b, creat: true}\n")
    result = reach(data)
    assert result.returncode == 2
    assert result.stderr == f"{data.config}:3: backups.destinations.secured.creat: unknown key (did you mean " \
                            f"'create'?)\n"
    assert result.stdout == ""


def test_reach_goes_with_validate_only(data):
    data.write_backups({"secured": {"base_path": "../b"}})
    result = data.run("config", "show", "--reach", "--config", str(data.config))
    assert (result.returncode, result.stderr) == (2, "backup_system.py config: --reach goes with validate: "
                                                     "config validate --reach\n")
