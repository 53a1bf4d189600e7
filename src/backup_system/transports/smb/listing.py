"""Reading smbclient's `recurse ON; ls` listing into files (size, mtime) and folders, and listing a tree with
several sessions side by side.

Listing costs about four round trips per folder, one folder after the other in a session: on a real
network that, not the bytes, is the time. So the top-level folders are shared out among up to
`sessions` sessions side by side, while the local tree is scanned, each session listing its share
with a few name masks (masks.py) rather than one `ls` per folder. The top-level names and how
many folders each holds are kept in the job's state folder: the next run starts every session at
once, balanced by those counts, while one of them lists the target folder itself to catch new names.
"""

import hashlib
import json
import math
import os
import re
import threading
from collections import namedtuple

from ...locations import is_inside
from .masks import sessions_plan

RemoteFile = namedtuple("RemoteFile", "size mtime")
# attributes: Samba prints D A H S R N in upper case and t s r c o n e (sparse, compressed, offline, ...) in lower
LISTING_LINE = re.compile(r"^  (.*?) +([A-Za-z]+) +(\d+)  \w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})$")
MONTHS = {name: index for index, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def parse_listing(lines, folder):
    """The files and folders under `folder` from `recurse ON; ls` output: ({path: RemoteFile}, {folder paths})."""
    files, folders = {}, set()
    current = folder
    below = ""  # what joins a name to `folder`: a section inside it needs no check per entry
    days = {}  # (year, month, day) -> its midnight, UTC seconds: ten thousand files share a few days
    for line in lines:
        if line.startswith("\\"):
            current = line.strip("\\").replace("\\", "/")
            below = section_below(current, folder)
            continue
        match = LISTING_LINE.match(line)
        if not match:
            continue
        name, attributes, size, month, day, hour, minute, second, year = match.groups()
        name = name.rstrip(" ")
        if name in (".", ".."):
            continue
        if below is None:  # a section outside `folder`: only the entry that is `folder` itself or inside it
            full = f"{current}/{name}" if current else name
            if not is_inside(full, folder):
                continue
            relative = full[len(folder) + 1:]
        else:
            relative = below + name
        if "D" in attributes:
            folders.add(relative)
            continue
        date = (int(year), MONTHS[month], int(day))
        midnight = days.get(date)
        if midnight is None:
            midnight = days[date] = _utc_seconds(*date)
        files[relative] = RemoteFile(int(size), midnight + int(hour) * 3600 + int(minute) * 60 + int(second))
    return files, folders


def section_below(current, folder):
    """The prefix that makes a name in section `current` relative to `folder` ('' or 'a/b/'), or None when the
    section is not `folder` nor inside it."""
    if not folder:
        return f"{current}/" if current else ""
    if current == folder:
        return ""
    return current[len(folder) + 1:] + "/" if current.startswith(folder + "/") else None


def _utc_seconds(year, month, day):
    import calendar

    return calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0))


FOLDERS_PER_SESSION = 16  # fewer folders than this each: fewer listing sessions (one costs ~20 round trips to start)
FIRST_SESSION_COST = 16  # round trips the first session spends timing the link and listing the target folder
# What smbclient and smbd spend here on one request, in seconds (bench/smb.py): while a request crosses the link
# the CPUs serve others, so ~round trip / this many sessions keep them busy; fewer leave them waiting, more
# only cost process starts (on loopback the round trip is below this: 2 sessions, one per core).
REQUEST_COST = 0.00015
FEWEST_SESSIONS = 2


def sessions_for(round_trip, setting):
    """How many sessions a link with this round trip (seconds; None: not measured) needs, at most `setting`."""
    if round_trip is None:
        return setting
    return max(1, min(setting, max(FEWEST_SESSIONS, math.ceil(round_trip / REQUEST_COST))))


class FolderCounts:
    """{top-level folder: folders under it, itself included} of one target, as the last listing found them, kept
    in the job's state folder so the next run shares the listing out at once and evenly."""

    def __init__(self, state_dir, target):
        digest = hashlib.blake2b(target.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        self.path = os.path.join(state_dir, f"smb-folder-counts-{digest}.json") if state_dir else None
        self.round_trip = None  # seconds, as the run that wrote the counts measured it

    def read(self):
        """The counts, or None when there are none (first run, no state_dir, unreadable); sets round_trip."""
        if self.path is None:
            return None
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as stream:
                kept = json.load(stream)
            counts = {str(name): int(count) for name, count in kept["tops"].items()}
            self.round_trip = float(kept["round_trip"]) if kept.get("round_trip") is not None else None
            return counts
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, folders, round_trip=None):
        """Count the folders of a listing by their top-level folder, beside the round trip the run measured;
        a failure to write only costs speed."""
        if self.path is None:
            return
        counts = {}
        for folder in folders:
            top = folder.split("/", 1)[0]
            counts[top] = counts.get(top, 0) + 1
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            partial = f"{self.path}.partial"
            with open(partial, "w", encoding="utf-8", errors="surrogateescape") as stream:
                json.dump({"tops": counts, "round_trip": round_trip}, stream, ensure_ascii=False)
            os.replace(partial, self.path)
        except OSError:
            pass


