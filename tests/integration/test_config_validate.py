"""`config validate` makes every check a backup makes before sending anything: each bad config below gives
exactly one line on stderr and exit 2 from both `config validate` and a backup, and the same line."""

import os
import signal
import subprocess
import time

import pytest

CREDENTIALS = "../private/smbcredentials"
SMB = "smb://127.0.0.1/backup/lab"


def smb_with_credentials(lab, text, mode=0o600):
    """A config with one smb destination whose credentials file holds `text` (None: no file)."""
    if text is not None:
        credentials = lab.write("private/smbcredentials", text)
        os.chmod(credentials, mode)
    lab.write_backups({"smb": {"base_path": SMB, "credentials_file": CREDENTIALS, "method": "smbclient"}})


def bad_configs():
    """(story, write(lab), words the one line says)."""
    return [
        ("a destination inside its source",
         lambda lab: lab.write_backups({"secured": {"base_path": "../data/csvs/backup"}}), "is inside the source"),
        ("a source that is the whole file system",
         lambda lab: lab.write_backups({"secured": {"base_path": "../backups"}}, sources={"all": {"path": "/"}}),
         "the whole file system ('/') cannot be a source"),
        ("a state_dir in /proc",
         lambda lab: lab.write_backups({"secured": {"base_path": "../backups"}}, state_dir="/proc/self"),
         "a kernel file system"),
        ("a state_dir below a file",
         lambda lab: (lab.write("afile", "x"), lab.write_backups({"secured": {"base_path": "../backups"}},
                                                                  state_dir="../afile/state")),
         "cannot make the lock file"),
        ("an smb credentials file that is missing",
         lambda lab: smb_with_credentials(lab, None), "No such file or directory"),
        ("an smb credentials file readable by others",
         lambda lab: smb_with_credentials(lab, "username=ada\npassword=x\n", 0o644), "run chmod 600"),
        ("an smb credentials file without a password= line",
         lambda lab: smb_with_credentials(lab, "username=ada\n"), "has no password= line"),
        ("an smb remote_dir with backslashes",
         lambda lab: lab.write_backups({"smb": {"base_path": "//127.0.0.1/backup", "remote_dir": "lab\\Data"}}),
         "holds a backslash"),
        ("a name that is a path",
         lambda lab: lab.write_backups({"secured": {"base_path": "../backups"}}, name="../../etc/evil"),
         "is not a plain word"),
        ("excludes that are not text",
         lambda lab: lab.write_backups({"secured": {"base_path": "../backups"}},
                                       sources={"csvs": {"path": "../data/csvs", "exclude": [1, None]}}),
         "expected text, got 1"),
        ("a binary config file",
         lambda lab: lab.config.write_bytes(bytes(range(256))), "not a YAML text file"),
        ("a config in Latin-1",
         lambda lab: lab.config.write_bytes("backups:\n  name: caf\xe9\n".encode("latin-1")), "not a YAML text file"),
        ("a config that is too big",
         lambda lab: lab.config.write_bytes(b"# " + b"x" * (5 * 2**20) + b"\n"), "over the 4 MB"),
    ]


@pytest.mark.parametrize("story, write, words", bad_configs(), ids=[story for story, _, _ in bad_configs()])
def test_a_bad_config_is_one_line_and_exit_2_from_validate_and_backup(lab, story, write, words):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.config.parent.mkdir(parents=True, exist_ok=True)
    write(lab)
    validate = lab.run("config", "validate", "--config", str(lab.config))
    backup = lab.run()
    for result in (validate, backup):
        assert result.returncode == 2, result.stdout + result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert words in result.stderr
    assert validate.stderr == backup.stderr
    assert not lab.path("backups").exists()


def test_an_empty_variable_in_a_path_is_named_not_read_as_the_config_folder(lab):
    lab.write_config('backups:\n  destinations:\n    secured: {base_path: "${XV}", create: true}\n')
    for args in (("config", "validate", "--config", str(lab.config)), ()):
        result = lab.run(*args, env={"XV": ""})
        assert result.returncode == 2
        assert result.stderr.strip().endswith("backups.destinations.secured.base_path: "
                                              "environment variable XV is set but empty, in a path")


def test_dev_zero_as_the_config_is_refused_at_once(lab):
    lab.root.mkdir(parents=True)
    started = time.monotonic()
    result = lab.run("config", "validate", "--config", "/dev/zero", timeout=30)
    assert result.returncode == 2
    assert result.stderr == "/dev/zero: not a regular file (a device, pipe or socket), not a config file\n"
    assert time.monotonic() - started < 20


def test_a_pipe_given_as_the_config_is_refused_without_waiting_for_a_writer(lab, tmp_path):
    pipe = tmp_path / "config.fifo"
    os.mkfifo(pipe)
    lab.root.mkdir(parents=True)
    process = lab.start("config", "validate", "--config", str(pipe), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        raise
    assert process.returncode == 2
    assert "not a regular file" in stderr


def test_compression_every_destination_turns_off_is_said_once(lab):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write_backups({"secured": {"base_path": "../backups/secured", "use_compression": False},
                       "other": {"base_path": "../backups/other", "use_compression": False}},
                      compression={"enabled": True})
    validate = lab.run("config", "validate", "--config", str(lab.config))
    assert validate.returncode == 0, validate.stderr
    assert validate.stdout.count("compression.enabled: true has no effect") == 1
    backup = lab.run()
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert (backup.stdout + backup.stderr).count("compression.enabled: true has no effect") == 1
    assert lab.path("backups/secured/csvs/a.csv").read_text() == "1\n"


def test_a_good_config_validates_with_one_ok_line(lab):
    lab.write_backups({"secured": {"base_path": "../backups/secured"}})
    result = lab.run("config", "validate", "--config", str(lab.config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{lab.config}: ok; destinations: secured (rsync)\n"
    assert not lab.path("state").exists()  # validating makes nothing
