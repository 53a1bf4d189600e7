"""config: check the config (validate), or print it with every default filled in (show)."""

from ..cli import ExitStatus
from . import CONFIG_HELP, verb_parser


def parser():
    """`backup_system.py config validate|show [--config PATH]`."""
    config = verb_parser("config")
    config.add_argument("action", choices=("validate", "show"),
                        help="validate: check it, and name each destination and its type; "
                             "show: print it as YAML with every default filled in")
    config.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return config


def main(args):
    """Load the config (a mistake raises ConfigError), then say it is ok or print it."""
    from ..config import load_config

    config = load_config(args.config)
    if args.action == "show":
        show(config)
    else:
        validate(config)
    return ExitStatus.OK


def validate(config):
    """Every check a backup makes before sending anything (its jobs, their destinations, the lock), then
    one ok line naming each destination, and a note where the config says what it does not do."""
    from ..plan import build_jobs, check_lock_folder, compression_note

    build_jobs(config)
    check_lock_folder(config)
    kinds = ", ".join(f"{d.name} ({d.type}{'' if d.enabled else ', disabled'})"
                      for d in config.destinations.values())
    print(f"{config.path}: ok; destinations: {kinds or 'none'}")
    note = compression_note(config)
    if note:
        print(f"note: {note}")


def show(config):
    """The effective config as YAML on stdout."""
    import yaml

    from ..config import effective_config

    print(yaml.safe_dump(effective_config(config), sort_keys=False, allow_unicode=True), end="")
