"""One smbclient session: commands in a batch on stdin, its messages sorted into what went wrong.

smbclient exits 0 even when commands on its stdin fail, so a marker command (`lcd` into a
folder that cannot exist) follows each file's commands, and the messages between two
markers belong to that file. With -E all messages come on one stream, in order. Commands
go in one batch per session: smbclient reads its stdin buffered and only reliably
executes what it has been given once stdin is closed.

A dead or hung server must not hold a run for hours: smbclient's own `-t` (the per-operation
timeout) is the destination's stall_timeout, and the first NT_STATUS_IO_TIMEOUT ends the session
(smbclient itself would carry on, each later command waiting as long again). smbclient waits a
fixed 20 s for the server's first answer whatever `-t` says, so the session is stopped when it has
said nothing within connect_timeout: every session runs with -E (all on stderr, unbuffered), so
its first line ("Try help", a marker, an error) comes as soon as the server answered.
"""

import math
import os
import re
from collections import namedtuple

from ...errors import NotFound, Refused, Stalled, TimedOut, TransportError, Unreachable
from .listing import LISTING_LINE, parse_listing

SmbTarget = namedtuple("SmbTarget", "host share folder")
SmbTarget.__doc__ = "//host/share and the folder inside it ('' for the share's top), '/' separated."
MARKER = "lcd /nonexistent/__backup_system_mark_{}__"
MARKER_LINE = re.compile(r"__backup_system_mark_(\w+?)__")
MARKER_ANSWER = "chdir to /nonexistent/"  # how smbclient answers a marker
START = "start"  # the marker before the first file: greetings such as "Anonymous login successful" come before it
QUIET_LINES = re.compile(r"^(putting file .* as .*|Try \"help\" .*|\s*)$")
ABSENT = ("NT_STATUS_OBJECT_NAME_NOT_FOUND", "NT_STATUS_NO_SUCH_FILE", "NT_STATUS_OBJECT_PATH_NOT_FOUND")
STATUS = re.compile(r"NT_STATUS_[A-Z_]+")
STATUS_MEANINGS = {
    "NT_STATUS_DISK_FULL": "remote disk full",
    "NT_STATUS_ACCESS_DENIED": "permission denied on the server",
    "NT_STATUS_OBJECT_NAME_INVALID": "the server refuses this name",
    "NT_STATUS_OBJECT_PATH_NOT_FOUND": "folder missing on the server",
    "NT_STATUS_SHARING_VIOLATION": "file in use on the server",
    "NT_STATUS_FILE_IS_A_DIRECTORY": "a folder of that name exists on the server",
    "NT_STATUS_OBJECT_NAME_COLLISION": "a file of that name exists on the server",
    # what Samba answers for a name its `veto files` setting matches
    "NT_STATUS_OBJECT_NAME_NOT_FOUND": "the server refuses this name (does the share's `veto files` match it?)",
}
UNREACHABLE = ("NT_STATUS_CONNECTION_REFUSED", "NT_STATUS_HOST_UNREACHABLE", "NT_STATUS_NETWORK_UNREACHABLE",
               "NT_STATUS_IO_TIMEOUT", "NT_STATUS_CONNECTION_RESET", "NT_STATUS_CONNECTION_DISCONNECTED",
               "NT_STATUS_UNSUCCESSFUL", "NT_STATUS_INVALID_NETWORK_RESPONSE", "NT_STATUS_BAD_NETWORK_PATH")
UNREACHABLE_WORDS = {
    "NT_STATUS_CONNECTION_REFUSED": "connection refused",
    "NT_STATUS_HOST_UNREACHABLE": "host unreachable",
    "NT_STATUS_NETWORK_UNREACHABLE": "network unreachable",
    "NT_STATUS_IO_TIMEOUT": "timed out",
    "NT_STATUS_CONNECTION_RESET": "connection reset",
    "NT_STATUS_CONNECTION_DISCONNECTED": "connection lost",
    "NT_STATUS_BAD_NETWORK_PATH": "no SMB server there",
}
IO_TIMEOUT = "NT_STATUS_IO_TIMEOUT"
ECHOES = 9  # SMB echo requests that time the round trip (see round_trip): 8 round trips, ~20 ms on a slow link


