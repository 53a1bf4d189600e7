"""Sources x destinations -> jobs, and the --only selection."""

import os
from collections import namedtuple

from .errors import ConfigError
from .locations import is_inside, is_remote_location, join_location

Source = namedtuple("Source", "name path exclude")
Source.__doc__ = "One folder to back up; a `roots` child is named `<spec>/<child>`."

Job = namedtuple("Job", "destination source target dry_run compressed state_dir archive_error only_paths",
                 defaults=(False, None, None, None))
Job.__doc__ = ("One source to one destination: where it lands (`target`), whether to change anything, whether "
               "it carries the source's archives instead of its tree, a folder for the transport's state, and "
               "for a retry the relative paths to send (None: the whole tree).")

# What a job does, by its destination's direction (an rclone option; every other destination pushes).
ACTIONS = {"push": "sending to", "pull": "pulling from", "bisync": "syncing with"}


def start_line(job):
    """The line that opens a job in the log: 'sending to X', 'pulling from X', 'dry run, syncing with X'."""
    action = f"{ACTIONS[job.destination.direction]} {job.target}"
    return f"dry run, {action}" if job.dry_run else action


def select_destinations(config, only=(), to_run=True):
    """The destinations a run covers, and a note for each one left out because it is disabled.

    `to_run`: these destinations are about to run, so a ${VAR} one of them needs and the environment lacks is
    the ConfigError it is; a variable of a destination left out stops nothing. False: only to list them (status).
    """
    for name in only:
        if name not in config.destinations:
            from .config.validate import suggestion

            known = ", ".join(config.destinations) or "none"
            raise ConfigError(f"{config.path}: --only {name}: no such destination{suggestion(name, config.destinations)}; "
                              f"destinations are: {known}")
    chosen = [config.destinations[name] for name in dict.fromkeys(only or config.destinations)]
    enabled = [destination for destination in chosen if destination.enabled]
    notes = [f"{destination.name}: disabled (enabled: false), not run" for destination in chosen if not destination.enabled]
    unresolved = config.unresolved or {}
    for destination in enabled if to_run else ():
        if destination.name in unresolved:
            raise ConfigError(unresolved[destination.name])
    return enabled, notes


def expand_sources(spec, notes=None):
    """The concrete folders of one configured source: itself, or each direct subfolder of its roots.

    A child that is a symbolic link to a folder inside the same root is followed; one that leads out of
    the root (or to the root itself) is not backed up, and a line in `notes` says so.
    """
    if spec.path is not None:
        return [Source(spec.name, spec.path, spec.exclude)]
    sources = []
    for root in spec.roots:
        try:
            entries = sorted(os.scandir(root), key=lambda entry: entry.name)
            children = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)
                        or linked_inside(entry, root, spec.name, notes)]
        except OSError:
            sources.append(Source(spec.name, root, spec.exclude))  # fails in its job, with the reason
            continue
        sources.extend(Source(f"{spec.name}/{child}", os.path.join(root, child), spec.exclude) for child in children)
    check_distinct(spec, sources)
    return sources


def linked_inside(entry, root, spec_name, notes):
    """Whether a roots child is a symbolic link to a folder below its root; a note for one that is not."""
    if not (entry.is_symlink() and entry.is_dir()):
        return False
    real, real_root = os.path.realpath(entry.path), os.path.realpath(root)
    if real != real_root and is_inside(real, real_root):
        return True
    if notes is not None:
        notes.append(f"source {spec_name}: {entry.path} is a symbolic link to {real}, not to a folder "
                     f"below its root: not backed up (make that folder a source of its own to back it up)")
    return False


def check_distinct(spec, sources):
    """Two roots holding a folder of the same name would land in one place at every destination."""
    seen = {}
    for source in sources:
        if source.name in seen:
            raise ConfigError(f"source {spec.name}: {seen[source.name]} and {source.path} would both back up "
                              f"as {source.name}; rename one, or make them two sources")
        seen[source.name] = source.path


def check_not_inside(job, compression_folder):
    """A backup inside its own source would hold itself again every run; real paths are compared, so a
    destination reached through a symbolic link into its source is refused too."""
    if not is_remote_location(job.target) and (is_inside(job.target, job.source.path) or is_inside(
            os.path.realpath(job.target), os.path.realpath(job.source.path))):
        raise ConfigError(f"backups.destinations.{job.destination.name}: {job.target} is inside the source "
                          f"{job.source.name} ({job.source.path}): the backup would copy itself every run")
    if job.compressed and is_inside(compression_folder, job.source.path):
        raise ConfigError(f"backups.compression.output_dir: {compression_folder} is inside the source "
                          f"{job.source.name} ({job.source.path}): each archive would hold the ones before")


