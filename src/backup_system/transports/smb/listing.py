"""Reading smbclient's `recurse ON; ls` listing into files (size, mtime) and folders."""

import re
from collections import namedtuple

from ...locations import is_inside

RemoteFile = namedtuple("RemoteFile", "size mtime")
# attributes: Samba prints D A H S R N in upper case and t s r c o n e (sparse, compressed, offline, ...) in lower
LISTING_LINE = re.compile(r"^  (.*?) +([A-Za-z]+) +(\d+)  \w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})$")
MONTHS = {name: index for index, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def parse_listing(lines, folder):
    """The files and folders under `folder` from `recurse ON; ls` output: ({path: RemoteFile}, {folder paths})."""
    files, folders = {}, set()
    current = folder
    base = folder.replace("/", "\\")
    for line in lines:
        if line.startswith("\\"):
            current = line.strip("\\").replace("\\", "/")
            continue
        match = LISTING_LINE.match(line)
        if not match:
            continue
        name, attributes, size, month, day, hour, minute, second, year = match.groups()
        name = name.rstrip(" ")
        if name in (".", ".."):
            continue
        full = f"{current}/{name}" if current else name
        if base and not is_inside(full, folder):
            continue
        relative = full[len(folder) + 1:] if folder else full
        if "D" in attributes:
            folders.add(relative)
        else:
            stamp = (int(year), MONTHS[month], int(day), int(hour), int(minute), int(second))
            files[relative] = RemoteFile(int(size), _utc_seconds(*stamp))
    return files, folders


def _utc_seconds(year, month, day, hour, minute, second):
    import calendar

    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
