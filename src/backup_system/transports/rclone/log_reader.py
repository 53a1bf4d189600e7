"""Reading what rclone says: its JSON log, line by line, into what happened to each file.

We read rclone's JSON log (`--use-json-log -v`), never its human text: "Copied (new)" and
"Copied (replaced existing)" entries name each file sent, entries at level error name each
file that failed, and the periodic stats entries drive the progress line. Unchanged files are
the `= path` lines of a `--combined FILE` report (copy and sync; bisync counts its listing
instead): the log has nothing for them below debug level, and its checks counter also counts
deletions and counts again on each retry. A file, not stdout: 10,000 lines down a pipe cost
rclone ~10% of a no-change run, into a file ~4%. Stdout and stderr come merged, in order.
Every message is masked of the destination's secrets before it is kept or logged.
"""

import json
import os
import re

from ...errors import DestinationFull, NotFound, Refused, TransportError, Unreachable
from ...proc import mask

PLAIN_LINES_KEPT = 20
COPIED = re.compile(r"^(?:Multi-thread )?Copied \((?:Rcat, )?(?:new|replaced existing)\)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BISYNC_PATHS = re.compile(r'^Synching Path1 "(.*)" with Path2 "(.*)"$')
BISYNC_CONFLICT = re.compile(r"New or changed in both paths\s+-\s+(.*)$")
BISYNC_RENAME = re.compile(r"^-\s+Path([12])\s+Renaming Path[12] copy\s+-\s+(.*)$")
ATTEMPT = re.compile(r"^Attempt (\d+)/(\d+) failed")
CONFLICT_COPY = re.compile(r"^(.*)\.conflict\d+$")  # bisync's --conflict-suffix, rclone's default
RETRY_NOTES = ("Fatal error received - not attempting retries", "Can't retry any of the errors - not attempting retries")
NOT_FOUND = "directory not found"
# rclone's words (and a dry run's `skipped` values) for a file deleted, or moved into the versions folder
REMOVALS = {"Deleted": "deleted", "delete": "deleted", "Moved into backup dir": "kept", "move into backup dir": "kept"}
FOLDER_ERRORS = ("failed to open directory", "error reading source directory", "error reading destination directory")
ROOT_ERRORS = ("error reading source root directory", "error reading destination root directory")
# What rclone and the servers behind it say (lower case), sorted into the failures a user can act on.
FULL = ("quota", "no space left", "disk full", "remaining disk space", "insufficient storage", "storage_limit_exceeded",
        "507 insufficient")
REFUSED = ("401 unauthorized", "statuscode: 401", "statuscode: 403", "403 forbidden", "signaturedoesnotmatch",
           "invalidaccesskeyid", "accessdenied", "unable to authenticate", "invalid_grant", "invalid_client",
           "authentication failed", "token expired")
UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable", "no route to host",
               "connection reset", "tls handshake timeout", "server misbehaving", "dial tcp")
DETAIL_STARTS = ("api error ", "dial tcp ", "ssh: ")


