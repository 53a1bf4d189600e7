"""Printed schedules, the pure parts: timings, the rendered texts, and the crontab block merged and taken out."""

from datetime import datetime

import pytest
from croniter import croniter

from backup_system import schedule
from backup_system.config import load_config
from backup_system.errors import BackupError, ConfigError
from backup_system.status import Verdict
from tests.conftest import PROJECT

USERS_CRONTAB = "MAILTO=me@example.org\n# nightly cleanup\n15 3 * * * /usr/bin/find /tmp -mtime +7 -delete\n"


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "lab" / "config" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("backups:\n  name: lab\n  log_file: ../logs/backup.log\n"
                    "  destinations: {secured: {base_path: ../out}}\n")
    return load_config(path)


def firings(fields, count, start="2026-03-02 00:00"):
    """The first `count` times a crontab line with these fields fires after `start`, as 'Mon HH:MM'."""
    times = croniter(fields, datetime.fromisoformat(start))
    return [times.get_next(datetime).strftime("%a %H:%M") for _ in range(count)]


@pytest.mark.parametrize("every, at, fields, calendar", [
    ("1d", "02:00", "0 2 * * *", "*-*-* 02:00:00"),
    ("24h", "23:45", "45 23 * * *", "*-*-* 23:45:00"),
    ("12h", "03:30", "30 3,15 * * *", "*-*-* 03,15:30:00"),
    ("6h", "14:00", "0 2,8,14,20 * * *", "*-*-* 02,08,14,20:00:00"),
    ("1h", "02:10", "10 * * * *", "*-*-* *:10:00"),
    ("15m", "07:05", "5,20,35,50 * * * *", "*-*-* *:05,20,35,50:00"),
    ("60m", "00:00", "0 * * * *", "*-*-* *:00:00"),
    ("1m", "02:00", "* * * * *", "*-*-* *:*:00"),
    ("7d", "02:00", "0 2 * * 0", "Sun *-*-* 02:00:00"),
    ("1w", "06:30", "30 6 * * 0", "Sun *-*-* 06:30:00"),
])
def test_each_period_is_the_same_moments_in_cron_and_systemd(every, at, fields, calendar):
    timing = schedule.parse_timing(every, at)
    assert schedule.cron_fields(timing) == fields
    assert schedule.on_calendar(timing) == calendar
    assert croniter.is_valid(fields)


def test_the_crontab_fields_fire_at_the_asked_time_and_period():
    assert firings(schedule.cron_fields(schedule.parse_timing("1d", "02:00")), 3) == ["Mon 02:00", "Tue 02:00",
                                                                                      "Wed 02:00"]
    assert firings(schedule.cron_fields(schedule.parse_timing("12h", "03:30")), 3) == ["Mon 03:30", "Mon 15:30",
                                                                                       "Tue 03:30"]
    assert firings(schedule.cron_fields(schedule.parse_timing("7d", "02:00")), 2) == ["Sun 02:00", "Sun 02:00"]
    assert firings(schedule.cron_fields(schedule.parse_timing("15m", "00:05")), 3) == ["Mon 00:05", "Mon 00:20",
                                                                                       "Mon 00:35"]


@pytest.mark.parametrize("every", ["5h", "2d", "90m", "7m", "30s", "2w", "3d", "0h", "soon", ""])
def test_a_period_cron_cannot_keep_is_refused_in_one_line(every):
    with pytest.raises(ConfigError, match=f"--every {every}: cannot be a schedule; it can run every N minutes"):
        schedule.parse_timing(every, "02:00")


@pytest.mark.parametrize("at", ["24:00", "2", "02:60", "2pm", "02:00:00"])
def test_a_time_of_day_that_is_none_is_refused(at):
    with pytest.raises(ConfigError, match=f"--at {at}: expected a time of day such as 02:00"):
        schedule.parse_timing("1d", at)


def test_the_scheduled_command_is_this_projects_python_and_script_on_the_absolute_config(config):
    argv = schedule.backup_argv(config.path)
    assert argv == [str(PROJECT / ".venv" / "bin" / "python"), str(PROJECT / "scripts" / "backup_system.py"),
                    "--config", str(config.path), "-q"]


def test_the_crontab_entry_sets_the_trigger_and_appends_to_the_configured_log(config):
    text = schedule.crontab_text(config, schedule.parse_timing("1d", "02:00"))
    comment, line = text.splitlines()
    assert comment.startswith("# backup_system: back up ") and text.endswith("\n")
    assert line.startswith("0 2 * * * BACKUP_SYSTEM_TRIGGER=schedule ")
    assert line.endswith(f" --config {config.path} -q >> {config.log_file} 2>&1")


def test_awkward_paths_are_quoted_for_the_shell_and_percent_escaped_for_cron(tmp_path):
    path = tmp_path / "my lab 100%" / "config.yaml"
    path.parent.mkdir()
    path.write_text("backups:\n  destinations: {secured: {base_path: out}}\n")
    line = schedule.crontab_text(load_config(path), schedule.parse_timing("1d", "02:00")).splitlines()[1]
    assert f"--config '{tmp_path}/my lab 100\\%/config.yaml' -q >> '{tmp_path}/my lab 100\\%/logs/backup.log'" in line
    assert schedule.cron_lines_for(line + "\n", path) == [line]


