"""smb destinations: a Windows or Samba share, through smbclient or, when mounted here, rsync.

With smbclient a job takes a handful of sessions whatever the size of the tree: one lists
the remote tree (`recurse ON; ls`); one creates folders and clears leftovers; a few side
by side upload each file under a temporary name and set its modification time; a listing
checks the temporary files; a few sessions rename the complete ones into place; a last
listing confirms. So neither an interrupted run nor a full disk ever leaves a truncated
file under the real name.

smbclient exits 0 even when commands on its stdin fail, so a marker command (`lcd` into a
folder that cannot exist) follows each file's commands, and the messages between two
markers belong to that file. With -E all messages come on one stream, in order. Commands
go in one batch per session: smbclient reads its stdin buffered and only reliably
executes what it has been given once stdin is closed.
"""

import hashlib
import os
import re
import time
from collections import namedtuple

from .. import proc
from ..errors import TransportError
from ..localtree import folder_problem, scan
from ..plan import is_inside, needs_transfer

SmbTarget = namedtuple("SmbTarget", "host share folder")
SmbTarget.__doc__ = "//host/share and the folder inside it ('' for the share's top), '/' separated."
RemoteFile = namedtuple("RemoteFile", "size mtime")

TEMP_NAME = re.compile(r"^\.bs~[0-9a-f]{16}\.tmp$")
MARKER = "lcd /nonexistent/__backup_system_mark_{}__"
MARKER_LINE = re.compile(r"__backup_system_mark_(\w+?)__")
START = "start"  # the marker before the first file: greetings such as "Anonymous login successful" come before it
QUIET_LINES = re.compile(r"^(putting file .* as .*|Try \"help\" .*|\s*)$")
ABSENT = ("NT_STATUS_OBJECT_NAME_NOT_FOUND", "NT_STATUS_NO_SUCH_FILE", "NT_STATUS_OBJECT_PATH_NOT_FOUND")
# attributes: Samba prints D A H S R N in upper case and t s r c o n e (sparse, compressed, offline, ...) in lower
LISTING_LINE = re.compile(r"^  (.*?) +([A-Za-z]+) +(\d+)  \w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})$")
MAX_COMMAND_BYTES = 8000  # smbclient reads its commands with fgets(8192): a longer line splits in two
MONTHS = {name: index for index, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
STATUS = re.compile(r"NT_STATUS_[A-Z_]+")
FORBIDDEN_CHARACTERS = set('*:?"<>|\\') | {chr(code) for code in range(32)} | {"\x7f"}
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
MAX_NAME_BYTES = 255
STATUS_MEANINGS = {
    "NT_STATUS_DISK_FULL": "remote disk full",
    "NT_STATUS_ACCESS_DENIED": "permission denied on the server",
    "NT_STATUS_OBJECT_NAME_INVALID": "the server refuses this name",
    "NT_STATUS_OBJECT_PATH_NOT_FOUND": "folder missing on the server",
    "NT_STATUS_SHARING_VIOLATION": "file in use on the server",
    "NT_STATUS_FILE_IS_A_DIRECTORY": "a folder of that name exists on the server",
    "NT_STATUS_OBJECT_NAME_COLLISION": "a file of that name exists on the server",
}
MOUNTS = "/proc/mounts"
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


def has_control_character(text):
    return any(ord(char) < 32 or char == "\x7f" for char in text)


def refusal(relative):
    """Why SMB cannot store this path under its own name, or None when it can."""
    for name in relative.split("/"):
        what = "folder name" if name != relative.rsplit("/", 1)[-1] else "name"
        if any("\udc80" <= char <= "\udcff" for char in name):
            return f"{what} is not valid UTF-8"
        bad = sorted(set(name) & FORBIDDEN_CHARACTERS)
        if bad:
            shown = " ".join(repr(char)[1:-1] for char in bad)
            return f"SMB cannot store {shown} in a {what}"
        if name.endswith((" ", ".")):
            return f"{what} ends with a {'space' if name.endswith(' ') else 'dot'}, which SMB lists back mangled"
        if name.split(".", 1)[0].upper() in RESERVED_NAMES:
            return f"{what} {name.split('.', 1)[0]!r} is reserved on Windows (listed back mangled)"
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return f"{what} is longer than {MAX_NAME_BYTES} bytes"
    return None


def refusals(local):
    """(path, reason) for each local file SMB cannot store under its own, distinct name."""
    by_folded_name = {}
    for path in local:
        by_folded_name.setdefault(path.casefold(), []).append(path)
    found = []
    for path in local:
        reason = refusal(path)
        if reason is None and len(by_folded_name[path.casefold()]) > 1:
            others = ", ".join(other for other in by_folded_name[path.casefold()] if other != path)
            reason = f"differs only in letter case from {others}; SMB would keep one file for both"
        if reason:
            found.append((path, reason))
    return found


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


def smb_path(folder, relative=""):
    joined = "/".join(part for part in (folder, relative) if part)
    return joined.replace("/", "\\")


def quoted(path):
    return f'"{path}"'


def temp_name(relative):
    """A short temporary name in the file's own folder; TEMP_NAME recognises leftovers."""
    folder, _, name = relative.rpartition("/")
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    temp = f".bs~{digest}.tmp"
    return f"{folder}/{temp}" if folder else temp


def utimes_stamp(mtime):
    return time.strftime("%Y:%m:%d-%H:%M:%S", time.gmtime(int(mtime)))


def mounted_at(target, mounts_text):
    """Where //host/share is mounted (cifs) according to /proc/mounts, or None."""
    wanted = f"//{target.host}/{target.share}".lower()
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] in ("cifs", "smb3") and fields[0].lower().rstrip("/") == wanted:
            return fields[1].replace("\\040", " ")
    return None


