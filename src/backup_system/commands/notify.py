"""notify test [NAME]: a test message through each notifier (or the one named), and whether it was delivered."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

EPILOG = """\
Every notifier is tried, whatever its `on` says; a ping notifier pings its plain URL (a
success ping). Exit status 0 when every test message was delivered, 1 when any was not."""


def parser():
    """`backup_system.py notify test [NAME] [--config PATH]`."""
    notify = verb_parser("notify", EPILOG)
    notify.add_argument("action", choices=("test",), help="test: send a test message")
    notify.add_argument("name", nargs="?", metavar="NAME", help="only this notifier (default: every one)")
    notify.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return notify


def main(args):
    """Send the test messages, print one line per notifier; 0 when all were delivered, else 1."""
    from ..config import load_config
    from ..log import ERROR, Log
    from ..notify import send_tests

    config = load_config(args.config)
    notifiers = chosen(config, args.name)
    log = Log(config.log_file, ERROR)  # the lines below say it all; the log file keeps the details
    try:
        results = send_tests(config, notifiers, log)
    finally:
        log.close()
    for notifier, delivered, detail in results:
        print(f"{notifier.name} ({notifier.type}): {'delivered' if delivered else 'NOT delivered'}: {detail}")
    return ExitStatus.OK if all(delivered for _, delivered, _ in results) else ExitStatus.FAILED


def chosen(config, name):
    """The notifiers to test: all, or the one named; none configured or no such name is a usage error."""
    notifiers = config.notifications
    if not notifiers:
        raise ConfigError(f"{config.path}: no notifiers to test (add backups.notifications, see "
                          f"docs/BACKUP_SYSTEM_GUIDE.md#notifications)")
    if name is None:
        return notifiers
    found = [notifier for notifier in notifiers if notifier.name == name]
    if not found:
        from ..config.validate import suggestion

        names = [notifier.name for notifier in notifiers]
        raise ConfigError(f"notify test {name}: no such notifier{suggestion(name, names)}; notifiers are: "
                          f"{', '.join(names)}")
    return found