class LogReader:
    """Reads rclone's merged output, one line at a time, into what happened to each file."""

    def __init__(self, log, secrets, progress=None, pushing=True):
        self.log = log
        self.secrets = secrets
        self.progress = progress
        self.pushing = pushing
        self.sent = {}  # path -> bytes, in order
        self.unchanged = set()  # a set: each retry lists every file again
        # mirror: what it deleted on the receiving side, and which of those it kept in the versions folder
        # ("Moved into backup dir"); a file deleted and then sent was replaced, not removed
        self.deleted = {}
        self.moved_to_versions = {}
        self.versions_folder = None  # where this run's mirror keeps them
        self.failures = {}  # path -> reason, for the last attempt
        self.fatal = None  # a message that means the whole job failed
        self.cause = None  # rclone's closing "Failed to <command>: <cause>", the reason it gives for its exit
        self.errors = []
        self.plain = []  # the first lines that are not JSON: a usage error and its help text, a panic
        self.conflicts = []
        self.renamed = {}  # bisync: side -> renamed conflict copies, as rclone prints them
        self.roots = ("", "")

    def mask(self, text):
        return mask(text, self.secrets)

    def take(self, line):
        if not line.startswith("{"):
            if line.strip():
                self.keep_plain(self.mask(line))
                self.log.debug(f"rclone: {self.mask(line)}")
            return
        try:
            entry = json.loads(line)
        except ValueError:
            self.keep_plain(self.mask(line))
            return
        if "stats" in entry:
            if self.progress:
                stats = entry["stats"]
                self.progress.show(stats.get("bytes", 0), stats.get("totalBytes", 0), stats.get("speed", 0),
                                   stats.get("eta"))
            return
        self.take_entry(entry.get("level", ""), self.mask(ANSI.sub("", entry.get("msg", ""))), entry)

    def keep_plain(self, line):
        if len(self.plain) < PLAIN_LINES_KEPT:
            self.plain.append(line)

    def take_entry(self, level, message, entry):
        name = entry.get("object")
        copied = COPIED.match(message)
        if copied and name:
            self.count_sent(name, entry)
        elif message.startswith("Skipped copy as --dry-run") and name:
            self.sent[name] = entry.get("size", 0)
            self.log.debug(f"would send {name}")
        elif entry.get("skipped") and name:  # a dry run's delete, or move into the versions folder
            self.log.info(f"would {entry['skipped']}: {name}")
            self.take_removal(REMOVALS.get(entry["skipped"]), name)
        elif message in REMOVALS:
            self.take_removal(REMOVALS[message], name)
        elif level == "notice" and not name and message.startswith("Failed to "):
            self.cause = message.split(": ", 1)[-1]
            self.log.debug(f"rclone: {message}")
        elif level in ("error", "critical"):
            self.take_error(level, message, name, entry)
        else:
            self.take_bisync(message)
            self.log.debug(f"rclone: {name + ': ' if name else ''}{message}")

    def take_removal(self, kind, name):
        if kind == "kept" and name:
            self.moved_to_versions[name] = True
        elif kind == "deleted" and name:
            self.deleted[name] = True

    def removed(self):
        """The files a mirror deleted on the receiving side, in order: (path, whether kept in the versions folder)."""
        gone = {**dict.fromkeys(self.deleted, False), **dict.fromkeys(self.moved_to_versions, True)}
        return [(path, kept) for path, kept in gone.items() if kept or path not in self.sent]

    def count_sent(self, name, entry):
        self.sent[name] = entry.get("size", 0)
        self.failures.pop(name, None)
        local_object = str(entry.get("objectType", "")).startswith("*local.")
        self.log.debug(f"{'sent' if local_object == self.pushing else 'received'} {name}")

    def take_error(self, level, message, name, entry):
        self.log.debug(f"rclone {level}: {name + ': ' if name else ''}{message}")
        attempt = ATTEMPT.match(message)
        if attempt:
            if attempt.group(1) != attempt.group(2):  # rclone tries the whole job again: only the last attempt counts
                self.failures.clear()
                self.errors.clear()
                self.fatal = None
            return
        if message in RETRY_NOTES:
            return
        if level == "critical" or message.startswith(ROOT_ERRORS) or "Bisync critical error" in message:
            self.fatal = self.fatal or message
        elif name and str(entry.get("objectType", "")).endswith("Object"):
            self.failures[name] = message.removeprefix("Failed to copy: ")
        elif name and message.startswith(FOLDER_ERRORS):
            # a folder rclone cannot list is named by a plain string; nothing under it is sent
            self.failures[name] = f"cannot read folder: {message.rsplit(': ', 1)[-1]}"
        self.errors.append(message)

    def take_bisync(self, message):
        paths = BISYNC_PATHS.match(message)
        conflict = BISYNC_CONFLICT.search(message)
        renamed = BISYNC_RENAME.match(message)
        if paths:
            self.roots = paths.groups()
        elif conflict:
            self.conflicts.append(go_unquote(conflict.group(1)))
        elif renamed:
            side, full = renamed.group(1), go_unquote(renamed.group(2))
            root = self.roots[int(side) - 1]
            self.renamed.setdefault(side, []).append(full[len(root):] if full.startswith(root) else full)

    def conflict_reason(self, path):
        """Both copies are kept under new names; say which."""
        def copy_on(side):
            return next((name for name in self.renamed.get(side, []) if name.startswith(path + ".")), None)

        here, there = copy_on("1"), copy_on("2")
        kept = f": both kept, as {here} (here) and {there} (remote)" if here and there else ": both kept"
        return f"changed on both sides since the last run{kept}"


# --- explaining failures ---------------------------------------------------------------------------

def short_detail(message):
    """The telling part of a long error: from 'api error', 'dial tcp' or 'ssh:' on, else after the last 'for "x": '."""
    for marker in DETAIL_STARTS:
        at = message.find(marker)
        if at >= 0:
            return message[at:].strip()
    if message.startswith("Failed to create file system for"):
        return message.split('": ', 1)[-1]
    return message.strip()


def says(message, words):
    lowered = message.lower()
    return any(word in lowered for word in words)


def classify(message, target):
    """The failure a user can act on, as an unraised TransportError, from rclone's own message about `target`."""
    where = f"'{remote_name(target)}'"
    detail = short_detail(message)
    if NOT_FOUND in message:
        return NotFound(f"{target} does not exist ({detail})")
    if says(message, FULL):
        return DestinationFull(f"{where} is full (quota or disk): {detail}")
    if says(message, REFUSED):
        return Refused(f"authentication refused by {where}: {detail}")
    if says(message, UNREACHABLE):
        return Unreachable(f"cannot reach {where}: {detail}")
    return TransportError(f"rclone failed at {where}: {detail}")


def go_unquote(text):
    """rclone quotes a name holding '"', '\\' or control characters as Go does; JSON reads most of that."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def remote_name(target):
    return target.split(":", 1)[0]


def bisync_listing(workdir):
    """The names in bisync's newest Path1 listing, or None when there is none yet.

    A listing line ends with the name, Go-quoted: `-  6 - - 2026-11-25T01:38:28.66+0000 "a b.csv"`."""
    for name in list_folder(workdir):
        if name.endswith(".path1.lst"):
            with open(os.path.join(workdir, name), encoding="utf-8", errors="replace") as listing:
                return [listed_name(line) for line in listing if line.startswith("-")]
    return None


def list_folder(folder):
    """The names in a folder; none when it is missing or unreadable."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def listed_name(line):
    text = line.rstrip("\n")
    quote = text.find(' "')
    return go_unquote(text[quote + 1:]) if quote >= 0 else ""


def unsettled_conflicts(listed, found_now):
    """(path, reason) for each conflict of an earlier run whose two copies are both still there:
    reported every run until the user keeps one."""
    copies = {}
    for name in listed:
        match = CONFLICT_COPY.match(name)
        if match:
            copies.setdefault(match.group(1), []).append(name)
    return [(path, f"an earlier conflict is not settled: both copies are still here and there "
                   f"({', '.join(sorted(names))}); keep one as {path} and delete the other")
            for path, names in sorted(copies.items()) if path not in found_now and len(names) > 1]


def identical_in(report):
    """The paths rclone's --combined report marks `= path`: at the destination and identical (a set: a
    retry reports every file again)."""
    try:
        with open(report, encoding="utf-8", errors="surrogateescape") as lines:
            return {line[2:].rstrip("\n") for line in lines if line.startswith("= ")}
    except OSError:
        return set()

