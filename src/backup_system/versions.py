"""Dated versions: where a replaced or deleted copy is kept, and which old ones expire.

`expired` is the one retention rule, a pure function, as `plan.needs_transfer` is the one
update rule: the compression stage keeps its newest archives by it, and version folders will.
"""

import time

VERSIONS_SUFFIX = "-versions"  # what a mirror or sync deletes or overwrites goes to <target>-versions/<stamp>
VERSION_STAMP = "%Y-%m-%d-%H%M%S"


def version_stamp(now=None):
    """The name of this run's versions folder: local time, to the second."""
    return time.strftime(VERSION_STAMP, time.localtime(now))


def versions_root(location):
    """The folder beside a backup that holds its dated versions folders."""
    return f"{location.rstrip('/')}{VERSIONS_SUFFIX}"


def versions_folder(location, stamp):
    """Where the copies one run replaced or deleted are kept: beside the backup, dated."""
    return f"{versions_root(location)}/{stamp}"


def stamp_time(stamp):
    """Seconds since the epoch of a versions folder's name, or None for a name that is no stamp of ours."""
    try:
        return time.mktime(time.strptime(stamp, VERSION_STAMP))
    except ValueError:
        return None


def older_than(stamps, keep_days, now):
    """The stamps whose run was more than keep_days before now, oldest first: by the time in their name,
    never by a file's modification time (a kept copy keeps its own old mtime)."""
    limit = now - keep_days * 86400
    return sorted(stamp for stamp in stamps if stamp_time(stamp) is not None and stamp_time(stamp) < limit)


def expired(stamps, keep):
    """The stamps beyond the `keep` newest (one is always kept), oldest first.

    Stamps are anything that sorts in time order: names with a sortable date, or tuples
    that break a tie within a second.
    """
    return sorted(stamps)[:-max(keep, 1)]
