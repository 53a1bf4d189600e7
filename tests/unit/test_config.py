"""The config schema: the team's block loads as it means, every mistake is one located line."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from backup_system.config import load_config
from backup_system.errors import ConfigError
from backup_system.plan import build_jobs
from tests.conftest import as_nobody_argv

TEAM_BLOCK = """\
backups:
  enabled: true
  compression:
    enabled: false
  destinations:
    smb:
      enabled: true
      base_path: "smb://ramanfile.local/ramanfiles/cole"
      csvs_path: "smb://ramanfile.local/ramanfiles/cole/flyTrackingData"
      results_path: "smb://ramanfile.local/ramanfiles/cole/Figures"
      use_compression: false
    box:
      enabled: true
      remote: "Box-Folder"
      folder: "Ramanlab-Backups"
      use_compression: false
    secured:
      enabled: true
      base_path: "/securedstorage/DATAsec/cole/Data-secured"
      use_compression: false
"""


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error_of(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_teams_existing_block_loads_unchanged_with_inferred_types(tmp_path):
    config = load_config(write(tmp_path, TEAM_BLOCK))
    types = {name: destination.type for name, destination in config.destinations.items()}
    assert types == {"smb": "smb", "box": "rclone", "secured": "rsync"}
    assert config.compression.enabled is False
    assert all(destination.use_compression is False for destination in config.destinations.values())


def test_the_teams_block_sends_csvs_and_results_where_it_says(tmp_path):
    jobs, _ = build_jobs(load_config(write(tmp_path, TEAM_BLOCK)))
    targets = {(job.destination.name, job.source.name): job.target for job in jobs}
    assert targets == {
        ("smb", "csvs"): "smb://ramanfile.local/ramanfiles/cole/flyTrackingData",
        ("smb", "results"): "smb://ramanfile.local/ramanfiles/cole/Figures",
        ("box", "csvs"): "Box-Folder:Ramanlab-Backups/csvs",
        ("box", "results"): "Box-Folder:Ramanlab-Backups/results",
        ("secured", "csvs"): "/securedstorage/DATAsec/cole/Data-secured/csvs",
        ("secured", "results"): "/securedstorage/DATAsec/cole/Data-secured/results",
    }


def test_relative_paths_are_relative_to_the_config_folder_and_env_and_home_expand(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_DISK", "/mnt/lab disk")
    monkeypatch.setenv("HOME", "/home/ada")
    config = load_config(write(tmp_path, """\
backups:
  state_dir: state
  sources:
    csvs: {path: ../data/csvs}
    home: {path: ~/notes}
  destinations:
    secured: {base_path: "${LAB_DISK}/backup"}
    remote: {base_path: "ada@server:/srv/backup"}
"""))
    assert config.state_dir == str(tmp_path / "state")
    assert config.sources["csvs"].path == os.path.normpath(tmp_path / ".." / "data" / "csvs")
    assert config.sources["home"].path == "/home/ada/notes"
    assert config.destinations["secured"].base_path == "/mnt/lab disk/backup"
    assert config.destinations["remote"].base_path == "ada@server:/srv/backup"
    assert config.log_file == str(tmp_path / "logs" / "backup.log")


def test_roots_make_one_source_per_subfolder_and_a_destination_may_take_only_some_sources(tmp_path):
    for child in ("run-1", "run-2"):
        (tmp_path / "archives" / child).mkdir(parents=True)
    (tmp_path / "archives" / "stray.txt").write_text("not a folder")
    config = load_config(write(tmp_path, """\
backups:
  sources:
    csvs: {path: data/csvs}
    scans: {roots: [archives]}
  destinations:
    everything: {base_path: /backup}
    scans_only: {base_path: /scans, sources: [scans], scans_path: /elsewhere/scans}
