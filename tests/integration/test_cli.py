"""The command line as a user meets it: run around a pipeline, config subcommands, the shim, output."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import PROJECT, SCRIPT

CONFIG = """\
backups:
  name: lab
  log_file: ../logs/backup.log
  state_dir: ../state
  sources:
    csvs: {path: ../data/csvs}
    results: {path: ../data/results}
  destinations:
    secured: {base_path: ../backups/secured, create: true}
    box: {remote: Box-Folder, folder: Lab, enabled: false}
pipeline:
  command: [python3, -c, "open('data/csvs/from_pipeline.csv', 'w').write('p\\\\n')"]
  workdir: ..
"""

FAILING_PIPELINE = "python3 -c \"open('data/results/late.svg', 'w').write('<svg/>'); raise SystemExit(3)\""


@pytest.fixture
def piped_lab(lab):
    lab.write_config(CONFIG)
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    return lab


def test_run_backs_up_runs_the_configured_pipeline_and_backs_up_its_output(piped_lab):
    result = piped_lab.run("run")
    assert result.returncode == 0, result.stderr
    assert piped_lab.path("backups/secured/csvs/from_pipeline.csv").read_text() == "p\n"
    assert "pipeline ok; backup before: exit 0; backup after: exit 0" in result.stderr


def test_when_the_pipeline_fails_the_after_backup_still_runs_and_the_exit_is_nonzero(piped_lab):
    result = piped_lab.run("run", "--pipeline", FAILING_PIPELINE)
    assert result.returncode == 3
    assert piped_lab.path("backups/secured/results/late.svg").read_text() == "<svg/>"
    assert "pipeline FAILED (exit 3)" in result.stderr


def test_run_with_json_prints_one_document_and_logs_the_pipeline(piped_lab):
    import json

    result = piped_lab.run("run", "--json", "--pipeline", "python3 -c \"print('pipeline chatter')\"")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["pipeline"] == {"command": ["python3", "-c", "print('pipeline chatter')"], "exit_code": 0}
    assert document["before"]["ok"] and document["after"]["ok"]
    assert "pipeline chatter" in result.stderr
    log = piped_lab.path("logs/backup.log").read_text()
    assert "running the pipeline in" in log and "pipeline ok" in log


def test_make_run_wraps_the_pipeline_given_on_the_make_command_line(piped_lab):
    if not (PROJECT / ".venv" / ".installed").exists():
        pytest.skip("make setup has not run in this checkout")
    result = subprocess.run(["make", "-s", "-C", str(PROJECT), "run", f"PIPELINE={FAILING_PIPELINE}"],
                            capture_output=True, text=True, cwd=piped_lab.root, timeout=300,
                            env={**os.environ, "BACKUP_SYSTEM_CONFIG": str(piped_lab.config)})
    assert result.returncode != 0
    assert "pipeline FAILED (exit 3)" in result.stderr
    # The pipeline ran in pipeline.workdir (the lab), and the after-backup sent what it wrote.
    assert piped_lab.path("backups/secured/results/late.svg").read_text() == "<svg/>"


def test_a_missing_pipeline_command_is_exit_2_before_anything_runs(piped_lab):
    piped_lab.write_config(CONFIG.split("pipeline:")[0])
    result = piped_lab.run("run")
    assert result.returncode == 2
    assert result.stderr == (f"{piped_lab.config}: pipeline.command is not set; for the example analysis add  "
                             "pipeline: {command: \"python3 scripts/pipeline/analyze.py\", workdir: ..}  "
                             "or give --pipeline CMD (make run PIPELINE='CMD')\n")
    assert not piped_lab.path("backups").exists()


def test_config_validate_names_each_destination_and_its_type(piped_lab):
    result = piped_lab.run("config", "validate", "--config", str(piped_lab.config))
    assert result.returncode == 0
    first_line = result.stdout.splitlines()[0]
    assert first_line == f"{piped_lab.config}: ok; destinations: secured (rsync), box (rclone, disabled)"


def test_config_show_prints_the_effective_config_with_defaults_filled_in(piped_lab):
    import yaml

    result = piped_lab.run("config", "show", "--config", str(piped_lab.config))
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)["backups"]
    secured = shown["destinations"]["secured"]
    assert secured["type"] == "rsync" and secured["keep_partial"] is True and secured["timeout"] == 21600
    assert secured["base_path"] == str(piped_lab.path("backups/secured"))
    assert "remote" not in secured
    assert shown["destinations"]["box"]["type"] == "rclone"
    assert shown["compression"] == {"enabled": False, "format": "zip", "level": 6, "keep": 5,
                                    "output_dir": str(piped_lab.path("backups_compressed"))}  # the project's


@pytest.mark.parametrize("argv, message", [
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--quiet", "--verbose"], "not allowed with argument"),
    (["config", "explode"], "invalid choice: 'explode'"),
    (["--dryrun"], "unrecognized arguments: --dryrun (did you mean --dry-run?)"),
    (["run", "--pipline", "x"], "unrecognized arguments: --pipline x (did you mean --pipeline?)"),
])
def test_a_usage_mistake_is_one_line_and_exit_2(piped_lab, argv, message):
    result = piped_lab.run(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_quiet_prints_nothing_when_all_is_well_and_verbose_shows_commands(piped_lab):
    quiet = piped_lab.run("-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    verbose = piped_lab.run("-v")
    assert "secured/csvs: run ['rsync', '-a', '--update'" in verbose.stderr
    shown = verbose.stdout + verbose.stderr
    assert shown.count("backup: all 2 jobs ok") == 1, shown  # the summary's, not the log's as well


def test_help_says_what_the_tool_does_and_lists_every_flag_every_verb_and_the_exit_statuses(piped_lab):
    result = piped_lab.run("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: backup_system.py ")
    assert "Back up the outputs of an analysis" in result.stdout
    for flag in ("--config", "--dry-run", "--only", "--smb-only", "--box-only", "--secured-only", "--compress",
                 "--no-compress", "--verbose", "--quiet", "--json", "--help"):
        assert flag in result.stdout
    for verb in ("backup [options]", "run [--pipeline CMD]", "config validate", "archive list | test PATH", "rclone ARGS"):
        assert f"\n  {verb}" in result.stdout
    for status in ("0", "1", "2", "3", "130"):
        assert f"\n  {status} " in result.stdout


@pytest.mark.parametrize("verb, own_options", [
    ("backup", ["--config PATH", "--dry-run", "--secured-only", "--json"]),
    ("run", ["--pipeline CMD", "--secured-only", "--json"]),
    ("config", ["{validate,show}", "--config PATH"]),
    ("archive", ["{list,test}", "PATH", "--config PATH"]),
])
def test_each_verb_shows_its_own_options_with_help(piped_lab, verb, own_options):
    result = piped_lab.run(verb, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: backup_system.py {verb} ")
    assert [option for option in own_options if option not in result.stdout] == []
    assert "exit status:" not in result.stdout  # the verb's help, not the top-level one


def copy_of_the_shim(tmp_path):
    """The script and package alone, as in a fresh clone before `make setup`."""
    project = tmp_path / "checkout"
    shutil.copytree(PROJECT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    (project / "scripts").mkdir()
    shutil.copy(SCRIPT, project / "scripts" / "backup_system.py")
    return project


def test_the_shim_says_run_make_setup_when_no_dependencies_and_no_venv(tmp_path):
    project = copy_of_the_shim(tmp_path)
    result = subprocess.run([sys.executable, "-S", str(project / "scripts" / "backup_system.py"), "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "backup_system: its Python packages are missing: run make setup first"


def test_the_shim_reruns_itself_under_the_projects_venv(tmp_path):
    project = copy_of_the_shim(tmp_path)
    (project / ".venv").symlink_to(PROJECT / ".venv")
    result = subprocess.run([sys.executable, "-S", str(project / "scripts" / "backup_system.py"), "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--secured-only" in result.stdout


def test_the_shipped_config_runs_clean_as_shipped_with_its_rsync_and_rclone_destinations(tmp_path):
    """`make run` on a fresh checkout: back up, run the example pipeline, back up again."""
    checkout = tmp_path / "checkout"
    for part in ("config", "data", "scripts/pipeline"):
        shutil.copytree(PROJECT / part, checkout / part, ignore=shutil.ignore_patterns(
            "summary.csv", "summary.svg", "__pycache__"))
    result = subprocess.run([sys.executable, str(SCRIPT), "run", "--config", str(checkout / "config" / "config.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for destination in ("secured", "box"):
        assert (checkout / "backups" / destination / "csvs" / "summary.csv").exists()
        assert (checkout / "backups" / destination / "results" / "summary.svg").exists()
    assert "smb: disabled (enabled: false), not run" in result.stdout


# --- input that used to end in an internal error, a traceback or a backup copying itself ----------

def lab_config(**changes):
    """CONFIG with some lines replaced: {old line text: new line text}."""
    text = CONFIG
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("changes, message", [
    ({"  state_dir: ../state\n": "  state_dir: ../state\n  compression: {enabled: true, level: 42}\n"},
     "backups.compression.level: expected 1 to 9, got 42"),
    ({"    secured: {base_path: ../backups/secured, create: true}": "    secured: {base_path: ../data/csvs/backup}"},
     "backups.destinations.secured: "),
    ({"  state_dir: ../state\n": "  state_dir: ../state\n  compression: {enabled: true, output_dir: ../data/results/z}\n"},
     "backups.compression.output_dir: "),
    ({"    secured: {base_path: ../backups/secured, create: true}": "    secured: {base_path: ../backups/secured, timeout: .inf}"},
     "backups.destinations.secured.timeout: expected a positive number up to 100000000, got"),
    ({"    csvs: {path: ../data/csvs}": "    '..': {path: ../data/csvs}"}, "'..' cannot name a source"),
    ({"  name: lab\n": "  name: \"a\\0b\"\n"}, "backups.name: holds a NUL character"),
    ({"pipeline:\n": "loop: &x [*x]\npipeline:\n"}, "a YAML alias that contains itself"),
])
def test_impossible_settings_are_one_line_and_exit_2(piped_lab, changes, message):
    piped_lab.write_config(lab_config(**changes))
    result = piped_lab.run()
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not piped_lab.path("backups").exists()


def test_a_backup_inside_its_own_source_is_named_as_such(piped_lab):
    piped_lab.write_config(lab_config(**{"    secured: {base_path: ../backups/secured, create: true}":
                                         "    secured: {base_path: ../data/csvs/backup}"}))
    assert f"{piped_lab.path('data/csvs/backup/csvs')} is inside the source csvs" in piped_lab.run().stderr


def test_two_roots_with_a_folder_of_the_same_name_are_refused(piped_lab):
    for root in ("a", "b"):
        piped_lab.write(f"scans/{root}/run1/x.txt", root)
    piped_lab.write_config(lab_config(**{"    results: {path: ../data/results}": "    scans: {roots: [../scans/a, ../scans/b]}"}))
    result = piped_lab.run()
    assert result.returncode == 2
    assert f"source scans: {piped_lab.path('scans/a/run1')} and {piped_lab.path('scans/b/run1')} would both back up " \
           "as scans/run1" in result.stderr


def test_a_state_dir_that_is_a_file_is_one_line(piped_lab):
    piped_lab.write("state", "not a folder")
    result = piped_lab.run()
    assert result.returncode == 2
    assert f"cannot make the lock file {piped_lab.path('state/lab.lock')} (see state_dir)" in result.stderr


def test_a_source_that_is_a_file_says_so(piped_lab):
    piped_lab.write("data/results.csv", "1\n")
    piped_lab.write_config(lab_config(**{"    results: {path: ../data/results}": "    results: {path: ../data/results.csv}"}))
    result = piped_lab.run()
    assert result.returncode == 1
    assert f"secured/results: FAILED: source {piped_lab.path('data/results.csv')} is not a folder" in result.stdout


def test_a_pipeline_folder_that_is_missing_still_gets_the_second_backup(piped_lab):
    piped_lab.write_config(lab_config(**{"  workdir: ..\n": "  workdir: ../nowhere\n"}))
    result = piped_lab.run("run")
    assert result.returncode == 126
    assert f"cannot run the pipeline: its folder {piped_lab.path('nowhere')} (pipeline.workdir) is not a folder" \
        in result.stderr
    assert "backup before: exit 0; backup after: exit 0" in result.stderr


def test_a_pipeline_killed_by_a_signal_exits_128_plus_the_signal(piped_lab):
    result = piped_lab.run("run", "--pipeline", "sh -c 'kill -9 $$'")
    assert result.returncode == 137, result.stderr


def test_json_stays_valid_utf_8_with_a_file_name_that_is_not(piped_lab):
    import json

    os.makedirs(piped_lab.path("data/csvs"), exist_ok=True)
    with open(os.path.join(os.fsencode(piped_lab.path("data/csvs")), b"bad\xffname.csv"), "w") as stream:
        stream.write("1\n")
    result = subprocess.run([sys.executable, str(SCRIPT), "--config", str(piped_lab.config), "--json"],
                            capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.decode("utf-8"))
    assert "bad\udcffname.csv" in report["jobs"][0]["sent"]


def test_run_backup_takes_one_destination_name_as_a_string(piped_lab):
    from backup_system import run_backup

    report = run_backup(str(piped_lab.config), only="secured")
    assert report.ok and {job.destination for job in report.jobs} == {"secured"}
    assert piped_lab.path("backups/secured/csvs/a.csv").read_text() == "1\n"
