"""One smbclient session: commands in a batch on stdin, its messages sorted into what went wrong.

smbclient exits 0 even when commands on its stdin fail, so a marker command (`lcd` into a
folder that cannot exist) follows each file's commands, and the messages between two
markers belong to that file. With -E all messages come on one stream, in order. Commands
go in one batch per session: smbclient reads its stdin buffered and only reliably
executes what it has been given once stdin is closed.
"""

import os
import re
from collections import namedtuple

from ... import proc
from ...errors import NotFound, Refused, TimedOut, TransportError, Unreachable
from .listing import LISTING_LINE, parse_listing

SmbTarget = namedtuple("SmbTarget", "host share folder")
SmbTarget.__doc__ = "//host/share and the folder inside it ('' for the share's top), '/' separated."
MARKER = "lcd /nonexistent/__backup_system_mark_{}__"
MARKER_LINE = re.compile(r"__backup_system_mark_(\w+?)__")
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
        self.target = target
        self.log = log
        credentials = self.options.credentials_file
        self.user = read_credentials(credentials) if credentials else "guest"

    def argv(self, in_order=True):
        # -E puts every message on one stream, in order (some errors, e.g. a full disk, go to stderr),
        # which the markers need; it costs a write per line, so listings go without it.
        auth = ["-A", self.options.credentials_file] if self.options.credentials_file else ["-N"]
        return ["smbclient", f"//{self.target.host}/{self.target.share}", "-s", "/dev/null",
                *(["-E"] if in_order else []), "-p", str(self.options.port), *auth, *self.options.smbclient_options]

    def run(self, commands, in_order=True):
        """Run the commands in one session; return its output lines. Connection problems raise TransportError."""
        lines = []
        script = "".join(command + "\n" for command in commands).encode("utf-8", "surrogateescape")
        ran = proc.run(self.argv(in_order), timeout=self.timeout, log=self.log, env={"TZ": "UTC"},
                           on_line=lines.append, input_bytes=script, merge_stderr=True)
        if ran.timed_out:
            raise TimedOut(f"smbclient stopped after the {self.timeout:g} s timeout")
        messages = [line for line in lines if is_message(line)]
        if ran.returncode != 0 or any(status in line for line in messages for status in UNREACHABLE):
            error = self.explain(ran.returncode, lines)
            error.lines = lines  # what the session did before it broke, for a retry of the rest
            raise error
        return lines

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
            return Unreachable(f"cannot reach {where} (port {self.options.port}): {status or 'connection failed'}")
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
        lines = self.run(["recurse ON", f"ls {quoted(pattern)}"], in_order=False)
        for line in filter(is_message, lines):
            status = STATUS.search(line)
            if status and status.group(0) not in ABSENT:
                kind = Refused if status.group(0) == "NT_STATUS_ACCESS_DENIED" else TransportError
                raise kind(f"cannot list //{self.target.host}/{self.target.share}/{self.target.folder}: "
                           f"{describe([status.group(0)])}")
        return parse_listing(lines, self.target.folder)


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