def read_credentials(path):
    """The user name from a smbclient credentials file, after checking it is private."""
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise TransportError(f"credentials file {path}: {error.strerror}") from None
    if info.st_mode & 0o077:
        raise TransportError(f"credentials file {path} is readable by others: run chmod 600 {path}")
    values = {key.strip(): value.strip() for key, value in
              (line.split("=", 1) for line in text.splitlines() if "=" in line)}  # smbclient allows "key = value"
    if "password" not in values:
        # smbclient would then read a password from stdin, which holds our commands
        raise TransportError(f"credentials file {path} has no password= line (give one, even empty)")
    return values.get("username") or "guest"


class Session:
    """One smbclient process fed commands on stdin; output lines kept for the caller."""

    def __init__(self, destination, target, log):
        self.destination = destination
        self.target = target
        self.log = log
        self.user = read_credentials(destination.credentials_file) if destination.credentials_file else "guest"

    def argv(self, in_order=True):
        # -E puts every message on one stream, in order (some errors, e.g. a full disk, go to stderr),
        # which the markers need; it costs a write per line, so listings go without it.
        auth = ["-A", self.destination.credentials_file] if self.destination.credentials_file else ["-N"]
        return ["smbclient", f"//{self.target.host}/{self.target.share}", "-s", "/dev/null",
                *(["-E"] if in_order else []), "-p", str(self.destination.port), *auth,
                *self.destination.smbclient_options]

    def run(self, commands, in_order=True):
        """Run the commands in one session; return its output lines. Connection problems raise TransportError."""
        lines = []
        script = "".join(command + "\n" for command in commands).encode("utf-8", "surrogateescape")
        outcome = proc.run(self.argv(in_order), timeout=self.destination.timeout, log=self.log, env={"TZ": "UTC"},
                           on_line=lines.append, input_bytes=script, merge_stderr=True)
        if outcome.timed_out:
            raise TransportError(f"smbclient stopped after the {self.destination.timeout:g} s timeout")
        messages = [line for line in lines if is_message(line)]
        if outcome.returncode != 0 or any(status in line for line in messages for status in UNREACHABLE):
            raise TransportError(self.explain(outcome.returncode, lines))
        return lines

    def explain(self, returncode, lines):
        where = f"//{self.target.host}/{self.target.share}"
        statuses = [match.group(0) for line in lines if is_message(line) for match in [STATUS.search(line)] if match]
        status = statuses[0] if statuses else ""
        if status == "NT_STATUS_LOGON_FAILURE":
            return f"authentication failed for {self.user} at {where}"
        if status == "NT_STATUS_BAD_NETWORK_NAME":
            return f"share '{self.target.share}' not found on {self.target.host}"
        if status == "NT_STATUS_ACCESS_DENIED":
            return f"permission denied at {where} for {self.user}"
        if status in UNREACHABLE or any("Connection to" in line for line in lines):
            return f"cannot reach {where} (port {self.destination.port}): {status or 'connection failed'}"
        if returncode is not None and (returncode < 0 or returncode >= 128):
            return f"connection to {where} lost (smbclient ended by signal {returncode % 128})"
        detail = status or next((line.strip() for line in lines if line.strip()), f"exit {returncode}")
        return f"smbclient failed at {where}: {detail}"

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
                raise TransportError(f"cannot list //{self.target.host}/{self.target.share}/{self.target.folder}: "
                                     f"{describe([status.group(0)])}")
        return parse_listing(lines, self.target.folder)


