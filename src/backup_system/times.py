"""Durations and moments as people write them: 90m, 26h, 7d; ISO 8601 times; BACKUP_SYSTEM_NOW."""

import os
import time

MAX_SECONDS = 10**8  # about three years; a timer's limit is not much further
DAY = 86400
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
NOW_VARIABLE = "BACKUP_SYSTEM_NOW"


def parse_duration(value):
    """Seconds in `value` (a positive number, or text like 90m, 26h, 7d, 2w), or None when it is no duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if 0 < value <= MAX_SECONDS else None
    text = str(value).strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in DURATION_UNITS or not number.replace(".", "", 1).isdigit():
        return None
    seconds = float(number) * DURATION_UNITS[unit]
    return seconds if 0 < seconds <= MAX_SECONDS else None


def format_duration(seconds):
    """The largest unit (up to days) that says it in a whole number or one decimal: 7d, 26h, 1.5h, 90s."""
    seconds = abs(seconds)
    for unit in ("d", "h", "m"):
        size = DURATION_UNITS[unit]
        if seconds >= size and (seconds % size == 0 or seconds >= 2 * size):
            count = seconds / size
            return f"{count:.0f}{unit}" if count == int(count) or count >= 10 else f"{count:.1f}{unit}"
    return f"{seconds:.0f}s"


def now():
    """Seconds since the epoch: BACKUP_SYSTEM_NOW (an ISO 8601 time) when set, so a verdict can be checked
    for any day without waiting; else the clock. Raises ValueError naming the variable when it is no time."""
    given = os.environ.get(NOW_VARIABLE)
    if not given:
        return time.time()
    seconds = parse_time(given)
    if seconds is None:
        raise ValueError(f"{NOW_VARIABLE}={given!r} is not an ISO 8601 time such as 2026-12-01T09:00")
    return seconds


def parse_time(text):
    """Seconds since the epoch of an ISO 8601 date or time (local time unless it names its zone), or None."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp()


def parse_at(text, current=None):
    """Seconds since the epoch of a moment as a user names it for `restore --at`: an ISO 8601 date or time,
    `now`, `yesterday` (this time yesterday), `today` (midnight), or a time ago such as 3d, 12h, 90m, 2w.
    None when it is none of these."""
    current = now() if current is None else current
    word = text.strip().lower()
    if word == "now":
        return current
    if word == "yesterday":
        return current - DAY
    if word == "today":
        return time.mktime(time.localtime(current)[:3] + (0, 0, 0, 0, 0, -1))
    ago = parse_duration(word.removesuffix(" ago").replace(" ", ""))
    if ago is not None:
        return current - ago
    return parse_time(text)


def format_time(seconds):
    """Local time to the minute, as the summary and status show it."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))