"""))
    jobs, _ = build_jobs(config)
    targets = [(job.destination.name, job.source.name, job.target) for job in jobs]
    assert targets == [
        ("everything", "csvs", "/backup/csvs"),
        ("everything", "scans/run-1", "/backup/scans/run-1"),
        ("everything", "scans/run-2", "/backup/scans/run-2"),
        ("scans_only", "scans/run-1", "/elsewhere/scans/run-1"),
        ("scans_only", "scans/run-2", "/elsewhere/scans/run-2"),
    ]


def test_an_empty_sources_list_sends_nothing_rather_than_everything(tmp_path):
    jobs, _ = build_jobs(load_config(write(tmp_path, "backups:\n  destinations:\n    secured: {base_path: /b, sources: []}\n")))
    assert jobs == []


def test_disabled_destinations_are_noted_not_run(tmp_path):
    jobs, notes = build_jobs(load_config(write(tmp_path, TEAM_BLOCK.replace("enabled: true\n      remote", "enabled: false\n      remote"))))
    assert {job.destination.name for job in jobs} == {"smb", "secured"}
    assert notes == ["box: disabled (enabled: false), not run"]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nothere\.yaml: no such config file"):
        load_config(str(tmp_path / "nothere.yaml"))


def test_unreadable_file_is_one_line_and_exit_2():
    folder = tempfile.mkdtemp(prefix="unreadable-config-")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "config.yaml")
    with open(path, "w") as stream:
        stream.write(TEAM_BLOCK)
    os.chmod(path, 0)
    result = subprocess.run([*as_nobody_argv(folder), "config", "validate", "--config", path],
                            capture_output=True, text=True)
    shutil.rmtree(folder)
    assert result.returncode == 2
    assert result.stderr == f"{path}: cannot read: Permission denied\n"


def test_invalid_yaml_names_the_line(tmp_path):
    message = error_of(tmp_path, "backups:\n  enabled: true\n  sources: [unclosed\n")
    assert message.startswith(f"{tmp_path / 'config.yaml'}:")
    assert "invalid YAML" in message


def test_no_backups_section(tmp_path):
    assert "no 'backups:' section" in error_of(tmp_path, "analysis:\n  threshold: 3\n")


def test_unknown_key_names_line_key_and_the_closest_valid_name(tmp_path):
    message = error_of(tmp_path, "backups:\n  enabled: true\n  destinatons:\n    x: {base_path: /b}\n")
    assert message == f"{tmp_path / 'config.yaml'}:3: backups.destinatons: unknown key (did you mean 'destinations'?)"


def test_wrong_type(tmp_path):
    message = error_of(tmp_path, 'backups:\n  destinations:\n    secured:\n      base_path: /b\n      enabled: "maybe"\n')
    assert message == f"{tmp_path / 'config.yaml'}:5: backups.destinations.secured.enabled: expected true or false, got 'maybe'"


def test_destination_whose_type_cannot_be_inferred(tmp_path):
    message = error_of(tmp_path, "backups:\n  destinations:\n    mystery:\n      enabled: true\n")
    assert ":3: backups.destinations.mystery: cannot tell the destination's type" in message


def test_destination_naming_an_unknown_source(tmp_path):
    message = error_of(tmp_path, "backups:\n  destinations:\n    secured:\n      base_path: /b\n      sources: [csvs, figures]\n")
    assert ":5: backups.destinations.secured.sources.1: no source named 'figures'" in message


def test_source_path_key_naming_an_unknown_source(tmp_path):
    message = error_of(tmp_path, "backups:\n  destinations:\n    secured:\n      base_path: /b\n      figures_path: /f\n")
    assert ":5: backups.destinations.secured.figures_path: names no source 'figures'" in message


def test_rsync_destination_without_base_path(tmp_path):
    message = error_of(tmp_path, "backups:\n  destinations:\n    secured:\n      type: rsync\n")
    assert ":3: backups.destinations.secured: 'base_path' is required for an rsync destination" in message


def test_rclone_destination_without_remote(tmp_path):
    message = error_of(tmp_path, "backups:\n  destinations:\n    box:\n      type: rclone\n      folder: x\n")
    assert "backups.destinations.box: 'remote' is required" in message


def test_a_key_for_another_transport_is_refused(tmp_path):
    message = error_of(tmp_path, "backups:\n  destinations:\n    secured:\n      base_path: /b\n      folder: x\n")
    assert ":5: backups.destinations.secured.folder: 'folder' is for rclone destinations, this one is rsync" in message


def run_error_of(tmp_path, text, only=()):
    """The one line a run of `only` (default: every enabled destination) stops at."""
    config = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError) as caught:
        build_jobs(config, only)
    return str(caught.value)


def test_unset_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_DISK", raising=False)
    message = run_error_of(tmp_path, "backups:\n  destinations:\n    secured:\n      base_path: ${NO_SUCH_DISK}/x\n")
    assert message == (f"{tmp_path / 'config.yaml'}:4: backups.destinations.secured.base_path: environment variable "
                       f"NO_SUCH_DISK is not set")


TWO_DISKS_AND_BOX = """\
backups:
  destinations:
    secured: {base_path: /srv/lab}
    usb: {base_path: "${USB_DISK}/lab", enabled: false}
    box: {remote: Box-Folder, rclone_env: {RCLONE_CONFIG_BOX_TOKEN: "${BOX_TOKEN}"}}
