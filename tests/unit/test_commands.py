"""The verbs: --help describes the tool and lists them, each verb has its own help, one map gives exit statuses."""

import json
import signal
import subprocess
import sys

import pytest

from backup_system import cli
from backup_system.cli import ExitStatus, exit_status, main
from backup_system.commands import VERBS
from backup_system.errors import BackupError, ConfigError, LockHeld, TransportError
from tests.conftest import PROJECT


@pytest.fixture(autouse=True)
def sigterm_handler_restored():
    """main() makes SIGTERM act like Ctrl-C; the test process gets its own handler back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def help_of(capsys, *argv):
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


def test_help_says_what_the_tool_does_then_lists_each_verb_in_one_line_and_the_exit_statuses(capsys):
    shown = help_of(capsys)
    assert "Back up the outputs of an analysis" in shown
    assert "SMB file shares, rclone" in shown and "rsync disks" in shown
    assert "Only new or changed files move" in shown
    assert "--secured-only" in shown  # the options of the default verb, backup
    lines = shown.splitlines()
    for verb, (_, arguments, summary) in VERBS.items():
        assert next(line for line in lines if line.startswith(f"  {verb} {arguments}")).endswith(summary)
    for status in ExitStatus:
        assert any(line.startswith(f"  {int(status)} ") for line in lines), status
    assert "cli.py" not in shown and "dispatch" not in shown


def test_a_verb_after_an_option_and_its_value_still_gets_its_own_help(capsys):
    shown = help_of(capsys, "--config", "run", "run")  # a config file named run, then the verb
    assert shown.startswith("usage: backup_system.py run ") and "--pipeline CMD" in shown


@pytest.mark.parametrize("error, status", [
    (ConfigError("config.yaml:3: backups.name: expected text"), 2),
    (LockHeld("another backup holds state/lab.lock"), 3),
    (TransportError("secured/csvs: rsync failed"), 1),
    (BackupError("something a user can act on"), 1),
    (KeyboardInterrupt(), 130),
    (RuntimeError("a bug of ours"), 1),
])
def test_each_error_has_its_exit_status(error, status):
    assert exit_status(error) == status


def lab_config(tmp_path, results_path):
    """A config backing up data/ (one CSV) and `results_path` to a local rsync destination."""
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.csv").write_text("1\n")
    config = tmp_path / "config.yaml"
    config.write_text("backups:\n  name: lab\n  log_file: backup.log\n  state_dir: state\n"
                      f"  sources: {{data: {{path: data}}, results: {{path: {results_path}}}}}\n"
                      "  destinations: {secured: {base_path: backups, create: true}}\n")
    return str(config)


def test_a_report_whose_jobs_all_succeeded_is_status_0_and_one_failed_job_makes_it_1(tmp_path):
    from backup_system.runner import run_backup

    (tmp_path / "results").mkdir()
    assert exit_status(report=run_backup(lab_config(tmp_path, "results"))) == ExitStatus.OK == 0
    (tmp_path / "results.csv").write_text("not a folder\n")
    report = run_backup(lab_config(tmp_path, "results.csv"))
    assert [job.ok for job in report.jobs] == [True, False]
    assert exit_status(report=report) == ExitStatus.FAILED == 1


def test_an_interrupted_run_with_json_prints_one_document_and_exits_130(capsys, monkeypatch):
    def interrupted(verb, argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_verb", interrupted)
    assert main(["--json"]) == 130
    shown = capsys.readouterr()
    assert shown.err == "interrupted\n"
    assert json.loads(shown.out) == {"ok": False, "exit_code": 130, "error": "interrupted"}


def test_a_usage_mistake_with_json_is_one_line_and_one_document(capsys):
    assert main(["--json", "--no-such-flag"]) == 2
    shown = capsys.readouterr()
    assert shown.err == "backup_system.py: unrecognized arguments: --no-such-flag (see --help)\n"
    assert json.loads(shown.out)["exit_code"] == 2


# The everyday run: nothing changed, a local rsync destination. It needs none of the other verbs.
PROBE = """\
import sys
sys.path.insert(0, {src!r})
from backup_system.cli import main
status = main(["--config", {config!r}, "-q"])
print(int(status), *sorted(name for name in sys.modules
                           if name.startswith("backup_system.commands.") or name in ("json", "shlex")))
"""


def test_a_plain_backup_imports_only_the_backup_verb_and_neither_json_nor_shlex(tmp_path):
    (tmp_path / "results").mkdir()
    probe = PROBE.format(src=str(PROJECT / "src"), config=lab_config(tmp_path, "results"))
    for _ in ("first run, sends a.csv", "second run, nothing changed"):
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["0", "backup_system.commands.backup"], result.stdout + result.stderr
    assert (tmp_path / "backups" / "data" / "a.csv").read_text() == "1\n"


def test_the_hint_for_a_missing_pipeline_is_the_shipped_configs_pipeline_section():
    import yaml

    from backup_system.commands.run import EXAMPLE_PIPELINE

    shipped = yaml.safe_load((PROJECT / "config" / "config.yaml").read_text())["pipeline"]
    assert yaml.safe_load(EXAMPLE_PIPELINE) == {"pipeline": shipped}


@pytest.mark.parametrize("argv, message", [
    (["--dryrun"], "backup_system.py: unrecognized arguments: --dryrun (did you mean --dry-run?)"),
    (["--json", "--quite"], "backup_system.py: unrecognized arguments: --quite (did you mean --quiet?)"),
    (["statsu"], "backup_system.py: unrecognized arguments: statsu (did you mean status?)"),
    (["history", "--faild"], "backup_system.py history: unrecognized arguments: --faild (did you mean --failed?)"),
    (["--no-such-flag"], "backup_system.py: unrecognized arguments: --no-such-flag (see --help)"),
    (["config", "show", "extra"], "backup_system.py config: unrecognized arguments: extra (see --help)"),
])
def test_an_unknown_word_close_to_an_option_or_verb_gets_a_did_you_mean(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err == message + "\n"


def test_rclone_must_be_the_first_word(capsys):
    assert main(["--config", "x.yaml", "rclone", "config"]) == 2
    assert capsys.readouterr().err == "backup_system.py: rclone must come first, as in backup_system.py rclone config\n"


def test_a_lock_without_a_pid_names_no_pid(tmp_path):
    from backup_system.lock import held_message

    lock = str(tmp_path / "lab.lock")
    assert held_message(lock, []) == f"the lock is held by another process (no pid recorded in {lock})"
    assert held_message(lock, ["garbage"]) == f"the lock is held by another process (no pid recorded in {lock})"
    import os

    assert held_message(lock, [str(os.getpid())]) == f"another backup is running (pid {os.getpid()}); lock: {lock}"