def test_systemd_words_are_quoted_and_specifiers_doubled():
    assert schedule.systemd_quote(["/usr/bin/python", "/a b/c.yaml", "100%", "$HOME", 'say "hi"']) == (
        '/usr/bin/python "/a b/c.yaml" 100%% $$HOME "say \\"hi\\""')


def test_the_units_run_the_command_with_the_trigger_and_the_timer_names_the_calendar(config):
    units = schedule.systemd_units(config, schedule.parse_timing("12h", "03:30"))
    name = schedule.unit_name(config)
    service, timer = units[f"{name}.service"], units[f"{name}.timer"]
    assert "Environment=BACKUP_SYSTEM_TRIGGER=schedule\n" in service
    assert f"StandardOutput=append:{config.log_file}\n" in service
    assert f"ExecStart={' '.join(schedule.backup_argv(config.path))}\n" in service
    assert "OnCalendar=*-*-* 03,15:30:00\n" in timer and f"Unit={name}.service\n" in timer


def test_a_unit_name_is_the_config_name_and_a_checksum_of_its_path(config, tmp_path):
    name = schedule.unit_name(config)
    assert name.startswith("backup-system-lab-") and len(name) == len("backup-system-lab-") + 8
    other = config._replace(path=str(tmp_path / "other.yaml"), name="lab: ünïcode/2")
    assert schedule.unit_name(other).startswith("backup-system-lab-n-code-2-") and schedule.unit_name(other) != name


def test_the_slurm_script_holds_the_scrontab_lines_in_comments(config):
    script = schedule.slurm_script(config, schedule.parse_timing("7d", "02:00"))
    assert script.startswith("#!/bin/bash\n#SBATCH --job-name=backup-lab\n")
    assert f"#SBATCH --output={config.log_file}\n#SBATCH --open-mode=append\n" in script
    assert "#   #SCRON --job-name=backup-lab" in script and "\n#   0 2 * * 0 BACKUP_SYSTEM_TRIGGER=schedule " in script
    assert script.endswith(f"exec {' '.join(schedule.backup_argv(config.path))}\n")


def test_merging_keeps_the_users_lines_and_installing_twice_leaves_one_block(config):
    entry = schedule.crontab_text(config, schedule.parse_timing("1d", "02:00"))
    once = schedule.merge_block(USERS_CRONTAB, config.path, entry)
    twice = schedule.merge_block(once, config.path, schedule.crontab_text(config, schedule.parse_timing("6h")))
    assert once.startswith(USERS_CRONTAB) and twice.startswith(USERS_CRONTAB)
    assert twice.count("# >>> backup_system schedule ") == 1 and "0 2,8,14,20 * * *" in twice
    assert schedule.remove_block(twice, config.path) == USERS_CRONTAB


def test_each_config_has_its_own_block(config, tmp_path):
    other = config._replace(path=str(tmp_path / "other" / "config.yaml"))
    both = schedule.merge_block(schedule.merge_block("", config.path, "0 2 * * * a\n"), other.path, "0 3 * * * b\n")
    assert schedule.remove_block(both, config.path) == schedule.merge_block("", other.path, "0 3 * * * b\n")
    assert schedule.remove_block(schedule.remove_block(both, other.path), config.path) == ""


def test_a_crontab_without_a_final_newline_gets_one_before_the_block(config):
    merged = schedule.merge_block("@reboot true", config.path, "0 2 * * * a")
    assert merged.startswith("@reboot true\n# >>> ") and merged.endswith(" <<<\n")


def test_a_block_whose_end_marker_was_deleted_is_not_guessed_at(config):
    begin, _ = schedule.block_markers(config.path)
    with pytest.raises(BackupError, match="without its end marker: fix it with crontab -e"):
        schedule.remove_block(USERS_CRONTAB + begin + "0 2 * * * a\n", config.path)


def test_a_hand_written_line_counts_a_commented_or_other_configs_line_does_not(config):
    line = schedule.crontab_text(config, schedule.parse_timing("1d")).splitlines()[1]
    assert schedule.cron_lines_for(USERS_CRONTAB + line + "\n", config.path) == [line]
    assert schedule.cron_lines_for(f"# {line}\n", config.path) == []
    assert schedule.cron_lines_for(line.replace("config.yaml", "config.yaml.old") + "\n", config.path) == []


def test_no_note_and_no_crontab_read_while_every_success_is_young(config, monkeypatch):
    monkeypatch.setattr(schedule, "check_cron", lambda *args: pytest.fail("the crontab was read"))
    young = Verdict("secured", "csvs", "ok", 1000.0, 1000.0, "ok", None, [], 3600)
    assert schedule.schedule_note(config, [young], now=1000.0 + 1799) is None
    never = young._replace(verdict="never", last_success=None)
    assert schedule.schedule_note(config, [never], now=10**9) is None
