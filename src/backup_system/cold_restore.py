"""Restoring from cold storage (S3 Deep Archive, Glacier): a file that could not be fetched because its object must
be restored first is asked to be restored (priority and days as given), written nowhere, and reported as waiting,
with one line per source; the same restore run again once S3 has restored it brings it back. A dry run asks
nothing and says what it would ask. The asking is the transport's (Transport.thaw; rclone: s3_cold.py).
"""

import re
from collections import namedtuple

from .errors import ConfigError

COLD_PRIORITIES = ("Standard", "Bulk", "Expedited")  # S3's restore tiers
COLD_DAYS = 7  # how long S3 keeps a restored object readable
# a file that waits for cold storage: its reason in the report (by the state of its restore), its line per source
WAITING_STATES = {"requested": "a restore was requested", "under way": "its restore is under way (requested earlier)",
                  "would request": "a restore would be requested (dry run: nothing asked)"}
WAITING = re.compile(r"in (?P<storage_class>\S+), not readable until restored: (?P<state>"
                     + "|".join(map(re.escape, WAITING_STATES.values())) + r")(?: (?P<detail>\(.*\)))?")
WAITING_LINES = {
    "requested": "requested a restore of {files} from {storage_class} {detail}; run the same restore again after that",
    "under way": "{files} from {storage_class} still being restored (requested earlier); run the same restore again "
                 "later",
    "would request": "would request a restore of {files} from {storage_class} {detail}; nothing requested (dry run)",
}

Cold = namedtuple("Cold", "priority days", defaults=("Standard", COLD_DAYS))
Cold.__doc__ = "How to ask cold storage for a restore: S3's priority (Standard, Bulk, Expedited) and days readable."
DEFAULT_COLD = Cold()


def frozen_copies(transport, folder, paths, at, cold, ask):
    """{path: reason} for each of `paths` in `folder` that cold storage holds unreadable until restored (asking for
    the restore when `ask`), through Transport.thaw (rclone: s3_cold.py); {} for a transport without cold storage."""
    if not paths:
        return {}
    found = transport.thaw(folder, paths, at, priority=cold.priority, days=cold.days, ask=ask)
    return {path: cold_reason(frozen) for path, frozen in found.items()}


def cold_reason(frozen):
    """A file's reason in the report: waiting (WAITING matches it), or a failure."""
    if frozen.state not in WAITING_STATES:
        return f"in {frozen.storage_class}: {frozen.detail}"
    detail = f" ({frozen.detail})" if frozen.detail else ""
    return f"in {frozen.storage_class}, not readable until restored: {WAITING_STATES[frozen.state]}{detail}"


def waiting(failures):
    """The (path, reason) of failures that only wait for cold storage."""
    return [(path, reason) for path, reason in failures if WAITING.fullmatch(reason)]


def waiting_lines(failures):
    """One line per storage class and state for the files that wait for cold storage, e.g. "requested a restore
    of 3 files from DEEP_ARCHIVE (priority Standard, within 12 h); run the same restore again after that"."""
    from collections import Counter

    from .record import plural

    lines = []
    for reason, count in Counter(reason for _, reason in waiting(failures)).items():
        match = WAITING.fullmatch(reason)
        state = next(name for name, text in WAITING_STATES.items() if text == match["state"])
        lines.append(WAITING_LINES[state].format(files=plural(count, "file"), storage_class=match["storage_class"],
                                                 detail=match["detail"] or ""))
    return lines


def cold_request(priority, days):
    """Cold(priority, days) from what the user gave (a priority in any case); ConfigError for anything else."""
    named = {name.lower(): name for name in COLD_PRIORITIES}.get(str(priority).lower())
    if named is None:
        raise ConfigError(f"cold priority {priority!r}: choose one of {', '.join(COLD_PRIORITIES)}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"cold days {days!r}: give a whole number of days, 1 or more")
    return Cold(named, days)