class TreeListing:
    """The remote tree under the session's target folder: start() starts the first sessions at once (they connect
    while the caller scans the local tree) and a thread that reads them; result() waits for it."""

    def __init__(self, session, sessions, counts=None, keep_open=False):
        self.session = session
        self.sessions = max(1, sessions)
        self.counts = counts  # FolderCounts, or None
        self.keep_open = keep_open  # sessions stay connected after listing, for the upload (watch.Relay)
        self.idle = []  # those sessions, listed and waiting (their Relay conversations)
        self.thread = threading.Thread(target=self.list, daemon=True)
        self.found = self.error = None
        self.reached = set()  # top-level folders whose tree a session listed
        self.round_trip = None  # seconds, timed by the first session (see session.round_trip)
        self.known = self.first = None

    def start(self):
        """Known counts: every session at once, the first also listing the target folder; else the target folder
        first (the thread then shares out its top-level folders)."""
        self.known = self.counts.read() if self.counts else None
        if self.known:
            self.first = self.start_plan(self.plan(self.known, self.counts.round_trip), with_top=True)
        else:
            self.first = [self.start_group([], [], with_top=True, recurse=False)]
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
        """The target folder's own entries and every top-level tree, and those the first sessions missed."""
        files, folders = self.read_groups(self.first)
        if not self.known:
            tops = {folder: 1 for folder in folders}
            self.add(files, folders, self.read_groups(self.start_plan(self.plan(tops, self.round_trip))))
        missed = sorted(top for top in folders if "/" not in top and top not in self.reached)
        if missed:  # new since the counts were kept, or matched by no mask: listed now, one `ls` each
            self.add(files, folders, self.read_groups([self.start_group([], missed, with_top=False)]))
        if self.counts:
            self.counts.write(folders, self.round_trip)
        return files, folders

    def take_idle(self, count):
        """Up to `count` sessions that listed and wait for work (watch.Relay); the others are closed."""
        taken, rest = self.idle[:count], self.idle[count:]
        self.idle = []
        for relay in rest:
            relay.close()
        return taken

    def close_idle(self):
        self.take_idle(0)

    @staticmethod
    def add(files, folders, found):
        files.update(found[0])
        folders.update(found[1])

    def plan(self, counts, round_trip):
        """[(masks, plain)] per session (see masks.py): as many sessions as the link needs, never so many that
        each gets fewer than FOLDERS_PER_SESSION folders."""
        if not counts:
            return []
        folders = sum(max(1, count) for count in counts.values())
        sessions = min(sessions_for(round_trip, self.sessions), math.ceil(folders / FOLDERS_PER_SESSION))
        return sessions_plan(counts, max(1, sessions), first_cost=FIRST_SESSION_COST)

    def start_plan(self, plan, with_top=False):
        """One started session per (masks, plain) of the plan; the first also lists the target folder's own
        entries (with_top)."""
        plan = plan or ([([], [])] if with_top else [])
        started = []
        try:
            for index, (masks, plain) in enumerate(plan):
                started.append(self.start_group(masks, plain, with_top and index == 0))
        except BaseException:
            for watched, _, _ in started:  # nobody will read them: no process left waiting on its stdin
                watched.process.kill()
                watched.process.wait()
            raise
        return started

    def start_group(self, masks, plain, with_top, recurse=True):
        """One session listing the target folder's own entries (with_top; it also times the round trip), the
        trees under the top-level folders the masks select, and those under each folder in `plain`: (the
        started session, the folder each command's section starts in, the marks dict or None)."""
        from .session import smb_path

        folder = self.session.target.folder
        commands = [smb_path(folder, "*")] if with_top else []
        commands += [smb_path(folder, mask) for mask in masks] + [smb_path(folder, f"{top}/*") for top in plain]
        starts = [folder] * (with_top + len(masks)) + ["/".join(part for part in (folder, top) if part)
                                                       for top in plain]
        marks = {} if with_top else None
        self.reached.update(plain)
        started = self.session.start_listing(commands, recurse, first_flat=with_top, marks=marks,
                                             keep_open=self.keep_open)
        return started, starts, marks

    def read_groups(self, started):
        """({path: RemoteFile}, {folder paths}) of started sessions, each read to its end side by side."""
        files, folders = {}, set()
        if len(started) == 1:
            self.add(files, folders, self.read_group(*started[0]))
            return files, folders
        found = [None] * len(started)  # threads, not concurrent.futures: its import (logging) costs ~10 ms a run

        def read(index):
            try:
                found[index] = self.read_group(*started[index])
            except BaseException as error:  # raised again below, in the caller's thread
                found[index] = error

        threads = [threading.Thread(target=read, args=(index,), daemon=True) for index in range(len(started))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for result in found:
            if isinstance(result, BaseException):
                raise result
            self.add(files, folders, result)
        return files, folders

    def read_group(self, watched, starts, marks):
        from .session import round_trip, smb_path, split_sections

        folder = self.session.target.folder
        try:
            lines = self.session.listed(watched)
        finally:
            if marks is not None:
                self.round_trip = round_trip(marks)
        if self.keep_open and not watched.conversation.ended:
            self.idle.append(watched.conversation)
        found = []  # each command's section, headed as `recurse ON` heads a folder
        for start, section in zip(starts, split_sections(lines, len(starts)), strict=True):
            found += ["\\" + smb_path(start), *section]
            self.reached.update(header_top(line, folder) for line in section if line.startswith("\\"))
        return parse_listing(found, folder)


def header_top(line, folder):
    """The top-level folder (under `folder`) whose tree a `recurse ON` section header opens."""
    path = line.strip("\\").replace("\\", "/")
    relative = path[len(folder) + 1:] if folder else path
    return relative.split("/", 1)[0]
