"""What a destination keeps beside the live tree: every copy of one file, and pruning versions past keep_days.

Versions live in `<target>-versions/<stamp>/<path>` (versions.py); both verbs read them through the
transport's list_files and never ask which kind of destination they hold. A destination in `mode: snapshot`
keeps its copies in its complete snapshots instead: an unchanged file is one hard link in many of them, so
consecutive snapshots holding the same copy (the same inode, or over ssh the same size and time) make one
line, with the snapshots that hold it.
"""

import os
from collections import namedtuple

from .errors import BackupError, ConfigError
from .versions import older_than, versions_folder, versions_root

KeptCopy = namedtuple("KeptCopy", "destination source path kept_at mtime size snapshots", defaults=((),))
KeptCopy.__doc__ = ("One copy of a file at a destination: kept_at None for the live copy, else when it was replaced; "
                    "on a snapshot destination the names of the snapshots holding it, oldest first.")

Pruned = namedtuple("Pruned", "destination source folders files bytes error note", defaults=(None,))
Pruned.__doc__ = ("What prune removed (or would) for one job: dated folders, the files and bytes in them, or why not; "
                  "`note`: why it had nothing to do (the destination expires its versions itself).")


def locate(config, path):
    """(source name, relative path) of PATH: a file inside a configured source on this machine, or
    SOURCE/relative/path. Raises ConfigError when it is neither."""
    from .plan import expand_sources

    sources = [source for spec in config.sources.values() for source in expand_sources(spec)]
    real = os.path.realpath(path)
    for source in sorted(sources, key=lambda item: -len(item.path)):
        root = os.path.realpath(source.path)
        if real.startswith(root.rstrip("/") + "/"):
            return source.name, os.path.relpath(real, root).replace(os.sep, "/")
    for source in sorted(sources, key=lambda item: -len(item.name)):
        if path.startswith(source.name + "/") and len(path) > len(source.name) + 1:
            return source.name, path[len(source.name) + 1:]
    raise ConfigError(f"versions list {path}: not a file inside a source ({', '.join(sorted(s.name for s in sources))})"
                      f" nor SOURCE/relative/path")


def copies_of(transport, job, relative):
    """Every copy of one file at one job's destination, oldest first, the live one last."""
    from .restoring import kept_copies

    if getattr(job.destination.options, "mode", "copy") == "snapshot":
        return snapshot_copies(transport, job, relative)
    folder, _, name = relative.rpartition("/")
    live_folder = f"{job.target.rstrip('/')}/{folder}" if folder else job.target
    if transport.native_versions():  # an S3 bucket keeps them itself
        return [KeptCopy(job.destination.name, job.source.name, relative, kept_at, item.mtime, item.size)
                for item, kept_at in transport.versions_of(live_folder, name)]
    live = [item for item in transport.list_files(live_folder) or () if item.path == name and item.link is None]
    root = versions_root(job.target)
    kept = [copy for copy in kept_copies(transport.list_files(root), root) if copy.path == relative]
    found = [KeptCopy(job.destination.name, job.source.name, relative, copy.kept_at, copy.mtime, copy.size)
             for copy in sorted(kept, key=lambda copy: copy.kept_at)]
    return found + [KeptCopy(job.destination.name, job.source.name, relative, None, item.mtime, item.size)
                    for item in live]


def snapshot_copies(transport, job, relative):
    """Every distinct copy of one file in a snapshot destination's complete snapshots, oldest first: kept_at the
    time of the first snapshot without it, None for the copy in the newest complete snapshot (latest)."""
    from .versions import snapshot_time

    verbs = transport.verbs("snapshot")
    found = verbs.listing(transport, job.target.rstrip("/"))
    names = found.complete if found else []
    groups = []  # [index of the last snapshot, key, [Copy]]
    for copy in verbs.copies(transport, job.target, names, relative):
        index = names.index(copy.snapshot)
        key = copy.inode if copy.inode is not None else (copy.listed.size, int(copy.listed.mtime))
        if groups and groups[-1][0] == index - 1 and groups[-1][1] == key:
            groups[-1][0] = index
            groups[-1][2].append(copy)
        else:
            groups.append([index, key, [copy]])
    return [KeptCopy(job.destination.name, job.source.name, relative,
                     snapshot_time(names[last + 1]) if last + 1 < len(names) else None,
                     held[0].listed.mtime, held[0].listed.size, tuple(copy.snapshot for copy in held))
            for last, _, held in groups]


def prune_job(transport, job, now, dry_run):
    """Remove the job's versions folders older than its destination's keep_days; a Pruned."""
    return prune(transport, job.destination, job.source.name, job.target, now, dry_run)


def prune(transport, destination, source, target, now, dry_run):
    """Remove the versions folders beside `target` older than the destination's keep_days; a Pruned."""
    root = versions_root(target)
    try:
        if transport.native_versions():
            return Pruned(destination.name, source, 0, 0, 0, None,
                          f"left to the bucket's lifecycle rule: its versions expire {destination.keep_days} days "
                          f"after they were replaced or deleted")
        by_stamp = {}
        for item in transport.list_files(root) or ():
            stamp, _, path = item.path.partition("/")
            if path:
                by_stamp.setdefault(stamp, []).append(item.size)
        old = older_than(by_stamp, destination.keep_days, now)
        if not dry_run:
            for stamp in old:
                transport.remove_folder(versions_folder(target, stamp))
    except BackupError as error:
        return Pruned(destination.name, source, 0, 0, 0, str(error))
    return Pruned(destination.name, source, len(old), sum(len(by_stamp[s]) for s in old),
                  sum(sum(by_stamp[s]) for s in old), None)


def keeps_versions(destination):
    """Whether a destination's backups keep what they replace or delete: versions: true, a mirror, a two-way sync."""
    return (destination.versions or getattr(destination.options, "mode", "copy") == "mirror"
            or destination.direction == "bisync")


PRUNED_FILE = "last-prune"  # in the destination's state folder: when a backup last pruned it
PRUNE_EVERY = 86400


def prune_after_run(config, record, log):
    """After-run step: each destination that keeps versions, with prune: auto, pruned at most once a day."""
    from .times import now as current
    from .transports import transport_for

    if record.dry_run:
        return
    now = current()
    for job in record.jobs:
        destination = config.destinations.get(job.destination)
        if destination is None or job.error or destination.prune != "auto" or not keeps_versions(destination):
            continue
        stamp_file = os.path.join(config.state_dir, destination.name, PRUNED_FILE + "-" + job.source.replace("/", "%2F"))
        if os.path.exists(stamp_file) and now - os.path.getmtime(stamp_file) < PRUNE_EVERY:
            continue
        with log.prefixed(f"{job.destination}/{job.source}"):
            pruned = prune(transport_for(destination, log), destination, job.source, job.target, now, False)
            if pruned.error:
                log.warning(f"prune failed: {pruned.error}")
                continue
            if pruned.files:
                from .record import format_bytes

                copies = f"{pruned.files} kept {'copy' if pruned.files == 1 else 'copies'}"
                log.info(f"pruned {copies} older than {destination.keep_days} days ({format_bytes(pruned.bytes)})")
        os.makedirs(os.path.dirname(stamp_file), exist_ok=True)
        open(stamp_file, "w").close()