def parse_target(location):
    """smb://host/share/dir or //host/share/dir -> SmbTarget."""
    rest = location.split("://", 1)[1] if location.startswith("smb://") else location.lstrip("/")
    parts = [part for part in rest.split("/") if part]
    if len(parts) < 2:
        raise TransportError(f"{location}: an smb location needs a server and a share: smb://host/share/folder")
    return SmbTarget(parts[0], parts[1], "/".join(parts[2:]))


def is_message(line):
    """A line smbclient says about what happened, not a listing entry or a file name it echoes
    (a file may well be called NT_STATUS_ACCESS_DENIED.log)."""
    return not (LISTING_LINE.match(line) or QUIET_LINES.match(line) or line.startswith("\\"))


def is_address(host):
    """An IPv4 or IPv6 address rather than a name to look up."""
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True

def smb_path(folder, relative=""):
    joined = "/".join(part for part in (folder, relative) if part)
    return joined.replace("/", "\\")


def quoted(path):
    return f'"{path}"'


def read_credentials(path):
    """The user name from a smbclient credentials file, after checking it is private."""
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise NotFound(f"credentials file {path}: {error.strerror}") from None
    if info.st_mode & 0o077:
        raise Refused(f"credentials file {path} is readable by others: run chmod 600 {path}")
    values = {key.strip(): value.strip() for key, value in
              (line.split("=", 1) for line in text.splitlines() if "=" in line)}  # smbclient allows "key = value"
    if "password" not in values:
        # smbclient would then read a password from stdin, which holds our commands
        raise Refused(f"credentials file {path} has no password= line (give one, even empty)")
    return values.get("username") or "guest"