class Smb:
    """Sends a source folder to an SMB share: rsync to the mount point when mounted, else smbclient."""

    name = "smb"

    def __init__(self, destination, log):
        self.destination = destination
        self.log = log

    def send(self, job, result):
        """See transports/__init__.py."""
        target = parse_target(job.target)
        mount = self.mount_point(target)
        if mount is not None:
            from .rsync import Rsync

            path = os.path.join(mount, target.folder)
            self.log.info(f"//{target.host}/{target.share} is mounted at {mount}: using rsync")
            return Rsync(self.destination, self.log).send(job._replace(target=path), result)
        problem = folder_problem(job.source.path)
        if problem:
            raise TransportError(problem)
        if '"' in job.source.path or has_control_character(job.source.path):
            raise TransportError(f"smbclient reads its commands line by line and cannot read from a folder whose "
                                 f"path holds a double quote or a control character: {job.source.path!r}")
        problem = target.folder and refusal(target.folder)
        if problem:
            raise TransportError(f"{job.target}: {problem}")
        SmbJob(job, result, Session(self.destination, target, self.log), self.log).run()

    def mount_point(self, target):
        method = self.destination.method
        if method == "smbclient":
            return None
        try:
            with open(MOUNTS, encoding="utf-8", errors="surrogateescape") as stream:
                mount = mounted_at(target, stream.read())
        except OSError:
            mount = None
        if method == "mount" and mount is None:
            raise TransportError(f"//{target.host}/{target.share} is not mounted on this machine (method: mount)")
        return mount


