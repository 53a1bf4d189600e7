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


def versions_folder(location, stamp):
    """Where the copies one run replaced or deleted are kept: beside the backup, dated."""
    return f"{location.rstrip('/')}{VERSIONS_SUFFIX}/{stamp}"


def expired(stamps, keep):
    """The stamps beyond the `keep` newest (one is always kept), oldest first.

    Stamps are anything that sorts in time order: names with a sortable date, or tuples
    that break a tie within a second.
    """
    return sorted(stamps)[:-max(keep, 1)]
