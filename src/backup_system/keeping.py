"""What a destination keeps beside the live tree: every copy of one file, and pruning versions past keep_days.

Versions live in `<target>-versions/<stamp>/<path>` (versions.py); both verbs read them through the
transport's list_files and never ask which kind of destination they hold.
"""

import os
from collections import namedtuple

from .errors import BackupError, ConfigError
from .restore import OWN_FOLDER, kept_copies
from .versions import older_than, versions_folder, versions_root

DEFAULT_KEEP_DAYS = 180

KeptCopy = namedtuple("KeptCopy", "destination source path kept_at mtime size")
KeptCopy.__doc__ = "One copy of a file at a destination: kept_at None for the live copy, else when it was replaced."

Pruned = namedtuple("Pruned", "destination source folders files bytes error")
Pruned.__doc__ = "What prune removed (or would) for one job: dated folders, the files and bytes in them, or why not."


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
    folder, _, name = relative.rpartition("/")
    live_folder = f"{job.target.rstrip('/')}/{folder}" if folder else job.target
    live = [item for item in transport.list_files(live_folder) or () if item.path == name and item.link is None]
    root = versions_root(job.target)
    kept = [copy for copy in kept_copies(transport.list_files(root), root) if copy.path == relative]
    found = [KeptCopy(job.destination.name, job.source.name, relative, copy.kept_at, copy.mtime, copy.size)
             for copy in sorted(kept, key=lambda copy: copy.kept_at)]
    return found + [KeptCopy(job.destination.name, job.source.name, relative, None, item.mtime, item.size)
                    for item in live]


def prune_job(transport, job, now, dry_run):
    """Remove the job's versions folders older than its destination's keep_days; a Pruned."""
    keep_days = getattr(job.destination, "keep_days", None) or DEFAULT_KEEP_DAYS
    root = versions_root(job.target)
    try:
        listed = transport.list_files(root) or []
        by_stamp = {}
        for item in listed:
            stamp, _, path = item.path.partition("/")
            if path and not path.startswith(OWN_FOLDER + "/"):
                by_stamp.setdefault(stamp, []).append(item.size)
        old = older_than(by_stamp, keep_days, now)
        if not dry_run:
            for stamp in old:
                transport.remove_folder(versions_folder(job.target, stamp))
    except BackupError as error:
        return Pruned(job.destination.name, job.source.name, 0, 0, 0, str(error))
    return Pruned(job.destination.name, job.source.name, len(old), sum(len(by_stamp[s]) for s in old),
                  sum(sum(by_stamp[s]) for s in old), None)
