"""schedule: print a crontab line, a systemd service + timer or a Slurm batch script that runs this backup;
install or remove one only when asked (--install, --uninstall); --check says whether one runs this config."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Printed, nothing is written anywhere. --install merges the crontab line into your crontab as a
marked block (installing again replaces it; --uninstall takes it out and leaves the rest as it
was), or writes the systemd units into ~/.config/systemd/user/ and prints the systemctl line
to run. Slurm is printed only: sbatch the script, or add its scrontab lines with scrontab -e.
--every: Nm (N divides 60), Nh (N divides 24), 1d or 7d (Sundays); --at: the time of day (or
the minute past the hour) it starts from. The scheduled run records its trigger as schedule.
--check exits 0 when cron or a systemd user timer runs this config, 1 when none does."""
KINDS = ("cron", "systemd", "slurm")


def parser():
    """`backup_system.py schedule --cron|--systemd|--slurm [--every D] [--at HH:MM] [--install|--uninstall|--check]`."""
    schedule = verb_parser("schedule", EPILOG)
    schedule.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    kind = schedule.add_mutually_exclusive_group()
    for name, what in zip(KINDS, ("a crontab line", "a systemd service and timer (user units)",
                                  "a Slurm batch script and its scrontab lines"), strict=True):
        kind.add_argument(f"--{name}", dest="kind", action="store_const", const=name, help=f"print {what}")
    schedule.add_argument("--every", default="1d", metavar="DURATION", help="how often: 1d (default), 12h, 7d, 15m")
    schedule.add_argument("--at", default="02:00", metavar="HH:MM", help="the time of day (default 02:00)")
    action = schedule.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="install it (your crontab, or your systemd units)")
    action.add_argument("--uninstall", action="store_true", help="remove what --install put there")
    action.add_argument("--check", action="store_true", help="say whether this config is scheduled (cron, systemd)")
    return schedule


def main(args):
    """Print, install, uninstall or check the schedule the options name."""
    from ..config import load_config

    if args.check:
        return check(load_config(args.config), args.kind)
    if args.kind is None:
        raise ConfigError("schedule: say which: --cron, --systemd or --slurm (or --check)")
    if args.kind == "slurm" and (args.install or args.uninstall):
        raise ConfigError("schedule --slurm only prints: save the script and sbatch it, or add its scrontab "
                          "lines with scrontab -e")
    config = load_config(args.config)
    if args.uninstall:
        return UNINSTALLERS[args.kind](config)
    from ..schedule import parse_timing

    timing = parse_timing(args.every, args.at)
    return (INSTALLERS if args.install else PRINTERS)[args.kind](config, timing)


def print_cron(config, timing):
    from ..schedule import crontab_text

    print(crontab_text(config, timing), end="")
    return ExitStatus.OK


def print_systemd(config, timing):
    import os

    from ..schedule import systemd_units, unit_name, user_unit_folder

    for file_name, text in systemd_units(config, timing).items():
        print(f"# {os.path.join(user_unit_folder(), file_name)}\n{text}")
    print(f"# --install writes both; then run: systemctl --user daemon-reload && systemctl --user enable --now "
          f"{unit_name(config)}.timer")
    return ExitStatus.OK


def print_slurm(config, timing):
    from ..schedule import slurm_script

    print(slurm_script(config, timing), end="")
    return ExitStatus.OK


def install_cron(config, timing):
    from ..schedule import crontab_text, install_cron, quiet_log

    install_cron(config, timing, quiet_log())
    print(f"installed in your crontab (crontab -l shows it):\n{crontab_text(config, timing)}", end="")
    return ExitStatus.OK


def install_systemd(config, timing):
    from ..schedule import install_units, unit_name

    for path in install_units(config, timing):
        print(f"wrote {path}")
    print(f"to start it, run: systemctl --user daemon-reload && systemctl --user enable --now "
          f"{unit_name(config)}.timer")
    return ExitStatus.OK


def uninstall_cron(config):
    from ..schedule import quiet_log, uninstall_cron

    removed = uninstall_cron(config, quiet_log())
    print("removed from your crontab" if removed else "your crontab has no schedule for this config: nothing to do")
    return ExitStatus.OK


def uninstall_systemd(config):
    from ..schedule import uninstall_units, unit_name

    removed = uninstall_units(config)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("no systemd units for this config: nothing to do")
    else:
        print(f"to stop it now, run: systemctl --user stop {unit_name(config)}.timer; systemctl --user daemon-reload")
    return ExitStatus.OK


def check(config, kind):
    """One line per scheduler asked about (cron and systemd by default); 0 when any runs this config."""
    from ..schedule import check_cron, check_timer, quiet_log

    if kind == "slurm":
        raise ConfigError("schedule --check reads cron and systemd only: scrontab -l shows your Slurm schedules")
    checkers = {"cron": lambda: check_cron(config, quiet_log()), "systemd": lambda: check_timer(config)}
    checks = [checker() for name, checker in checkers.items() if kind in (None, name)]
    for found in checks:
        print(f"{found.kind}: {'scheduled' if found.scheduled else 'not scheduled'} ({found.detail})")
    return ExitStatus.OK if any(found.scheduled for found in checks) else ExitStatus.FAILED


PRINTERS = {"cron": print_cron, "systemd": print_systemd, "slurm": print_slurm}
INSTALLERS = {"cron": install_cron, "systemd": install_systemd}
UNINSTALLERS = {"cron": uninstall_cron, "systemd": uninstall_systemd}
