"""Printed schedules: a crontab line, a systemd service + timer pair, a Slurm batch script.

Nothing here writes anywhere unless the user asked for it (`schedule --install`): the
renderings and the crontab merge are pure functions; the install steps are the few
functions at the end that read and write the crontab (through proc) or the user's
systemd unit folder. Templates live in templates/; jinja2 is imported on first render.
"""

import os
import re
import sys
import zlib
from collections import namedtuple

from .errors import BackupError, ConfigError
from .times import DAY, parse_duration

TRIGGER_VARIABLE = "BACKUP_SYSTEM_TRIGGER"  # commands/backup.py records the run's trigger from it
WEEK = 7 * DAY
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRONTAB_TIMEOUT = 30
EVERY_HELP = "every N minutes (N divides 60), N hours (N divides 24), 1d or 7d"

Timing = namedtuple("Timing", "every at minutes hours weekday")
Timing.__doc__ = ("When a schedule fires: `every` and `at` as asked; minutes and hours are the tuples cron lists "
                  "(hours None: every hour); weekday 0 (Sunday) for a weekly one, else None.")


def parse_timing(every="1d", at="02:00"):
    """The Timing of `--every EVERY --at HH:MM`; a period cron and systemd cannot both say is a ConfigError."""
    seconds = parse_duration(every)
    hour, minute = parse_at(at)
    if seconds in (DAY, WEEK):
        return Timing(every, at, (minute,), (hour,), 0 if seconds == WEEK else None)
    if seconds and seconds % 3600 == 0 and 24 % (seconds // 3600) == 0:
        step = int(seconds // 3600)
        return Timing(every, at, (minute,), tuple(range(hour % step, 24, step)), None)
    if seconds and seconds % 60 == 0 and 60 % (seconds // 60) == 0:
        step = int(seconds // 60)
        return Timing(every, at, tuple(range(minute % step, 60, step)), None, None)
    raise ConfigError(f"schedule: --every {every}: cannot be a schedule; it can run {EVERY_HELP}")


def parse_at(text):
    """(hour, minute) of HH:MM, 24-hour clock; anything else is a ConfigError."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ConfigError(f"schedule: --at {text}: expected a time of day such as 02:00 or 23:30")
    return int(match.group(1)), int(match.group(2))


def cron_fields(timing):
    """The five time fields of a crontab line: `0 2 * * *`, `30 2,14 * * *`, `0,15,30,45 * * * *`."""
    weekday = "*" if timing.weekday is None else str(timing.weekday)
    return f"{listed(timing.minutes, 60, '{}')} {listed(timing.hours, 24, '{}')} * * {weekday}"


def on_calendar(timing):
    """The systemd OnCalendar= of the same moments: `*-*-* 02:00:00`, `Sun *-*-* 02:00:00`."""
    clock = f"{listed(timing.hours, 24, '{:02d}')}:{listed(timing.minutes, 60, '{:02d}')}:00"
    return ("Sun " if timing.weekday == 0 else "") + f"*-*-* {clock}"


def listed(values, every_value, pattern):
    """One field: `*` when it holds every value (or None), else the values joined by commas."""
    if values is None or len(values) == every_value:
        return "*"
    return ",".join(pattern.format(value) for value in values)


def describe(timing):
    """How the timing reads in a comment: `every 1d at 02:00`, `every 15m`."""
    days = " (Sundays)" if timing.weekday == 0 else ""
    hourly = timing.hours is None or len(timing.hours) == 24
    return f"every {timing.every}{days}" + ("" if hourly else f" at {timing.at}")


def backup_argv(config_path):
    """The scheduled command: this project's Python and script (or module), quiet, on this config's absolute path."""
    script = os.path.join(CHECKOUT, "scripts", "backup_system.py")
    venv_python = os.path.join(CHECKOUT, ".venv", "bin", "python")
    # Not realpath: a venv's python is a symlink to the base interpreter, which lacks the venv's packages.
    python = venv_python if os.path.exists(venv_python) else os.path.abspath(sys.executable)
    program = [python, script] if os.path.exists(script) else [python, "-m", "backup_system.cli"]
    return [*program, "--config", os.path.abspath(config_path), "-q"]


def unit_name(config):
    """The systemd unit name (no suffix) of a config: its name and a checksum of its path (two may share a name)."""
    checksum = zlib.crc32(os.path.abspath(config.path).encode("utf-8", "surrogateescape"))
    return f"backup-system-{safe_name(config.name)}-{checksum:08x}"


def safe_name(name):
    """The config's name as a unit or job name may hold it: letters, digits, - and _."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "config"


def render(template, **values):
    """One template of templates/ filled in; StrictUndefined so a missing value fails the tests, not a user."""
    import jinja2

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                                     autoescape=False)  # shell lines and unit files, not HTML
    environment.filters["shell"] = shell_quote
    environment.filters["systemd"] = systemd_quote
    return environment.get_template(template).render(**values)


def shell_quote(value):
    import shlex

    return shlex.join(value) if isinstance(value, (list, tuple)) else shlex.quote(str(value))


def systemd_quote(value):
    """A word or argument list as an ExecStart= line reads it: % and $ doubled, quoted when it has spaces."""
    if isinstance(value, (list, tuple)):
        return " ".join(systemd_quote(word) for word in value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{text}"' if re.search(r"[\s;'\"]", str(value)) or not text else text


def values_for(config, timing):
    """What every template is filled with."""
    config_path = os.path.abspath(config.path)
    return {"config_path": config_path, "argv": backup_argv(config_path), "log_file": config.log_file,
            "trigger_variable": TRIGGER_VARIABLE, "unit": unit_name(config),
            "job_name": f"backup-{safe_name(config.name)}",
            "cron_fields": cron_fields(timing), "on_calendar": on_calendar(timing), "when": describe(timing)}


def crontab_text(config, timing):
    """The crontab entry (a comment and the line), ready for `crontab -e` or the marked block."""
    # cron turns an unescaped % into a newline: every % of the command is escaped.
    return render("crontab.j2", **values_for(config, timing)).replace("%", "\\%")


def systemd_units(config, timing):
    """{file name: text} of the service and its timer."""
    values = values_for(config, timing)
    return {f"{values['unit']}.service": render("backup.service.j2", **values),
            f"{values['unit']}.timer": render("backup.timer.j2", **values)}


def slurm_script(config, timing):
    """A Slurm batch script for one backup run, with the scrontab lines that repeat it in its comments."""
    return render("backup.sbatch.j2", **values_for(config, timing))


# The crontab block: marked so that install replaces it and uninstall takes it out, and nothing else.
def block_markers(config_path):
    """The first and last line of this config's block in a crontab."""
    absolute = os.path.abspath(config_path)
    return f"# >>> backup_system schedule {absolute} >>>\n", f"# <<< backup_system schedule {absolute} <<<\n"


def merge_block(crontab, config_path, entry):
    """The crontab with this config's block (holding `entry`) at its end, replacing any earlier one."""
    begin, end = block_markers(config_path)
    kept = remove_block(crontab, config_path)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    return kept + begin + entry + ("" if entry.endswith("\n") else "\n") + end


def remove_block(crontab, config_path):
    """The crontab without this config's block(s), every other byte as it was."""
    begin, end = block_markers(config_path)
    kept, inside = [], False
    for line in crontab.splitlines(keepends=True):
        marker = line if line.endswith("\n") else line + "\n"
        if marker == begin:
            inside = True
        elif inside and marker == end:
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise BackupError(f"the crontab has the line {begin.strip()!r} without its end marker: "
                          "fix it with crontab -e")
    return "".join(kept)


def cron_lines_for(crontab, config_path):
    """The active crontab lines that run this config (ours or written by hand), comments skipped."""
    pattern = re.compile(r"--config\s+" + re.escape(shell_quote(os.path.abspath(config_path))) + r"(\s|$)")
    # An installed line has its % escaped for cron (crontab_text); the path is compared unescaped.
    return [line for line in crontab.splitlines() if line.strip() and not line.lstrip().startswith("#")
            and pattern.search(line.replace("\\%", "%"))]


# Installing: only on `--install` / `--uninstall`; reading: `--check` and `status`.
def quiet_log():
    from .log import WARNING, Log

    return Log(None, WARNING)


def read_crontab(log):
    """The user's crontab as `crontab -l` prints it; "" when there is none. Raises BackupError (also when
    crontab is not installed: proc's TransportError)."""
    from . import proc

    lines = []
    result = proc.run(["crontab", "-l"], timeout=CRONTAB_TIMEOUT, log=log, on_line=lines.append)
    if result.returncode != 0:
        said = " ".join(result.stderr_lines).strip()
        if "no crontab for" in said:
            return ""
        raise BackupError(f"crontab -l failed: {said or f'exit status {result.returncode}'}")
    # A crontab always ends with a newline (crontab refuses one that does not), so this is byte for byte.
    return "".join(line + "\n" for line in lines)


def write_crontab(text, log):
    """Replace the user's crontab with `text`; an empty one is removed (as if there had never been one)."""
    from . import proc

    if text:
        argv, data = ["crontab", "-"], text.encode("utf-8", "surrogateescape")
    else:
        argv, data = ["crontab", "-r"], None
    result = proc.run(argv, timeout=CRONTAB_TIMEOUT, log=log, input_bytes=data)
    if result.returncode != 0:
        said = " ".join(result.stderr_lines).strip()
        raise BackupError(f"{' '.join(argv)} failed: {said or f'exit status {result.returncode}'}")


def install_cron(config, timing, log):
    """Merge this config's block into the user's crontab; returns the entry installed."""
    entry = crontab_text(config, timing)
    make_log_folder(config)
    before = read_crontab(log)
    after = merge_block(before, config.path, entry)
    if after != before:
        write_crontab(after, log)
    return entry


def uninstall_cron(config, log):
    """Take this config's block out of the user's crontab; True when there was one."""
    before = read_crontab(log)
    after = remove_block(before, config.path)
    if after != before:
        write_crontab(after, log)
    return after != before


def make_log_folder(config):
    """The scheduled command appends to the log from its first run: its folder must be there before."""
    os.makedirs(os.path.dirname(config.log_file), exist_ok=True)


def user_unit_folder():
    """Where systemd looks for a user's own units: $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "systemd", "user")


def install_units(config, timing):
    """Write the service and timer into the user's unit folder; returns their paths."""
    folder = user_unit_folder()
    os.makedirs(folder, exist_ok=True)
    make_log_folder(config)
    written = []
    for file_name, text in systemd_units(config, timing).items():
        path = os.path.join(folder, file_name)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        written.append(path)
    return written


def uninstall_units(config):
    """Remove the service, the timer and the timer's enable link; returns the paths removed."""
    folder, unit = user_unit_folder(), unit_name(config)
    paths = [os.path.join(folder, "timers.target.wants", f"{unit}.timer"),
             os.path.join(folder, f"{unit}.timer"), os.path.join(folder, f"{unit}.service")]
    removed = [path for path in paths if os.path.lexists(path)]
    for path in removed:
        os.remove(path)
    return removed


Check = namedtuple("Check", "kind scheduled detail")
Check.__doc__ = "Whether one kind of scheduler (cron, systemd) runs this config: scheduled True/False, and how."


def check_cron(config, log):
    """Does the user's crontab run this config? A crontab that cannot be read answers not scheduled, saying why."""
    try:
        lines = cron_lines_for(read_crontab(log), config.path)
    except BackupError as error:
        return Check("cron", False, f"cannot read the crontab: {error}")
    if not lines:
        return Check("cron", False, "no crontab line runs this config")
    return Check("cron", True, f"crontab line at {' '.join(lines[0].split()[:5])}")


def check_timer(config):
    """Is this config's timer in the user's unit folder, and enabled (linked from timers.target.wants)?"""
    folder, unit = user_unit_folder(), unit_name(config)
    timer = os.path.join(folder, f"{unit}.timer")
    if not os.path.exists(timer):
        return Check("systemd", False, f"no {timer}")
    if not os.path.lexists(os.path.join(folder, "timers.target.wants", f"{unit}.timer")):
        return Check("systemd", False, f"{timer} is not enabled: run systemctl --user enable --now {unit}.timer")
    return Check("systemd", True, f"{unit}.timer enabled")


def schedule_note(config, found, now):
    """The line `status` adds when nothing schedules this config and some pair's last success is past half its
    stale_after; None otherwise (the crontab is read only then, so status stays fast)."""
    aging = [item for item in found if item.last_success and now - item.last_success > item.stale_after / 2]
    if not aging or check_timer(config).scheduled or check_cron(config, quiet_log()).scheduled:
        return None
    return "note: nothing schedules this config (see: backup_system.py schedule --cron)"