"""


def test_a_variable_only_another_destination_needs_stops_nothing_else(tmp_path, monkeypatch):
    monkeypatch.delenv("USB_DISK", raising=False)
    monkeypatch.delenv("BOX_TOKEN", raising=False)
    config = load_config(write(tmp_path, TWO_DISKS_AND_BOX))
    jobs, notes = build_jobs(config, ("secured", "usb"))
    assert {job.destination.name for job in jobs} == {"secured"}
    assert notes == ["usb: disabled (enabled: false), not run"]
    assert run_error_of(tmp_path, TWO_DISKS_AND_BOX).endswith(
        ":5: backups.destinations.box.rclone_env.RCLONE_CONFIG_BOX_TOKEN: environment variable BOX_TOKEN is not set")
    listed, _ = build_jobs(config, to_run=False)  # what status lists: no secret needed
    assert {job.destination.name for job in listed} == {"secured", "box"}


def test_a_destination_whose_variable_is_set_gets_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("BOX_TOKEN", "tok")
    monkeypatch.setenv("USB_DISK", "/media/usb")
    config = load_config(write(tmp_path, TWO_DISKS_AND_BOX))
    assert config.destinations["box"].options.rclone_env == {"RCLONE_CONFIG_BOX_TOKEN": "tok"}
    assert config.destinations["usb"].base_path == "/media/usb/lab"
    assert not config.unresolved


def test_a_mistake_after_a_missing_variable_is_not_hidden_by_it(tmp_path, monkeypatch):
    monkeypatch.delenv("BOX_TOKEN", raising=False)
    message = error_of(tmp_path, TWO_DISKS_AND_BOX.replace("rclone_env:", "transfer: 3, rclone_env:"))
    assert "backups.destinations.box.transfer: unknown key (did you mean 'transfers'?)" in message


def test_duplicate_key(tmp_path):
    message = error_of(tmp_path, "backups:\n  enabled: true\n  enabled: false\n")
    assert ":3: backups.enabled: duplicate key" in message


def test_source_needs_exactly_one_of_path_and_roots(tmp_path):
    message = error_of(tmp_path, "backups:\n  sources:\n    csvs: {exclude: ['*.tmp']}\n")
    assert ":3: backups.sources.csvs: give 'path'" in message


def test_wrong_choice(tmp_path):
    message = error_of(tmp_path, "backups:\n  compression:\n    format: rar\n")
    assert ":3: backups.compression.format: expected one of zip, 7z, got 'rar'" in message


def test_config_file_path_comes_from_the_environment_when_not_given(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_SYSTEM_CONFIG", write(tmp_path, TEAM_BLOCK, "lab.yaml"))
    assert load_config().path.endswith("lab.yaml")


def test_other_top_level_sections_are_ignored(tmp_path):
    config = load_config(write(tmp_path, "analysis:\n  anything: [1, 2]\n" + TEAM_BLOCK))
    assert set(config.destinations) == {"smb", "box", "secured"}


def test_an_unchanged_config_skips_the_yaml_parser_and_an_edit_takes_effect_at_once(tmp_path):
    path = write(tmp_path, TEAM_BLOCK)
    probe = ("import sys; from backup_system.config import load_config; "
             f"config = load_config({path!r}); print(config.destinations['box'].options.folder, 'yaml' in sys.modules)")

    def folder_and_whether_yaml_was_parsed():
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()

    assert folder_and_whether_yaml_was_parsed() == ["Ramanlab-Backups", "True"]
    assert folder_and_whether_yaml_was_parsed() == ["Ramanlab-Backups", "False"]
    (tmp_path / "config.yaml").write_text(TEAM_BLOCK.replace("Ramanlab-Backups", "New-Folder"))
    assert folder_and_whether_yaml_was_parsed() == ["New-Folder", "True"]


def test_config_show_masks_every_field_the_schema_marks_secret(tmp_path, monkeypatch):
    from backup_system import transports
    from backup_system.config import effective_config

    smb = transports.entry("smb")
    marked = tuple(spec._replace(secret=spec.name == "credentials_file") for spec in smb.fields)
    monkeypatch.setitem(transports._entries, "smb", smb._replace(fields=marked))
    shown = effective_config(load_config(write(tmp_path, TEAM_BLOCK.replace(
        "      use_compression: false\n    box:", "      credentials_file: /home/ada/.smbcredentials\n    box:"))))
    assert shown["backups"]["destinations"]["smb"]["credentials_file"] == "***"
    assert "/home/ada" not in repr(shown)


def test_an_smb_share_url_with_remote_dir_is_the_same_as_the_full_url(tmp_path):
    config = load_config(write(tmp_path, "backups:\n  destinations:\n    smb:\n      base_path: //server/share\n"
                                         "      remote_dir: lab/Data\n      port: 4445\n"))
    smb = config.destinations["smb"]
    assert (smb.type, smb.base_path, smb.options.port, smb.options.sessions, smb.options.method) == (
        "smb", "//server/share/lab/Data", 4445, 16, "auto")


def test_rclone_settings_that_cannot_work_are_refused_at_load_time(tmp_path):
    mirror = error_of(tmp_path, "backups:\n  destinations:\n    box:\n      remote: r\n      direction: bisync\n"
                                "      mode: mirror\n")
    assert ":6: backups.destinations.box.mode: mode: mirror is for push and pull" in mirror
    env = error_of(tmp_path, "backups:\n  destinations:\n    box:\n      remote: r\n      rclone_env:\n"
                             "        BOX_TOKEN: abc\n")
    assert ":6: backups.destinations.box.rclone_env.BOX_TOKEN: rclone reads only variables named RCLONE_" in env
    assert "abc" not in env


def rclone_block(*lines, sources="    csvs: {path: data}\n"):
    return ("backups:\n  sources:\n" + sources + "  destinations:\n    box:\n      remote: cloud\n"
            + "".join(f"      {line}\n" for line in lines))


@pytest.mark.parametrize("lines, message", [
    (["folder: 'lab-{src}'"], "backups.destinations.box.folder: 'lab-{src}': the only placeholders are {source}"),
    (["folder: 'lab-{source.x}'"], "the only placeholders are {source} and {name}"),
    (["folder: 'lab-{source'"], "backups.destinations.box.folder: 'lab-{source': expected '}'"),
    (["flags: ['--log-level', 'ERROR']"], "box.flags.0: --log-level would change the log backup_system reads"),
    (["flags: ['-q']"], "box.flags.0: -q would change the log"),
    (["flags: ['--bwlimit', '1M', '--s3-secret-access-key=abc']"],
     "box.flags.2: --s3-secret-access-key would put a secret in rclone's arguments"),
    (["direction: pull", "use_compression: true"], "box.use_compression: archives are sent only by a push"),
    (["csvs_path: '-cloud:x'"], "box.csvs_path: '-cloud:x' starts with '-'"),
])
def test_rclone_settings_that_would_misbehave_are_one_located_line(tmp_path, lines, message):
    assert message in error_of(tmp_path, rclone_block(*lines))


def test_a_remote_named_with_a_dash_first_is_refused_and_a_trailing_colon_is_forgiven(tmp_path):
    assert "box.remote: '-x': a remote's name cannot start with '-'" in error_of(
        tmp_path, rclone_block().replace("remote: cloud", "remote: '-x'"))
    config = load_config(write(tmp_path, rclone_block("folder: lab").replace("remote: cloud", "remote: 'cloud:'")))
    assert build_jobs(config)[0][0].target == "cloud:lab/csvs"


def test_flags_that_name_a_secrets_file_or_command_are_fine(tmp_path):
    config = load_config(write(tmp_path, rclone_block(
        "flags: ['--sftp-key-file', '/k', '--password-command', 'pass show rclone', '--ask-password=false']")))
    assert "--password-command" in config.destinations["box"].options.flags


def test_a_roots_source_can_only_be_pushed(tmp_path):
    message = error_of(tmp_path, rclone_block("direction: bisync", sources="    scans: {roots: [a, b]}\n"))
    assert "box.direction: the source 'scans' is a list of roots, which only a push can send" in message


def test_a_pull_or_bisync_destination_gets_files_even_when_compression_is_on(tmp_path):
    text = rclone_block("direction: pull").replace("  destinations:", "  compression: {enabled: true}\n  destinations:")
    jobs, _ = build_jobs(load_config(write(tmp_path, text)), compress=True)
    assert [job.compressed for job in jobs] == [False]


def test_an_absolute_templated_folder_keeps_its_leading_slash(tmp_path):
    config = load_config(write(tmp_path, rclone_block("folder: '/srv/backups/{source}'")))
    assert build_jobs(config)[0][0].target == "cloud:/srv/backups/csvs"


def test_the_parsed_config_copy_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    load_config(write(tmp_path, rclone_block("rclone_env: {RCLONE_CONFIG_CLOUD_PASS: literal-secret}")))
    copies = list((tmp_path / "cache" / "backup_system" / "configs").iterdir())
    assert [oct(path.stat().st_mode & 0o777) for path in copies] == ["0o600"]


def test_rclone_binary_is_a_name_on_path_or_a_path_like_every_other(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    binaries = {}
    for given in ("rclone-1.75", "~/bin/rclone", "tools/rclone"):
        config = load_config(write(tmp_path, rclone_block(f"rclone_binary: '{given}'")))
        binaries[given] = config.destinations["box"].options.rclone_binary
    assert binaries == {"rclone-1.75": "rclone-1.75", "~/bin/rclone": str(tmp_path / "home/bin/rclone"),
                        "tools/rclone": str(tmp_path / "tools/rclone")}


def test_rclone_env_may_hold_secrets_but_not_log_settings(tmp_path):
    config = load_config(write(tmp_path, rclone_block("rclone_env: {RCLONE_CONFIG_CLOUD_TOKEN: abc}")))
    assert config.destinations["box"].options.rclone_env == {"RCLONE_CONFIG_CLOUD_TOKEN": "abc"}
    message = error_of(tmp_path, rclone_block("rclone_env: {RCLONE_LOG_FILE: /tmp/x.log}"))
    assert "box.rclone_env.RCLONE_LOG_FILE: RCLONE_LOG_FILE would change the log backup_system reads" in message


SECURED = "backups:\n  destinations:\n    secured: {base_path: /srv/lab}\n"


@pytest.mark.parametrize("name", ["../../etc/evil", "a/b", ".hidden", "two words", ""])
def test_a_name_is_a_plain_word_never_a_path(tmp_path, name):
    message = error_of(tmp_path, SECURED + f"  name: {name!r}\n")
    assert f"backups.name: {name!r} is not a plain word" in message


def test_a_plain_name_with_dots_and_dashes_loads(tmp_path):
    assert load_config(write(tmp_path, SECURED + "  name: lab-2.daily_x\n")).name == "lab-2.daily_x"


@pytest.mark.parametrize("items, shown", [("[1, '*.tmp']", "expected text, got 1 (quote it: '1')"),
                                          ("['*.tmp', null]", "expected text, got None"),
                                          ("[true]", "expected text, got True")])
def test_excludes_are_a_list_of_text_only(tmp_path, items, shown):
    message = error_of(tmp_path, SECURED + f"  sources:\n    csvs: {{path: data, exclude: {items}}}\n")
    assert "backups.sources.csvs.exclude." in message and shown in message


def test_a_pipeline_command_list_may_hold_a_number(tmp_path):
    config = load_config(write(tmp_path, SECURED + "pipeline:\n  command: [sleep, 1]\n"))
    assert config.pipeline.command == ("sleep", "1")


def test_a_variable_set_but_empty_in_a_path_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("XV", "")
    message = run_error_of(tmp_path, 'backups:\n  destinations:\n    secured: {base_path: "${XV}"}\n')
    assert message.endswith("backups.destinations.secured.base_path: environment variable XV is set but empty, "
                            "in a path")


def test_a_variable_set_but_empty_outside_a_path_stays_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("XV", "")
    assert load_config(write(tmp_path, SECURED + '  name: "lab${XV}"\n')).name == "lab"


@pytest.mark.parametrize("source", ["{path: /}", "{roots: [/srv, /]}"])
def test_the_whole_file_system_cannot_be_a_source(tmp_path, source):
    message = error_of(tmp_path, SECURED + f"  sources:\n    all: {source}\n")
    assert "backups.sources.all: the whole file system ('/') cannot be a source" in message


@pytest.mark.parametrize("folder", ["/proc/self", "/sys/x", "/dev/shm/state"])
def test_state_dir_on_a_kernel_file_system_is_refused(tmp_path, folder):
    assert "a kernel file system" in error_of(tmp_path, SECURED + f"  state_dir: {folder}\n")


@pytest.mark.parametrize("content", [bytes(range(256)), "backups:\n  name: caf\xe9\n".encode("latin-1")])
def test_a_binary_or_non_utf8_config_is_one_line(tmp_path, content):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert "\n" not in str(caught.value) and "not a YAML text file" in str(caught.value)


def test_a_device_or_an_oversized_file_is_not_read(tmp_path):
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config("/dev/zero")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as stream:
        stream.truncate(5 * 2**20)
    with pytest.raises(ConfigError, match="over the 4 MB"):
        load_config(str(big))


def test_compression_that_every_destination_turns_off_gets_one_note(tmp_path):
    text = ("backups:\n  compression: {enabled: true}\n  destinations:\n"
            "    a: {base_path: /srv/a, use_compression: false}\n    b: {base_path: /srv/b, use_compression: false}\n")
    config = load_config(write(tmp_path, text))
    _, notes = build_jobs(config)
    assert [note for note in notes if "compression.enabled: true has no effect" in note] == [notes[0]]
    _, forced = build_jobs(config, compress=True)
    assert not any("compression.enabled" in note for note in forced)
    one_follows = load_config(write(tmp_path, text.replace("b: {base_path: /srv/b, use_compression: false}",
                                                           "b: {base_path: /srv/b}")))
    assert not any("compression.enabled" in note for note in build_jobs(one_follows)[1])


@pytest.mark.parametrize("credentials, mode, words", [(None, 0o600, "No such file"),
                                                      ("username=a\npassword=b\n", 0o644, "run chmod 600"),
                                                      ("username=a\n", 0o600, "has no password= line")])
def test_an_smb_credentials_file_smbclient_cannot_use_stops_the_jobs_being_built(tmp_path, credentials, mode, words):
    path = tmp_path / "credentials"
    if credentials is not None:
        path.write_text(credentials)
        path.chmod(mode)
    config = load_config(write(tmp_path, f"backups:\n  destinations:\n    smb:\n      base_path: smb://h/s/lab\n"
                                         f"      credentials_file: {path}\n"))
    with pytest.raises(ConfigError) as caught:
        build_jobs(config)
    assert "backups.destinations.smb.credentials_file: credentials file" in str(caught.value)
    assert words in str(caught.value)


def test_an_smb_folder_with_backslashes_is_refused(tmp_path):
    config = load_config(write(tmp_path, "backups:\n  destinations:\n    smb:\n      base_path: //h/share\n"
                                         "      remote_dir: 'lab\\Data'\n"))
    with pytest.raises(ConfigError, match=r"holds a backslash: separate folders with /"):
        build_jobs(config)


def test_a_mistake_beside_a_missing_variable_is_the_one_shown(tmp_path, monkeypatch):
    monkeypatch.delenv("USB_DISK", raising=False)
    message = error_of(tmp_path, TWO_DISKS_AND_BOX.replace("enabled: false", "enabled: maybe"))
    assert message.endswith(":4: backups.destinations.usb.enabled: expected true or false, got 'maybe'")


# --- the one rule for relative paths: written ones from the config file's folder, defaults from the project's ---

def test_a_config_in_a_projects_config_folder_gets_the_projects_default_paths(tmp_path):
    (tmp_path / "config").mkdir()
    config = load_config(write(tmp_path / "config", "backups:\n  destinations:\n    secured: {base_path: ../b}\n"
                                                    "pipeline:\n  command: make\n"))
    assert {name: source.path for name, source in config.sources.items()} == {
        "csvs": str(tmp_path / "data" / "csvs"), "results": str(tmp_path / "data" / "results")}
    assert (config.log_file, config.state_dir, config.compression.output_dir, config.pipeline.workdir) == (
        str(tmp_path / "logs" / "backup.log"), str(tmp_path / ".backup_state"), str(tmp_path / "backups_compressed"),
        str(tmp_path))
    assert config.destinations["secured"].base_path == str(tmp_path / "b")  # written: from config/


def test_a_config_elsewhere_gets_default_paths_beside_it(tmp_path):
    (tmp_path / "etc").mkdir()
    config = load_config(write(tmp_path / "etc", SECURED))
    assert config.sources["csvs"].path == str(tmp_path / "etc" / "data" / "csvs")
    assert config.state_dir == str(tmp_path / "etc" / ".backup_state")


def test_written_sources_stay_relative_to_the_config_file(tmp_path):
    (tmp_path / "config").mkdir()
    config = load_config(write(tmp_path / "config", SECURED + "  sources:\n    csvs: {path: data/csvs}\n"))
    assert config.sources["csvs"].path == str(tmp_path / "config" / "data" / "csvs")


# --- YAML mistakes: the line of the mistake, in plain words ---------------------------------------------------

@pytest.mark.parametrize("text, line, words", [
    ("backups:\n  name lab\n  log_file: x\n", 2, "'name lab' has no ':' after its key (key: value)"),
    ("backups:\n  destinations:\n    secured:\n      base_path /x\n      create: true\n", 4,
     "'base_path /x' has no ':' after its key"),
    ("backups:\n  sources: [unclosed\n  name: x\n", 2, "the '[' list opened on this line is not closed with ']'"),
    ('backups:\n  name: "lab\n  log_file: x\n', 2, "the quote opened on this line is never closed"),
    ("backups:\n\tname: lab\n", 2, "a tab: indent with spaces only"),
    ("backups:\n  name: lab\n   log_file: x\n", 3, "this line is indented deeper than the key above it"),
    ("backups:\n  name: lab: x\n", 2, "a value holding ': ' must be quoted"),
    ("backups:\n  name: *lab\n", 2, "a value starting with '*' is read as a YAML alias: quote it"),
    ("backups:\n  name: @lab\n", 2, "a value cannot start with '@': quote it"),
])
def test_a_yaml_mistake_names_its_own_line_in_plain_words(tmp_path, text, line, words):
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'config.yaml'}:{line}: invalid YAML: {words}"), message


def test_a_relative_config_path_that_is_not_there_says_where_it_was_looked_for_and_offers_the_one_above(
        tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    write(tmp_path / "config", SECURED)
    notebooks = tmp_path / "docs" / "examples"
    notebooks.mkdir(parents=True)
    monkeypatch.chdir(notebooks)
    with pytest.raises(ConfigError) as caught:
        load_config("config/config.yaml")
    assert str(caught.value) == (
        f"config/config.yaml: no such config file in {notebooks}, the folder a relative path is read from; "
        f"did you mean ../../config/config.yaml? give --config PATH or set BACKUP_SYSTEM_CONFIG (from Python: an "
        f"absolute path, or one relative to that folder)")


# --- config show: the values a run uses ---------------------------------------------------------------------

def test_config_show_fills_in_what_a_run_uses_and_masks_only_what_is_set(tmp_path, monkeypatch):
    from backup_system.config import effective_config

    monkeypatch.setenv("BOX_TOKEN", "tok-value")
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "my-rclone.conf"))
    config = load_config(write(tmp_path, TEAM_BLOCK.replace(
        '      folder: "Ramanlab-Backups"\n', '      folder: "Ramanlab-Backups"\n      sources: [csvs]\n'
                                             '      rclone_env: {RCLONE_CONFIG_BOX_TOKEN: "${BOX_TOKEN}"}\n')))
    shown = effective_config(config)["backups"]["destinations"]
    assert shown["secured"]["sources"] == ["csvs", "results"]
    assert shown["secured"]["stale_after"] == "7d"
    assert shown["box"]["sources"] == ["csvs"]
    assert shown["box"]["rclone_env"] == {"RCLONE_CONFIG_BOX_TOKEN": "***"}
    assert "tok-value" not in repr(shown)
    assert os.path.basename(shown["box"]["rclone_binary"]) == "rclone"
    assert shown["box"]["rclone_config"] == str(tmp_path / "my-rclone.conf")


def test_config_show_leaves_an_empty_rclone_env_empty(tmp_path):
    from backup_system.config import effective_config

    shown = effective_config(load_config(write(tmp_path, TEAM_BLOCK)))
    assert shown["backups"]["destinations"]["box"]["rclone_env"] == {}


@pytest.mark.parametrize("value, obscured", [
    ("hunter2", False), ("correct horse battery", False), ("s3cret-pass", False),
    ("lNAfvcCvagVDLez4aMcgGA", True), ("790Tts9-E0rZ8nweXMMzkuf2IH5ZLHM", True), ("${NOT_SET_HERE}", True),
])
def test_an_obscured_rclone_password_is_told_from_a_plain_one_where_it_can_be(value, obscured):
    from backup_system.transports.rclone.options import looks_obscured

    assert looks_obscured(value) is obscured
