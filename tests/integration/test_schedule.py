"""Printed schedules as a user meets them: printed with nothing written, the printed line runs the backup,
installed only when asked (crontab of a throwaway user, systemd units in a throwaway HOME), checked, removed."""

import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from croniter import croniter

from tests.conftest import assert_no_traceback

SECURED = {"secured": {"base_path": "../backups/secured"}}
USERS_CRONTAB = "MAILTO=me@example.org\n# nightly cleanup\n15 3 * * * /usr/bin/find /tmp -mtime +7 -delete\n"
ROOT_SPOOL = Path("/var/spool/cron/crontabs/root")


@pytest.fixture
def scheduled_lab(lab):
    lab.write_backups(SECURED)
    lab.write("data/csvs/a.csv", "1,2\n")
    lab.write("data/results/r.txt", "r\n")
    return lab


@pytest.fixture(autouse=True)
def own_crontab_unchanged():
    """Whatever a test does, the crontab of whoever runs the tests (root's spool file too) stays byte for byte."""
    before = own_crontab()
    yield
    assert own_crontab() == before, "the tests changed the crontab of the user running them"


def own_crontab():
    if shutil.which("crontab") is None:
        return None
    listed = subprocess.run(["crontab", "-l"], capture_output=True)
    spool = ROOT_SPOOL.read_bytes() if os.geteuid() == 0 and ROOT_SPOOL.exists() else None
    return listed.returncode, listed.stdout, spool