def check_destination(destination):
    """What the run would find wrong before sending anything to this destination, raised as ConfigError
    (message without the config path): an smb credentials file smbclient cannot use, a backslash in an
    smb location (smbclient reads it as a folder separator; folders are separated with /)."""
    if destination.type != "smb":
        return
    from .errors import TransportError
    from .transports.smb.session import read_credentials

    at = f"backups.destinations.{destination.name}"
    for location in (destination.base_path, *destination.paths.values()):
        if location and "\\" in location:
            raise ConfigError(f"{at}: {location} holds a backslash: separate folders with / (remote_dir too)")
    if destination.options.credentials_file and destination.options.method != "mount":
        try:
            read_credentials(destination.options.credentials_file)
        except TransportError as error:
            raise ConfigError(f"{at}.credentials_file: {error}") from None


def check_lock_folder(config):
    """What the run's lock needs, checked without making anything: the lock file in state_dir can be made,
    with the message RunLock would give."""
    path = os.path.join(config.state_dir, f"{config.name}.lock")
    existing = path if os.path.lexists(path) else config.state_dir
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if existing == path:
        problem = None if os.access(path, os.R_OK | os.W_OK) else "Permission denied"
    elif not os.path.isdir(existing):
        problem = "Not a directory"
    else:
        problem = None if os.access(existing, os.W_OK | os.X_OK) else "Permission denied"
    if problem:
        raise ConfigError(f"cannot make the lock file {path} (see state_dir): {problem}")


def compression_note(config, compress=None):
    """compression.enabled: true that no destination follows, said once (None when it is not so)."""
    destinations = config.destinations.values()
    if compress is None and config.compression.enabled and destinations and all(
            destination.use_compression is False for destination in destinations):
        return ("compression.enabled: true has no effect: every destination says use_compression: false, "
                "and a destination's own setting wins")
    return None


def target_for(destination, spec_name, source):
    """Where a source lands: `<spec>_path` (plus the roots child) when given, else base_path/<source name>,
    else where its transport places it (rclone: remote:folder/<source name>)."""
    own = destination.paths.get(spec_name)
    if own is not None:
        child = source.name[len(spec_name) + 1:]
        return join_location(own, child) if child else own
    if destination.base_path is None:
        from .transports import entry

        return entry(destination.type).locate(destination, spec_name, source)
    return join_location(destination.base_path, source.name)


def needs_transfer(local, remote, precision=1):
    """The --update rule, for transports that compare trees themselves.

    Send when the file is missing at the destination, has another size there, or is newer
    here. A copy newer at the destination is never overwritten. Times are compared at the
    destination's precision (seconds), since that is all it keeps.
    """
    if remote is None:
        return True
    local_time = int(local.mtime // precision * precision)
    if remote.mtime > local_time:
        return False
    return remote.size != local.size or local_time > remote.mtime


def uses_compression(destination, config, compress=None):
    """--compress/--no-compress, else the destination's use_compression, else compression.enabled.
    Only a push sends archives: a pull or a two-way sync needs the files themselves."""
    if destination.direction != "push":
        return False
    if compress is not None:
        return compress
    if destination.use_compression is not None:
        return destination.use_compression
    return config.compression.enabled


def build_jobs(config, only=(), dry_run=False, compress=None, to_run=True):
    """Every (destination, source) job of this run, in config order, plus notes on what is skipped.
    `to_run`: see select_destinations (False: the jobs a run would make, listed without running them)."""
    destinations, notes = select_destinations(config, only, to_run)
    expanded = {name: expand_sources(spec, notes) for name, spec in config.sources.items()}
    note = compression_note(config, compress)
    notes = [*notes, note] if note else notes
    jobs = []
    for destination in destinations:
        try:
            check_destination(destination)
        except ConfigError as error:
            raise ConfigError(f"{config.path}: {error}") from None
        compressed = uses_compression(destination, config, compress)
        state_dir = os.path.join(config.state_dir, destination.name)
        for spec_name in config.sources if destination.sources is None else destination.sources:
            for source in expanded[spec_name]:
                job = Job(destination, source, target_for(destination, spec_name, source), dry_run, compressed,
                          state_dir)
                try:
                    check_not_inside(job, config.compression.output_dir)
                except ConfigError as error:
                    raise ConfigError(f"{config.path}: {error}") from None
                jobs.append(job)
    return jobs, notes
