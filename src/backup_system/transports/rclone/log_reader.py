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
import time

from ...errors import DestinationFull, NotFound, Refused, Stalled, TransportError, Unreachable
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
DETAIL_STARTS = ("api error ", "dial tcp ", "read tcp ", "write tcp ", "net/http: ", "ssh: ")
# Go's words for a connection that was never made, with the address it tried: (pattern, what we say). These do
# not heal by trying again within a run, so the first one ends the job.
NEVER_CONNECTED = (
    (re.compile(r"dial tcp (\S+?): connect: connection refused"), "connection refused"),
    (re.compile(r"lookup (\S+?)(?: on \S+)?: no such host"), "name not found"),
    (re.compile(r"lookup (\S+?)(?: on \S+)?: i/o timeout"), "name lookup timed out"),
    (re.compile(r"dial tcp (\S+?): (?:i/o timeout|connect: connection timed out)"), "timed out"),
    (re.compile(r"dial tcp (\S+?): connect: network is unreachable"), "network unreachable"),
    (re.compile(r"dial tcp (\S+?): connect: no route to host"), "no route to host"),
)
# ... and for a server that took the connection, then stopped answering (rclone's --timeout, our stall_timeout)
STOPPED_ANSWERING = ("i/o timeout", "timeout awaiting response headers", "context deadline exceeded",
                     "client.timeout exceeded")
# a second line the S3 SDK adds once its retries are used up; its "quota" is no full disk
SDK_NOISE = ("failed to get rate limit token",)
# the stats counters that move only when rclone gets something done (its byte count also grows on each retry
# of a stuck upload: bytes count per file, and only past the most that file had reached)
PROGRESS_COUNTERS = ("checks", "transfers", "listed", "deletes", "deletedDirs", "renames", "serverSideCopies",
                     "serverSideMoves")


class LogReader:
    """Reads rclone's merged output, one line at a time, into what happened to each file."""

    def __init__(self, log, secrets, progress=None, pushing=True, stall_timeout=None, where=""):
        self.log = log
        self.secrets = secrets
        self.progress = progress
        self.pushing = pushing
        self.where = where  # the remote folder of the job (for "while listing ...")
        self.stall_timeout = stall_timeout  # None: no watch; else nothing moving this long stops rclone
        self.moved_at = time.monotonic()
        self.counters = None
        self.most_bytes = {}  # file being sent -> the most bytes it reached
        self.transferring = []  # the files on their way in the last stats entry
        self.stopped = None  # the TransportError the job was stopped with (see watch)
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
        """One line of rclone's output. With a stall_timeout, raises Stop once the job cannot succeed: a
        connection that can never be made, or nothing moving for stall_timeout seconds."""
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
            self.take_stats(entry["stats"])
        else:
            level, message = entry.get("level", ""), self.mask(ANSI.sub("", entry.get("msg", "")))
            if level not in ("error", "critical"):
                self.moved_at = time.monotonic()  # rclone reports something done
            elif self.stall_timeout is not None:
                self.stopped = self.stopped or never_connected(message)
            self.take_entry(level, message, entry)
        if self.stall_timeout is not None:
            self.watch()

    def take_stats(self, stats):
        if self.progress:
            self.progress.show(stats.get("bytes", 0), stats.get("totalBytes", 0), stats.get("speed", 0),
                               stats.get("eta"))
        self.transferring = [item.get("name", "") for item in stats.get("transferring") or ()]
        counters = tuple(stats.get(name, 0) for name in PROGRESS_COUNTERS)
        moved = counters != self.counters
        self.counters = counters
        for item in stats.get("transferring") or ():
            name, sent = item.get("name", ""), item.get("bytes", 0)
            if sent > self.most_bytes.get(name, 0):
                self.most_bytes[name] = sent
                moved = True
        if moved:
            self.moved_at = time.monotonic()

    def watch(self):
        """Raise Stop when the job cannot succeed any more: rclone is stopped, and the job fails with the reason."""
        if not self.stopped and time.monotonic() - self.moved_at > self.stall_timeout:
            self.stopped = Stalled(f"the server stopped answering: nothing moved for {self.stall_timeout:g} s "
                                   f"while {self.activity()}")
        if self.stopped:
            raise Stop(self.stopped)

    def activity(self):
        """What rclone was doing, from its last stats entry: "uploading big.bin to cloud:lab/csvs", "listing
        cloud:lab/csvs"."""
        where = f" {self.where}" if self.where else ""
        if not self.transferring:
            return f"listing{where}"
        more = len(self.transferring) - 1
        others = f" and {more} other file{'s' if more > 1 else ''}" if more else ""
        verb, to = ("uploading", " to") if self.pushing else ("downloading", " from")
        return f"{verb} {self.transferring[0]}{others}{to if where else ''}{where}"

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


class Stop(Exception):
    """Raised from LogReader.take to stop rclone (proc.run stops the program when its line reader raises)."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


# --- explaining failures ---------------------------------------------------------------------------

def short_detail(message):
    """The telling part of a long error, on one line, saying each thing once: from 'api error', 'dial tcp',
    'ssh:' (one of DETAIL_STARTS) on, else after the last 'for "x": '."""
    message = one_line(message)
    for marker in DETAIL_STARTS:
        at = message.find(marker)
        if at >= 0:
            return without_repeats(message[at:].strip())
    if message.startswith("Failed to create file system for"):
        return without_repeats(message.split('": ', 1)[-1])
    return without_repeats(message.strip())


def one_line(message):
    """rclone's message without the SDK's second lines, its other lines joined."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return "; ".join(line for line in lines if not line.lower().startswith(SDK_NOISE))


def without_repeats(message):
    """'401 Unauthorized: 401 Unauthorized' (an HTTP status, then the body that repeats it) said once."""
    parts = message.split(": ")
    kept = [part for index, part in enumerate(parts) if index == 0 or part != parts[index - 1]]
    return ": ".join(kept)


def never_connected(message):
    """Unreachable("cannot reach 127.0.0.1:9000: connection refused") when rclone's message says a connection
    could not be made (refused, name not found, timed out), else None."""
    for pattern, what in NEVER_CONNECTED:
        found = pattern.search(message)
        if found:
            return Unreachable(f"cannot reach {found.group(1)}: {what}")
    return None


def stopped_answering(message):
    """Stalled when rclone's message says the server took the connection and then sent nothing, else None."""
    if says(message, STOPPED_ANSWERING):
        return Stalled(f"the server stopped answering: {short_detail(message)}")
    return None


def says(message, words):
    lowered = message.lower()
    return any(word in lowered for word in words)


def classify(message, target):
    """The failure a user can act on, as an unraised TransportError, from rclone's own message about `target`."""
    where = f"'{remote_name(target)}'"
    detail = short_detail(message)
    if NOT_FOUND in message:
        return NotFound(f"{target} does not exist ({detail})")
    unreachable = never_connected(message) or stopped_answering(message)
    if unreachable:
        return unreachable
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

