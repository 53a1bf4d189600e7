"""The reading verbs of an rsync destination: list what is there, fetch files back.

A local folder is read directly (exact modification times, no process); user@host:/path through
`rsync --list-only` and `rsync --files-from`, over the same ssh options a backup uses.
"""

import os
import re
import time

from ... import proc
from ...errors import NotFound, TransportError
from ...localtree import scan
from ...locations import is_remote_location
from .. import Listed
from .output import unescape

# -rw-r--r--          1,234 2026/12/01 14:03:24 name   (--no-h drops the commas on rsync >= 3.1);
# a symbolic link: lrwxrwxrwx ... name -> where
LISTED_FILE = re.compile(r"^([-l])\S{9}\s+([\d,]+) (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) (.*)$")


def list_files(transport, location):
    """See Transport.list_files."""
    if not is_remote_location(location):
        return local_files(location)
    listed = []
    timeout = transport.destination.timeout
    ran = proc.run(["rsync", "-r", "--list-only", "--no-h", *rsh(transport, location), location.rstrip("/") + "/"],
                   timeout=timeout, log=transport.log, env={"LC_ALL": "C"},
                   on_line=lambda line: listed.append(parsed(line)))
    if ran.returncode == 23 and any("No such file or directory" in line for line in ran.stderr_lines):
        return None
    if ran.returncode:
        raise TransportError(f"cannot list {location}: {last_words(ran)}")
    return [item for item in listed if item is not None and item.path != "."]


def local_files(location):
    if not os.path.isdir(location):
        return None
    files, skipped = scan(location)
    links = [Listed(path, 0, 0, os.readlink(os.path.join(location, path))) for path, reason in skipped
             if os.path.islink(os.path.join(location, path))]
    return [Listed(item.path, item.size, item.mtime) for item in files.values()] + links


def rsh(transport, location):
    """The --rsh option a backup to this location uses."""
    from ...plan import Job
    from .transport import rsh_options

    return rsh_options(Job(transport.destination, None, location, False, False, None))


def parsed(line):
    match = LISTED_FILE.match(line)
    if not match:
        return None
    kind, size, stamp, name = match.groups()
    mtime = time.mktime(time.strptime(stamp, "%Y/%m/%d %H:%M:%S"))
    if kind == "l":
        name, _, link = name.partition(" -> ")
        return Listed(unescape(name), 0, mtime, unescape(link))
    return Listed(unescape(name), int(size.replace(",", "")), mtime)


def fetch(transport, location, paths, into):
    """See Transport.fetch."""
    if not is_remote_location(location) and not os.path.isdir(location):
        return set(), [(path, f"{location} does not exist") for path in paths]
    os.makedirs(into, exist_ok=True)
    names = b"".join(os.fsencode(path) + b"\0" for path in paths)
    timeout = transport.destination.timeout
    ran = proc.run(["rsync", "-a", "--from0", "--files-from=-", "--protect-args", *rsh(transport, location),
                    location.rstrip("/") + "/", into + "/"], timeout=timeout, log=transport.log,
                   env={"LC_ALL": "C"}, input_bytes=names)
    if ran.timed_out:
        raise TransportError(f"rsync stopped after the {timeout:g} s timeout while fetching from {location}")
    vanished = any("No such file or directory" in line for line in ran.stderr_lines)
    if ran.returncode not in (0, 23, 24) and not vanished:
        error = NotFound if ran.returncode == 23 else TransportError
        raise error(f"cannot fetch from {location}: {last_words(ran)}")
    fetched = {path for path in paths if os.path.lexists(os.path.join(into, path))}
    reason = last_words(ran) if ran.returncode else "not fetched"
    return fetched, [(path, reason) for path in paths if path not in fetched]


def last_words(ran):
    lines = [line for line in ran.stderr_lines if line.strip()]
    return lines[-1] if lines else f"rsync exit {ran.returncode}"