class Session:
    """One smbclient process fed commands on stdin; output lines kept for the caller."""

    def __init__(self, destination, target, log):
        self.options = destination.options
        self.timeout = destination.timeout
        self.connect_timeout = getattr(destination, "connect_timeout", 15)
        self.stall_timeout = getattr(destination, "stall_timeout", 120)
        self.target = target
        self.log = log
        credentials = self.options.credentials_file
        self.user = read_credentials(credentials) if credentials else "guest"

    @property
    def where(self):
        return f"//{self.target.host}/{self.target.share}"

    def argv(self, in_order=True):
        # Always -E: every message on one stream, in order (some errors, e.g. a full disk, go to stderr), which
        # the markers need, and unbuffered, which the connect and stall watch needs. `in_order` is kept for
        # callers that say what they need.
        auth = ["-A", self.options.credentials_file] if self.options.credentials_file else ["-N"]
        return ["smbclient", self.where, "-s", "/dev/null", "-E", "-t", str(max(1, math.ceil(self.stall_timeout))),
                "-p", str(self.options.port), *auth, *self.options.smbclient_options]

    def run(self, commands, in_order=True, doing=None, marks=None):
        """Run the commands in one session; return its output lines. Connection problems raise TransportError
        (Unreachable, Stalled, TimedOut, ...) carrying the lines so far in `.lines`. `doing`: what the session
        is for, in words, for a message about a server that stopped answering. `marks`: a dict to fill with
        {marker: the moment (time.perf_counter) its answer came}."""
        from .watch import Batch

        return self.converse(Batch(commands), in_order, doing or describe_commands(commands), marks)

    def converse(self, conversation, in_order=True, doing="talking to the server", marks=None):
        """Run one session that says `conversation`'s commands; its output lines, or the TransportError of
        run()."""
        return self.finish(self.begin(conversation, in_order, marks), doing)

    def begin(self, conversation, in_order=True, marks=None):
        """Start the smbclient process of a session (it connects at once); finish() runs it to its end."""
        from .watch import Watched  # watch.py reads this module's markers: imported once a session starts

        return Watched(self.argv(in_order), self, conversation, marks)

    def finish(self, watched, doing="talking to the server"):
        """Converse with a session begin() started until it ends; its output lines, or the TransportError of
        run()."""
        watched.run()
        return self.outcome(watched, doing)

    def outcome(self, watched, doing="talking to the server"):
        """The lines of a session that ended, or the TransportError of run()."""
        lines = watched.lines
        if watched.stopped == "timeout":
            error = TimedOut(f"smbclient stopped after the {self.timeout:g} s timeout while {doing} at {self.where}")
        elif watched.stopped == "connect":
            error = Unreachable(f"cannot reach {self.where} (port {self.options.port}): no answer within "
                                f"{self.connect_timeout:g} s (connect_timeout)")
        elif watched.stopped == "stalled":
            error = self.stalled(lines, doing)
        else:
            messages = [line for line in lines if "NT_STATUS_" in line and is_message(line)]  # ran_well's kind
            if ran_well(watched.returncode, messages):
                return lines
            error = self.explain(watched.returncode, lines)
        error.lines = lines  # what the session did before it broke, for a retry of the rest
        raise error

    def stalled(self, lines, doing):
        """The server answered, then stopped: Stalled, saying what was happening."""
        at = next((line.split(IO_TIMEOUT, 1)[1].strip() for line in lines if IO_TIMEOUT in line), "")
        detail = f" ({at})" if at else ""
        return Stalled(f"the server stopped answering: nothing from {self.where} for {self.stall_timeout:g} s "
                       f"(stall_timeout) while {doing}{detail}")

    def explain(self, returncode, lines):
        """Why the session failed, as an unraised TransportError of its kind."""
        where = f"//{self.target.host}/{self.target.share}"
        statuses = [match.group(0) for line in lines if is_message(line) for match in [STATUS.search(line)] if match]
        status = statuses[0] if statuses else ""
        if status == "NT_STATUS_LOGON_FAILURE":
            return Refused(f"authentication failed for {self.user} at {where}")
        if status == "NT_STATUS_BAD_NETWORK_NAME":
            return NotFound(f"share '{self.target.share}' not found on {self.target.host}")
        if status == "NT_STATUS_ACCESS_DENIED":
            return Refused(f"permission denied at {where} for {self.user}")
        if status == "NT_STATUS_UNSUCCESSFUL" and not is_address(self.target.host) and \
                any(f"Connection to {self.target.host} failed" in line for line in lines):
            return Unreachable(f"host name {self.target.host} not found")  # what smbclient says when no lookup answers
        if status in UNREACHABLE or any("Connection to" in line for line in lines):
            reason = UNREACHABLE_WORDS.get(status, status or "connection failed")
            return Unreachable(f"cannot reach {where} (port {self.options.port}): {reason}")
        if returncode is not None and (returncode < 0 or returncode >= 128):
            return Unreachable(f"connection to {where} lost (smbclient ended by signal {returncode % 128})")
        detail = status or next((line.strip() for line in lines if line.strip()), f"exit {returncode}")
        return TransportError(f"smbclient failed at {where}: {detail}")

    def listing(self):
        """The remote tree under the target folder; an absent folder is an empty tree.

        Any other listing error fails the job: comparing against a partial listing could
        overwrite files on the server that are newer than ours.
        """
        pattern = smb_path(self.target.folder, "*")
        return parse_listing(self.listing_lines([pattern]), self.target.folder)

    def listing_lines(self, patterns, recurse=True, first_flat=False, marks=None):
        """The output of `ls` of each pattern (a marker after each), in one session; an absent folder lists
        nothing, any other listing error raises (see listing()). first_flat: the first pattern is listed
        without recursing (`recurse` toggles: on after it). marks: see run(); then the start marker and
        ECHOES echo requests (one round trip each, markers e0, e1, ...) come first, to time the round trip."""
        return self.listed(self.start_listing(patterns, recurse, first_flat, marks))

    def start_listing(self, patterns, recurse=True, first_flat=False, marks=None, keep_open=False):
        """The session of listing_lines, started (see begin()); listed() gives its lines. keep_open: the session
        stays connected after the listing, for an upload (watch.Relay)."""
        commands = [MARKER.format(START)] if marks is not None else []
        for index in range(ECHOES if marks is not None else 0):
            commands += ["echo 1 x", MARKER.format(f"e{index}")]
        commands += ["recurse ON"] if recurse and not first_flat else []
        for index, pattern in enumerate(patterns):
            commands += [f"ls {quoted(pattern)}", MARKER.format(index)]
            if index == 0 and recurse and first_flat:
                commands.append("recurse ON")
        from .watch import Batch, Relay

        return self.begin((Relay if keep_open else Batch)(commands), in_order=False, marks=marks)

    def listed(self, watched):
        """The lines of a listing session start_listing() started, once it ended or, kept open, once the listing
        is said (see listing_lines)."""
        doing = f"listing {self.where}/{self.target.folder}"
        relay = watched.conversation if hasattr(watched.conversation, "hand_over") else None
        if relay is None:
            lines = self.finish(watched, doing)
        else:
            relay.start(watched)
            lines = relay.listed()
            lines = self.outcome(watched, doing) if lines is None else lines
        for line in (line for line in lines if "NT_STATUS_" in line and is_message(line)):
            status = STATUS.search(line)
            if status and status.group(0) not in ABSENT:
                if relay is not None:
                    relay.close()
                kind = Refused if status.group(0) == "NT_STATUS_ACCESS_DENIED" else TransportError
                raise kind(f"cannot list {self.where}/{self.target.folder}: {describe([status.group(0)])}")
        return lines

    def continue_in(self, relay, conversation, doing="talking to the server"):
        """Say `conversation` in a listing session kept open (watch.Relay) rather than a new one: its lines or the
        TransportError of run(); a new session when that one had ended meanwhile."""
        if not relay.hand_over(conversation):
            return self.converse(conversation, doing=doing)
        return self.outcome(relay.watched, doing)


