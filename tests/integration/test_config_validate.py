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
        ("a key without its colon",
         lambda lab: lab.write_config("backups:\n  destinations:\n    secured:\n      base_path ../backups\n"
                                      "      create: true\n"),
         ":4: invalid YAML: 'base_path ../backups' has no ':' after its key (key: value)"),
        ("an unclosed quote",
         lambda lab: lab.write_config('backups:\n  name: "lab\n  destinations: {secured: {base_path: ../b}}\n'),
         ":2: invalid YAML: the quote opened on this line is never closed"),
        ("a variable an enabled destination needs is unset",
         lambda lab: lab.write_backups({"secured": {"base_path": "${NO_SUCH_LAB_DISK}/lab", "create": False}}),
         "backups.destinations.secured.base_path: environment variable NO_SUCH_LAB_DISK is not set"),
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
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write_backups({"secured": {"base_path": "../backups/secured"}})
    result = lab.run("config", "validate", "--config", str(lab.config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{lab.config}: ok; destinations: secured (rsync)\n"
    assert not lab.path("state").exists()  # validating makes nothing


# --- what validate can tell without contacting a server ----------------------------------------------------

def test_a_missing_source_folder_is_a_note_naming_the_close_one(lab):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write_backups({"secured": {"base_path": "../backups"}},
                      sources={"csvs": {"path": "../data/csv"}, "results": {"path": "../data/results"}})
    result = lab.run("config", "validate", "--config", str(lab.config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"note: source csvs: source folder {lab.path('data/csv')} does not exist (did you mean "
        f"{lab.path('data/csvs')}?); a backup fails its jobs until it does"]


def rclone_lab(lab, tmp_path, box, remotes=("box-folder",)):
    """A lab whose rclone config file (named by RCLONE_CONFIG) holds `remotes`, local folders; its env."""
    conf = tmp_path / "rclone.conf"
    conf.write_text("".join(f"[{name}]\ntype = local\n\n" for name in remotes))
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write_backups({"secured": {"base_path": "../backups/secured"}, "box": box})
    return {"RCLONE_CONFIG": str(conf)}, conf


def test_a_misspelled_rclone_remote_names_the_file_rclone_reads_and_the_close_name(lab, tmp_path):
    env, conf = rclone_lab(lab, tmp_path, {"remote": "Box-Folder", "folder": str(tmp_path / "box")})
    for config, args in ((lab.config, ("--config", str(lab.config))), ("config/config.yaml", ("--reach",))):
        result = lab.run("config", "validate", *args, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr == (f"{config}: backups.destinations.box.remote: remote 'Box-Folder' is not in the "
                                 f"rclone config file {conf}; did you mean 'box-folder'?\n")


def test_a_disabled_destinations_missing_remote_is_a_note(lab, tmp_path):
    env, conf = rclone_lab(lab, tmp_path, {"remote": "cloud", "folder": "x", "enabled": False}, remotes=("a", "b"))
    result = lab.run("config", "validate", "--config", str(lab.config), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"note: backups.destinations.box.remote: remote 'cloud' is not in the rclone config file {conf}; remotes "
        f"there: a, b (box is disabled)"]


def test_a_remote_made_of_environment_variables_is_found(lab, tmp_path):
    env, _ = rclone_lab(lab, tmp_path, {"remote": "Scratch", "folder": str(tmp_path / "box"),
                                        "rclone_env": {"RCLONE_CONFIG_SCRATCH_TYPE": "local"}})
    result = lab.run("config", "validate", "--config", str(lab.config), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{lab.config}: ok; destinations: secured (rsync), box (rclone)\n"


def test_a_plain_password_in_rclone_env_gets_a_note_and_is_never_shown(lab, tmp_path):
    env, _ = rclone_lab(lab, tmp_path, {"remote": "box-folder", "folder": str(tmp_path / "box"),
                                        "rclone_env": {"RCLONE_CONFIG_BOX_FOLDER_PASS": "${DAV_PASSWORD}"}})
    result = lab.run("config", "validate", "--config", str(lab.config), env={**env, "DAV_PASSWORD": "hunter2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "note: backups.destinations.box.rclone_env.RCLONE_CONFIG_BOX_FOLDER_PASS: does not look obscured: rclone "
        "reads a password there obscured, so give the output of `rclone obscure -` (it reads the password from its "
        "input)"]
    assert "hunter2" not in result.stdout + result.stderr


# --- a secret only the destinations that run need ----------------------------------------------------------

def test_the_cron_job_of_the_secured_disk_runs_without_the_box_token(lab, tmp_path):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write_backups({"secured": {"base_path": "../backups/secured"},
                       "box": {"remote": "box", "rclone_env": {"RCLONE_CONFIG_BOX_TOKEN": "${LAB_BOX_TOKEN}"}}})
    cron = lab.run("--secured-only", "-q")
    assert cron.returncode == 0, cron.stdout + cron.stderr
    assert lab.path("backups/secured/csvs/a.csv").read_text() == "1\n"
    expected = (f"{lab.config}:19: backups.destinations.box.rclone_env.RCLONE_CONFIG_BOX_TOKEN: environment "
                f"variable LAB_BOX_TOKEN is not set\n")
    for args in ((), ("--only", "box"), ("config", "validate", "--config", str(lab.config))):
        refused = lab.run(*args)
        assert (refused.returncode, refused.stderr) == (2, expected), refused.stdout + refused.stderr


def test_validate_notes_a_variable_only_a_disabled_destination_needs(lab):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    lab.write_backups({"secured": {"base_path": "../backups/secured"},
                       "usb": {"base_path": "${LAB_USB_DISK}/lab", "enabled": False}})
    result = lab.run("config", "validate", "--config", str(lab.config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"note: {lab.config}:17: backups.destinations.usb.base_path: environment variable LAB_USB_DISK is not set "
        f"(usb is disabled: only a run of it needs the variable)"]
