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


SNAPSHOT_STAMP = "%Y-%m-%dT%H%M%S"  # mode: snapshot's dated trees, <target>/<stamp>/
PERIODS = {"daily": "%Y-%m-%d", "weekly": "%G-W%V", "monthly": "%Y-%m"}  # a snapshot's day, ISO week, month


def snapshot_stamp(now=None):
    """The name of a snapshot taken at `now`: local time, to the second."""
    return time.strftime(SNAPSHOT_STAMP, time.localtime(now))


def snapshot_time(name):
    """Seconds since the epoch of a snapshot's folder name, or None for a name that is no snapshot of ours."""
    try:
        return time.mktime(time.strptime(name, SNAPSHOT_STAMP))
    except ValueError:
        return None


def snapshots_expired(times, keep):
    """The snapshot times (seconds) that retention removes, oldest first; a pure function.

    keep: {"daily": 7, "weekly": 4, "monthly": 12}. For each period the newest snapshot of each of the `count`
    newest days (ISO weeks, months) that have one is kept; a period left out keeps none. The newest snapshot is
    always kept. Days without a snapshot do not count, so a machine switched off for a month keeps its history.
    """
    newest_first = sorted(set(times), reverse=True)
    kept = set(newest_first[:1])
    for period, pattern in PERIODS.items():
        seen = []
        for moment in newest_first:
            bucket = time.strftime(pattern, time.localtime(moment))
            if bucket not in seen and len(seen) < keep.get(period, 0):
                seen.append(bucket)
                kept.add(moment)
    return sorted(moment for moment in newest_first if moment not in kept)
