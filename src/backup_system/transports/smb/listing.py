"""Reading smbclient's `recurse ON; ls` listing into files (size, mtime) and folders, and listing a tree with
several sessions side by side.

Listing costs about four round trips per folder, one folder after the other in a session: on a real
network that, not the bytes, is the time. So the target folder is listed first (its files and its
top-level folders), then the top-level folders are listed recursively by up to `sessions` sessions
side by side, while the local tree is scanned.
"""

import re
import threading
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


class TreeListing:
    """The remote tree under the session's target folder, listed in a thread: start(), then result()."""

    def __init__(self, session, sessions):
        self.session = session
        self.sessions = max(1, sessions)
        self.thread = threading.Thread(target=self.list, daemon=True)
        self.found = self.error = None

    def start(self):
        self.thread.start()
        return self

    def result(self):
        """({path: RemoteFile}, {folder paths}), or the error the listing raised."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.found

    def list(self):
        try:
            self.found = self.list_tree()
        except BaseException as error:  # raised again in the caller's thread by result()
            self.error = error

    def list_tree(self):
        from concurrent.futures import ThreadPoolExecutor

        from .session import smb_path

        folder = self.session.target.folder
        files, folders = parse_listing(self.session.listing_lines([smb_path(folder, "*")], recurse=False), folder)
        tops = sorted(folders)
        groups = [tops[index::self.sessions] for index in range(min(self.sessions, len(tops)))]
        with ThreadPoolExecutor(max(1, len(groups))) as pool:
            for group_files, group_folders in pool.map(self.list_group, groups):
                files.update(group_files)
                folders.update(group_folders)
        return files, folders

    def list_group(self, tops):
        """The trees under these top-level folders, in one session."""
        from .session import smb_path, split_sections

        folder = self.session.target.folder
        lines = self.session.listing_lines([smb_path(folder, f"{top}/*") for top in tops], recurse=True)
        found = []  # each folder's section, headed as `recurse ON` heads a folder
        for top, section in zip(tops, split_sections(lines, len(tops)), strict=True):
            found += ["\\" + smb_path(folder, top), *section]
        return parse_listing(found, folder)
