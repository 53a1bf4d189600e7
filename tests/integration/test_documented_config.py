"""The `backups:` block of the design notes (docs: /work/shared/DESIGN.md), pasted as the backups section of a
project's config/config.yaml without `sources:`, backs up the project's data/csvs and data/results to all three
destinations. Its servers are replaced by local stand-ins through values only, never keys: a Samba on
127.0.0.1 (its port in the smb:// URL), `Box-Folder` an rclone alias of a local folder (in the file
RCLONE_CONFIG names), the secured disk a local folder, `~/.smbcredentials` in a HOME of the test's own."""

import pytest

from tests.integration.smbd import SambaServer

# As in the design notes, `sources:` left out (the project's data/csvs and data/results are the defaults).
DOCUMENTED_BLOCK = """\
backups:
  enabled: true                 # false: every backup command says so and exits 0
  name: lab                     # names the log, lock, history and messages
  log_file: logs/backup.log     # rotating
  state_dir: .backup_state      # history, lock, caches

  compression:                  # DEFAULT OFF
    enabled: false
    format: zip                 # zip | 7z
    output_dir: backups_compressed

  destinations:
    smb:
      enabled: true
      base_path: "smb://fileserver.local/share/lab"          # type smb, inferred
      csvs_path: "smb://fileserver.local/share/lab/flyTrackingData"
      results_path: "smb://fileserver.local/share/lab/Figures"
      credentials_file: ~/.smbcredentials                     # username=… / password=…
      use_compression: false    # overrides compression.enabled for this destination
    box:
      enabled: true
      remote: "Box-Folder"      # type rclone, inferred
      folder: "Lab-Backups"
    secured:
      enabled: true
      base_path: "/securedstorage/lab/Data-secured"           # type rsync, inferred
"""


@pytest.fixture
def stand_ins(tmp_path, lab):
    """The documented block in lab/config/config.yaml, its servers local; (environment for the run, places)."""
    with SambaServer(tmp_path / "samba") as samba:
        home = tmp_path / "home"
        samba.write_credentials(home / ".smbcredentials")
        box = tmp_path / "box"
        box.mkdir()
        rclone_conf = tmp_path / "rclone.conf"
        rclone_conf.write_text(f"[Box-Folder]\ntype = alias\nremote = {box}\n")
        secured = tmp_path / "securedstorage" / "lab" / "Data-secured"
        secured.mkdir(parents=True)  # a mounted disk: the block has no `create: true`
        lab.write_config(DOCUMENTED_BLOCK
                         .replace("smb://fileserver.local/share", f"smb://127.0.0.1:{samba.port}/backup")
                         .replace("/securedstorage/lab/Data-secured", str(secured)))
        env = {"HOME": str(home), "RCLONE_CONFIG": str(rclone_conf)}
        yield env, {"smb": samba.share_path("backup") / "lab", "box": box / "Lab-Backups", "secured": secured}


def test_the_documented_block_backs_up_the_projects_data_to_all_three_destinations(lab, stand_ins):
    env, places = stand_ins
    lab.write("data/csvs/plate1.csv", "well,value\nA1,3\n")
    lab.write("data/results/summary.svg", "<svg/>\n")
    validate = lab.run("config", "validate", env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "note:" not in validate.stdout, validate.stdout
    reach = lab.run("config", "validate", "--reach", env=env)
    assert reach.returncode == 0, reach.stdout + reach.stderr
    assert reach.stdout.splitlines()[-1] == "reach: 6 of 6 reachable"
    backup = lab.run(env=env)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert (places["smb"] / "flyTrackingData" / "plate1.csv").read_text() == "well,value\nA1,3\n"
    assert (places["smb"] / "Figures" / "summary.svg").read_text() == "<svg/>\n"
    for name in ("box", "secured"):
        assert (places[name] / "csvs" / "plate1.csv").read_text() == "well,value\nA1,3\n"
        assert (places[name] / "results" / "summary.svg").read_text() == "<svg/>\n"
    assert not lab.path("config/data").exists()
    assert lab.path("config/logs/backup.log").exists()  # a path written in the block: beside the config file


def test_validate_says_where_the_default_sources_are_when_the_pipeline_has_not_made_them(lab, stand_ins):
    env, _ = stand_ins
    lab.write("data/csvs/plate1.csv", "1\n")
    result = lab.run("config", "validate", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"note: source results: source folder {lab.path('data/results')} does not exist; a backup fails its jobs "
        f"until it does"]
