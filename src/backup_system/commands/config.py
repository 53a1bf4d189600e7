"""config: check the config (validate, and with --reach contact each destination), or print it (show)."""

from ..cli import ExitStatus
from ..errors import ConfigError
from . import CONFIG_HELP, verb_parser

# The failures that leave a server's other targets untried, as a run's remaining jobs on it are.
UNREACHABLE_KINDS = ("unreachable", "stalled")
FAILURE_WORDS = {"not-found": "not found", "timed-out": "timed out"}  # an error's kind, as the line says it


def parser():
    """`backup_system.py config validate [--reach]|show [--config PATH]`."""
    config = verb_parser("config")
    config.add_argument("action", choices=("validate", "show"),
                        help="validate: check it without contacting any server, and name each destination and "
                             "its type; show: print it as YAML with every default filled in")
    config.add_argument("--reach", action="store_true",
                        help="with validate: also contact every destination, enabled or not, with a listing "
                             "only (nothing is written), and say per destination and source whether it is "
                             "reachable; exit 1 when one is not")
    config.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    return config


def main(args):
    """Load the config (a mistake raises ConfigError), then say it is ok or print it."""
    from ..config import load_config

    if args.reach and args.action != "validate":
        raise ConfigError("backup_system.py config: --reach goes with validate: config validate --reach")
    config = load_config(args.config)
    if args.action == "show":
        show(config)
        return ExitStatus.OK
    validate(config)
    return reach_all(config) if args.reach else ExitStatus.OK


def validate(config):
    """Every check a backup makes before sending anything (its jobs, their destinations, the lock), then what
    can be told locally of every destination and source; one ok line naming each destination, then notes."""
    from ..plan import build_jobs, check_lock_folder, compression_note

    build_jobs(config)
    check_lock_folder(config)
    notes = [note for note in [compression_note(config)] if note]
    for destination in config.destinations.values():
        notes += destination_notes(config, destination)
    notes += source_notes(config)
    kinds = ", ".join(f"{d.name} ({d.type}{'' if d.enabled else ', disabled'})"
                      for d in config.destinations.values())
    print(f"{config.path}: ok; destinations: {kinds or 'none'}")
    for note in notes:
        print(f"note: {note}")


def destination_notes(config, destination):
    """What is wrong with one destination, found without contacting its server: for an enabled one the
    ConfigError a run of it would stop at (or that makes its jobs fail), for a disabled one a note each."""
    from ..plan import check_destination

    at = f"backups.destinations.{destination.name}"
    unresolved = (config.unresolved or {}).get(destination.name)
    if unresolved:  # an enabled one stopped build_jobs already
        return [f"{unresolved} ({destination.name} is disabled: only a run of it needs the variable)"]
    problems, notes = [], []
    try:
        check_destination(destination)
    except ConfigError as error:
        problems.append(str(error))
    own_problems, own_notes = transport_checks(destination)
    problems += [f"{at}.{key}: {problem}" for key, problem in own_problems]
    notes += [f"{at}.{note}" for note in own_notes]
    if problems and destination.enabled:
        raise ConfigError(f"{config.path}: {problems[0]}")
    return [f"{problem} ({destination.name} is disabled)" for problem in problems] + notes


def transport_checks(destination):
    """([(key, problem)], [notes]) from the destination's transport's local_problems, if it has one."""
    import importlib

    from ..log import WARNING, Log

    module = importlib.import_module(f"backup_system.transports.{destination.type}.options")
    local_problems = getattr(module, "local_problems", None)
    return local_problems(destination, Log(None, WARNING)) if local_problems else ([], [])


def source_notes(config):
    """A source folder (or root) that is not there: a backup fails its jobs until it is, which may be when the
    pipeline first writes it, so a note, with the closest folder beside it when one looks like a typo."""
    from ..localtree import folder_problem

    notes = []
    for spec in config.sources.values():
        for folder in (spec.path,) if spec.path is not None else spec.roots:
            problem = folder_problem(folder)
            if problem:
                notes.append(f"source {spec.name}: {problem}{nearby_folder(folder)}; a backup fails its "
                             f"jobs until it does")
    return notes


def nearby_folder(path):
    """ (did you mean '<folder>'?) for a folder beside `path` whose name is close to its name."""
    import difflib
    import os

    parent, name = os.path.split(path)
    try:
        siblings = [entry.name for entry in os.scandir(parent) if entry.is_dir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    return f" (did you mean {os.path.join(parent, close[0])}?)" if close else ""


def reach_all(config):
    """Contact every destination, enabled or not, for each target a run would send to, with a listing only;
    one line per (destination, source); exit 1 when any is not reachable."""
    from ..log import WARNING, Log

    log = Log(None, WARNING)
    failed = total = 0
    for destination in config.destinations.values():
        for line, ok in reach_destination(config, destination, log):
            print(line, flush=True)
            total, failed = total + 1, failed + (not ok)
    print(f"reach: {total - failed} of {total} reachable" if total else "reach: no destinations to contact")
    return ExitStatus.FAILED if failed else ExitStatus.OK


def reach_destination(config, destination, log):
    """(line, reachable) per job a run of this destination would make, its server contacted once per target;
    after a target found the server unreachable, its other targets are not tried, as in a run."""
    from ..locations import server_of
    from ..plan import build_jobs
    from ..transports import transport_for

    name = destination.name + ("" if destination.enabled else " (disabled)")
    unresolved = (config.unresolved or {}).get(destination.name)
    if unresolved:
        return [(f"{name}: not contacted: {unresolved}", False)]
    enabled = config._replace(destinations={**config.destinations, destination.name: destination._replace(enabled=True)})
    try:
        jobs, _ = build_jobs(enabled, (destination.name,), dry_run=True, to_run=False)
    except ConfigError as error:
        return [(f"{name}: not contacted: {error}", False)]
    transport = transport_for(jobs[0].destination, log) if jobs else None
    lines, answers, dead = [], {}, {}
    for job in jobs:
        server = server_of(job.target)
        if job.target not in answers:
            answers[job.target] = dead[server] if server in dead else reach_one(transport, job.target)
            if not answers[job.target][1] and answers[job.target][2] in UNREACHABLE_KINDS:
                dead.setdefault(server, (f"not tried: {answers[job.target][0]}", False, None))
        answer, ok, _ = answers[job.target]
        lines.append((f"{name}/{job.source.name} -> {job.target}: {answer}", ok))
    return lines


def reach_one(transport, target):
    """(what the transport says, reachable, the failure's kind or None) for one target."""
    from ..errors import TransportError

    try:
        return transport.reach(target), True, None
    except NotImplementedError:
        return f"not checked: the {transport.name} transport cannot check a destination yet", False, "unchecked"
    except TransportError as error:
        return f"{FAILURE_WORDS.get(error.kind, error.kind)}: {error}", False, error.kind


def show(config):
    """The effective config as YAML on stdout."""
    import yaml

    from ..config import effective_config

    print(yaml.safe_dump(effective_config(config), sort_keys=False, allow_unicode=True), end="")