class SmbJob:
    """One job through smbclient: list, compare, upload, confirm."""

    def __init__(self, job, result, session, log):
        self.job = job
        self.result = result
        self.session = session
        self.log = log
        self.folder = session.target.folder

    def run(self):
        local, skipped = scan(self.job.source.path, self.job.source.exclude)
        for path, reason in skipped:
            self.fail(path, reason)
        for path, reason in [*refusals(local), *self.too_long(local)]:
            self.fail(path, reason)
            del local[path]
        remote, remote_folders = self.session.listing()
        leftovers = [path for path in remote if TEMP_NAME.match(path.rsplit("/", 1)[-1])]
        to_send = [path for path in local if needs_transfer(local[path], remote.get(path))]
        if self.job.dry_run:
            self.result.sent = to_send
            self.result.files_sent = len(to_send)
            self.result.bytes_sent = sum(local[path].size for path in to_send)
            self.result.files_unchanged = len(local) - len(to_send)
            if leftovers:
                self.log.info(f"would remove {len(leftovers)} temporary files left by an interrupted run")
            return
        if to_send or leftovers:
            self.prepare(to_send, remote_folders, leftovers)
            reasons = self.upload(to_send, local)
            remote, _ = self.session.listing()
            self.confirm(to_send, local, remote, reasons)
        self.result.files_unchanged = len(local) - len(to_send)
        if self.session.destination.remove_from_local:
            self.remove_confirmed(local, remote)

    def too_long(self, local):
        """(path, reason) for each file whose put or rename would not fit on one smbclient command line."""
        found = []
        for path in local:
            lines = (self.put_line(path), self.rename_line(path))
            if max(len(line.encode("utf-8", "surrogateescape")) for line in lines) > MAX_COMMAND_BYTES:
                found.append((path, f"its path is too long for smbclient's command line ({MAX_COMMAND_BYTES} bytes)"))
        return found

    def put_line(self, path):
        """Upload a local file under its temporary name."""
        return f"put {quoted(os.path.join(self.job.source.path, path))} {quoted(smb_path(self.folder, temp_name(path)))}"

    def rename_line(self, path):
        """Move a complete upload to its real name."""
        return f"rename {quoted(smb_path(self.folder, temp_name(path)))} {quoted(smb_path(self.folder, path))} -f"

    def fail(self, path, reason):
        self.result.failures.append((path, reason))
        self.log.warning(f"not sent: {path}: {reason}")

    def prepare(self, to_send, remote_folders, leftovers):
        """Create missing folders, parents first, and delete temporary files of an interrupted run."""
        needed = set()
        for path in to_send:
            parts = path.split("/")[:-1]
            needed.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        missing = sorted(needed - remote_folders, key=lambda folder: (folder.count("/"), folder))
        top = self.folder.split("/") if self.folder else []
        commands = [f"mkdir {quoted(smb_path('/'.join(top[:depth])))}" for depth in range(1, len(top) + 1)]
        commands += [f"mkdir {quoted(smb_path(self.folder, folder))}" for folder in missing]
        commands += [f"del {quoted(smb_path(self.folder, path))}" for path in leftovers]
        if leftovers:
            self.log.info(f"removing {len(leftovers)} temporary files left by an interrupted run")
        self.session.run(commands)

    def upload(self, to_send, local):
        """Put each file under its temporary name, then rename the complete ones; {path: problems}."""
        def put(path):
            temp = quoted(smb_path(self.folder, temp_name(path)))
            return [self.put_line(path), f"utimes {temp} -1 -1 {utimes_stamp(local[path].mtime)} -1"]

        reasons = self.in_sessions(to_send, put)
        listed, _ = self.session.listing()
        complete = [path for path in to_send
                    if listed.get(temp_name(path)) == RemoteFile(local[path].size, int(local[path].mtime))]
        for path in set(to_send) - set(complete):
            reasons.setdefault(path, ["the upload did not complete"])

        def finish(path):
            temp = quoted(smb_path(self.folder, temp_name(path)))
            if path in reasons:  # a failed put may leave a truncated temporary file
                return [f"del {temp}"] if temp_name(path) in listed else []
            return [self.rename_line(path)]

        for path, problems in self.in_sessions(to_send, finish).items():
            reasons.setdefault(path, problems)
        return reasons

    def in_sessions(self, paths, commands_for):
        """Run each path's commands, spread over up to `sessions` smbclient sessions side by side."""
        count = max(1, min(self.session.destination.sessions, len(paths) // 50))
        shares = [paths[index::count] for index in range(count)]
        if count == 1:
            return self.in_one_session(shares[0], commands_for)
        from concurrent.futures import ThreadPoolExecutor

        reasons = {}
        with ThreadPoolExecutor(count) as pool:
            for found in pool.map(lambda share: self.in_one_session(share, commands_for), shares):
                reasons.update(found)
        return reasons

    def in_one_session(self, paths, commands_for):
        commands = [MARKER.format(START)]
        for index, path in enumerate(paths):
            commands += [*commands_for(path), MARKER.format(index)]
        try:
            lines = self.session.run(commands)
        except TransportError as error:  # the session broke: the next listing tells what arrived
            return {path: [str(error)] for path in paths}
        return problems_by_file(lines, paths)

    def confirm(self, to_send, local, remote, reasons):
        """A file counts as sent when a fresh listing shows it with the local size and time."""
        for path in to_send:
            arrived = remote.get(path)
            if arrived is not None and arrived == RemoteFile(local[path].size, int(local[path].mtime)):
                self.result.files_sent += 1
                self.result.bytes_sent += local[path].size
                self.result.sent.append(path)
                self.log.debug(f"sent {path}")
            else:
                self.fail(path, describe(reasons.get(path)) or "not on the server after the upload")

    def remove_confirmed(self, local, remote):
        """Delete local files whose server copy the latest listing shows with the same size and time."""
        removed = 0
        for path, file in local.items():
            if remote.get(path) != RemoteFile(file.size, int(file.mtime)):
                continue
            full = os.path.join(self.job.source.path, path)
            try:
                now = os.stat(full)
                if (now.st_size, now.st_mtime) != (file.size, file.mtime):
                    self.log.warning(f"kept: {path}: changed here since it was sent")
                    continue
                os.remove(full)
            except OSError as error:
                self.log.warning(f"kept: {path}: cannot remove it: {error.strerror}")
                continue
            self.log.info(f"removed from local: {path}")
            removed += 1
        self.log.info(f"removed {removed} local files confirmed on the server (remove_from_local)")
        self.result.files_removed = removed


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


def describe(problems):
    """The most telling of a file's problems, in words."""
    if not problems:
        return None
    for problem in problems:
        status = STATUS.search(problem)
        if status and status.group(0) in STATUS_MEANINGS:
            return f"{STATUS_MEANINGS[status.group(0)]} ({status.group(0)})"
    return problems[0]