def round_trip(marks):
    """The link's round trip in seconds, from the echo probe (see listing_lines): the time from the first echo's
    answer to the last's over the echoes between. Our reader may see an answer a few milliseconds late (another
    thread holds the interpreter), so one gap means little; the span of several does. None when the session did
    not get that far."""
    first, last = marks.get("e0"), marks.get(f"e{ECHOES - 1}")
    return (last - first) / (ECHOES - 1) if first is not None and last is not None else None


def split_sections(lines, count):
    """The lines before marker 0, between marker 0 and 1, ...: `count` sections (an empty one for each marker
    a broken session never reached)."""
    sections, current = [], []
    for line in lines:
        marker = MARKER_LINE.search(line) if line.startswith(MARKER_ANSWER) else None  # not a file so named
        if marker and marker.group(1).isdigit():  # not the start marker, nor a probe's (see listing_lines)
            sections.append(current)
            current = []
        elif not marker:
            current.append(line)
    return (sections + [[]] * count)[:count]


def problems_by_file(lines, paths):
    """The messages between marker i-1 (or the start marker) and marker i belong to paths[i]."""
    problems, pending = {}, []
    for line in lines:
        marker = MARKER_LINE.search(line)
        if marker:
            if pending and marker.group(1) != START:
                problems[paths[int(marker.group(1))]] = pending
            pending = []
        elif not QUIET_LINES.match(line):
            pending.append(line.strip())
    return problems


def unfinished(lines, paths):
    """The paths a broken session did not finish: those past the last marker it reached, and those whose
    own messages are a connection-level status (the connection broke during their commands)."""
    reached = [int(match.group(1)) for match in map(MARKER_LINE.search, lines)
               if match and match.group(1) != START]
    done = max(reached) + 1 if reached else 0
    problems = problems_by_file(lines, paths)
    broken = [path for path in paths[:done]
              if any(status in problem for problem in problems.get(path, ()) for status in UNREACHABLE)]
    return broken + list(paths[done:])


def describe(problems):
    """The most telling of a file's problems, in words."""
    if not problems:
        return None
    for problem in problems:
        status = STATUS.search(problem)
        if status and status.group(0) in STATUS_MEANINGS:
            return f"{STATUS_MEANINGS[status.group(0)]} ({status.group(0)})"
    return problems[0]


def ran_well(returncode, messages):
    """A session that ended by itself, with no connection-level status among its messages."""
    return returncode == 0 and not any(status in line for line in messages for status in UNREACHABLE)


def describe_commands(commands):
    """What a batch of commands does, in words, from its first real command."""
    verbs = {"put": "uploading files", "mkdir": "creating folders", "ls": "listing files", "get": "fetching files",
             "rename": "renaming uploaded files", "del": "deleting temporary files", "deltree": "deleting folders",
             "utimes": "setting modification times"}
    for command in commands:
        verb = command.split(" ", 1)[0]
        if verb in verbs:
            return verbs[verb]
    return "talking to the server"