@pytest.fixture
def cron_user(tmp_path):
    """A throwaway user, and a PATH on which `crontab` edits that user's crontab (root runs `crontab -u`)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not os.path.exists("/usr/bin/crontab"):
        pytest.skip("needs root, useradd and /usr/bin/crontab (apt-get install cron) for a throwaway user's crontab")
    user = f"bsched{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True)
    wrapper = tmp_path / "crontab-bin"
    wrapper.mkdir()
    (wrapper / "crontab").write_text(f'#!/bin/sh\nexec /usr/bin/crontab -u {user} "$@"\n')
    (wrapper / "crontab").chmod(0o755)
    try:
        yield user, {"PATH": f"{wrapper}:{os.environ['PATH']}"}
    finally:
        subprocess.run(["/usr/bin/crontab", "-u", user, "-r"], capture_output=True)
        subprocess.run(["userdel", user], check=True)


def crontab_of(user):
    """(exit status, bytes) of `crontab -l` for the user."""
    listed = subprocess.run(["/usr/bin/crontab", "-u", user, "-l"], capture_output=True)
    return listed.returncode, listed.stdout


def set_crontab(user, text):
    subprocess.run(["/usr/bin/crontab", "-u", user, "-"], input=text.encode(), check=True)


def home_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return home, {"HOME": str(home), "XDG_CONFIG_HOME": ""}


def files_under(folder):
    return sorted(str(path.relative_to(folder)) for path in Path(folder).rglob("*") if not path.is_dir())


def test_printing_any_schedule_writes_nothing_anywhere(scheduled_lab, tmp_path):
    home, env = home_env(tmp_path)
    lab_before = files_under(scheduled_lab.root)
    for kind in ("--cron", "--systemd", "--slurm"):
        shown = scheduled_lab.run("schedule", kind, env=env)
        assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert files_under(home) == [] and files_under(scheduled_lab.root) == lab_before


def test_the_printed_crontab_line_parses_and_fires_at_the_asked_time(scheduled_lab):
    shown = scheduled_lab.run("schedule", "--cron", "--every", "12h", "--at", "03:30")
    comment, line = shown.stdout.splitlines()
    assert comment.startswith("# backup_system: back up ") and "every 12h at 03:30" in comment
    fields = " ".join(line.split()[:5])
    times = croniter(fields, datetime(2026, 3, 2, 0, 0))
    assert [times.get_next(datetime).strftime("%d %H:%M") for _ in range(3)] == ["02 03:30", "02 15:30", "03 03:30"]
    weekly = scheduled_lab.run("schedule", "--cron", "--every", "7d").stdout.splitlines()[1]
    assert croniter(" ".join(weekly.split()[:5]), datetime(2026, 3, 2)).get_next(datetime) == datetime(2026, 3, 8, 2)


def test_the_printed_line_run_as_cron_would_backs_up_into_the_log_recorded_as_schedule(scheduled_lab, tmp_path):
    line = scheduled_lab.run("schedule", "--cron").stdout.splitlines()[1]
    command = line.split(" ", 5)[5]
    (scheduled_lab.root / "logs").mkdir()  # what --install makes sure of
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh",
                "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}
    ran = subprocess.run(["/bin/sh", "-c", command], env=cron_env, cwd=tmp_path, capture_output=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout == ran.stderr == b""
    assert (scheduled_lab.root / "backups" / "secured" / "csvs" / "a.csv").read_text() == "1,2\n"
    assert "secured/csvs" in (scheduled_lab.root / "logs" / "backup.log").read_text()
    runs = json.loads(scheduled_lab.run("history", "--json").stdout)
    assert [run["trigger"] for run in runs] == ["schedule"]


def test_a_period_cron_cannot_keep_is_one_line_and_exit_2(scheduled_lab):
    for args, said in ((("--cron", "--every", "5h"), "schedule: --every 5h: cannot be a schedule; it can run every"),
                       (("--systemd", "--at", "2pm"), "schedule: --at 2pm: expected a time of day"),
                       (("--slurm", "--install"), "schedule --slurm only prints: save the script and sbatch it"),
                       ((), "schedule: say which: --cron, --systemd or --slurm (or --check)"),
                       (("--cron", "--systemd"), "not allowed with argument")):
        refused = scheduled_lab.run("schedule", *args)
        assert refused.returncode == 2 and refused.stdout == "", refused.stdout
        assert len(refused.stderr.splitlines()) == 1 and said in refused.stderr, refused.stderr
        assert_no_traceback(refused)


def test_the_slurm_script_passes_bash_n_and_runs_this_config(scheduled_lab):
    script = scheduled_lab.run("schedule", "--slurm", "--every", "1d", "--at", "04:00").stdout
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assert f"#SBATCH --output={scheduled_lab.root}/logs/backup.log\n" in script
    assert "#   0 4 * * * BACKUP_SYSTEM_TRIGGER=schedule " in script
    assert f"--config {scheduled_lab.config} -q\n" in script and "export BACKUP_SYSTEM_TRIGGER=schedule\n" in script


def test_installing_twice_then_uninstalling_leaves_the_users_crontab_byte_for_byte(scheduled_lab, cron_user):
    user, env = cron_user
    set_crontab(user, USERS_CRONTAB)
    before = crontab_of(user)
    assert scheduled_lab.run("schedule", "--check", "--cron", env=env).returncode == 1
    for every in ("1d", "6h"):
        installed = scheduled_lab.run("schedule", "--cron", "--install", "--every", every, env=env)
        assert installed.returncode == 0 and "installed in your crontab" in installed.stdout, installed.stderr
    status, text = crontab_of(user)
    assert text.startswith(before[1]) and text.count(b"# >>> backup_system schedule ") == 1
    assert b"\n0 2,8,14,20 * * * BACKUP_SYSTEM_TRIGGER=schedule " in text
    assert (scheduled_lab.root / "logs").is_dir()
    checked = scheduled_lab.run("schedule", "--check", env=env)
    assert checked.returncode == 0 and "cron: scheduled (crontab line at 0 2,8,14,20 * * *)" in checked.stdout
    removed = scheduled_lab.run("schedule", "--cron", "--uninstall", env=env)
    assert removed.returncode == 0 and removed.stdout == "removed from your crontab\n"
    assert crontab_of(user) == before
    assert scheduled_lab.run("schedule", "--check", "--cron", env=env).returncode == 1


def test_a_user_without_a_crontab_has_none_again_after_uninstall(scheduled_lab, cron_user):
    user, env = cron_user
    before = crontab_of(user)
    assert before[0] == 1
    assert scheduled_lab.run("schedule", "--cron", "--install", env=env).returncode == 0
    assert crontab_of(user)[0] == 0
    assert scheduled_lab.run("schedule", "--cron", "--uninstall", env=env).returncode == 0
    assert crontab_of(user) == before
    again = scheduled_lab.run("schedule", "--cron", "--uninstall", env=env)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_systemd_install_writes_the_two_units_in_home_only_and_prints_the_enable_line(scheduled_lab, tmp_path):
    home, env = home_env(tmp_path)
    installed = scheduled_lab.run("schedule", "--systemd", "--install", "--every", "12h", env=env)
    assert installed.returncode == 0, installed.stderr
    units = files_under(home)
    assert len(units) == 2 and all(unit.startswith(".config/systemd/user/backup-system-lab-") for unit in units)
    timer = next(Path(unit).name for unit in units if unit.endswith(".timer"))
    assert installed.stdout.splitlines()[-1] == (
        f"to start it, run: systemctl --user daemon-reload && systemctl --user enable --now {timer}")
    printed = scheduled_lab.run("schedule", "--systemd", "--every", "12h", env=env).stdout
    assert all((home / unit).read_text() in printed for unit in units)


def test_the_installed_units_pass_systemd_analyze_verify(scheduled_lab, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    home, env = home_env(tmp_path)
    assert scheduled_lab.run("schedule", "--systemd", "--install", "--every", "7d", env=env).returncode == 0
    folder = home / ".config" / "systemd" / "user"
    units = sorted(str(path) for path in folder.iterdir())
    verified = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr
    calendar = next(line for line in Path(units[1]).read_text().splitlines() if line.startswith("OnCalendar="))
    shown = subprocess.run(["systemd-analyze", "calendar", calendar.split("=", 1)[1]], capture_output=True, text=True)
    assert shown.returncode == 0 and "Next elapse: Sun " in shown.stdout and " 02:00:00" in shown.stdout


def test_check_counts_a_timer_once_enabled_and_uninstall_removes_units_and_link(scheduled_lab, tmp_path):
    home, env = home_env(tmp_path)
    env["PATH"] = str(tmp_path / "no-programs")  # no crontab here: --check still answers for systemd
    assert scheduled_lab.run("schedule", "--systemd", "--install", env=env).returncode == 0
    folder = home / ".config" / "systemd" / "user"
    timer = next(folder.glob("*.timer"))
    checked = scheduled_lab.run("schedule", "--check", env=env)
    assert checked.returncode == 1 and "is not enabled: run systemctl --user enable --now" in checked.stdout
    assert "cron: not scheduled (cannot read the crontab: crontab is not installed" in checked.stdout
    (folder / "timers.target.wants").mkdir()
    (folder / "timers.target.wants" / timer.name).symlink_to(timer)  # what systemctl --user enable does
    checked = scheduled_lab.run("schedule", "--check", "--systemd", env=env)
    assert checked.returncode == 0 and checked.stdout == f"systemd: scheduled ({timer.name} enabled)\n"
    removed = scheduled_lab.run("schedule", "--systemd", "--uninstall", env=env)
    assert removed.returncode == 0 and removed.stdout.count("removed ") == 3
    assert files_under(home) == [] and "systemctl --user stop " in removed.stdout


def status_at(lab, moment, env):
    return lab.run("status", env={"BACKUP_SYSTEM_NOW": time.strftime("%Y-%m-%dT%H:%M", time.localtime(moment)),
                                  **env})


def test_status_notes_an_unscheduled_config_once_its_last_success_passes_half_stale_after(scheduled_lab, tmp_path):
    home, env = home_env(tmp_path)
    env["PATH"] = str(tmp_path / "no-programs")  # crontab missing must not fail status
    assert scheduled_lab.run().returncode == 0
    note = "note: nothing schedules this config (see: backup_system.py schedule --cron)"
    fresh = status_at(scheduled_lab, time.time() + 3 * 86400, env)  # stale_after is 7d
    assert fresh.returncode == 0 and note not in fresh.stdout
    aging = status_at(scheduled_lab, time.time() + 4 * 86400, env)
    assert aging.returncode == 0 and aging.stdout.splitlines()[-1] == note, aging.stdout + aging.stderr
    assert scheduled_lab.run("schedule", "--systemd", "--install", env=env).returncode == 0
    folder = home / ".config" / "systemd" / "user"
    (folder / "timers.target.wants").mkdir()
    timer = next(folder.glob("*.timer"))
    (folder / "timers.target.wants" / timer.name).symlink_to(timer)
    assert note not in status_at(scheduled_lab, time.time() + 4 * 86400, env).stdout


def test_status_reads_a_cron_block_as_scheduled(scheduled_lab, cron_user, tmp_path):
    user, env = cron_user
    assert scheduled_lab.run().returncode == 0
    assert scheduled_lab.run("schedule", "--cron", "--install", env=env).returncode == 0
    _, home_vars = home_env(tmp_path)
    shown = status_at(scheduled_lab, time.time() + 4 * 86400, {**env, **home_vars})
    assert shown.returncode == 0 and "note:" not in shown.stdout
    assert pwd.getpwnam(user)  # the throwaway user's crontab, not ours, held the block
