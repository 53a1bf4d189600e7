"""The reading verbs of an SMB destination: list what is there, fetch files back.

Through smbclient: one session's `recurse ON; ls` lists a folder (times to the second, as the
share gives them); `get` commands fetch files, a marker after each so that each message is tied
to its file, in one session or a few side by side for many files (as a run uploads). Read as the
destination's method sends: a share mounted here as a local folder (rsync's reading verbs), and
with method: rclone through rclone's smb backend (rclone's reading verbs).
"""

import os

from ...errors import Refused, TransportError, Unreachable
from .. import Listed
from .listing import parse_listing
from .names import has_control_character
from .session import (
    ABSENT,
    MARKER,
    START,
    STATUS,
    Session,
    describe,
    is_message,
    parse_target,
    problems_by_file,
    quoted,
    smb_path,
    unfinished,
)

MAX_COMMAND_BYTES = 8000  # smbclient reads its commands with fgets(8192): a longer line splits in two
FILES_PER_SESSION = 50  # fewer files than this each: one session (a session costs ~50 ms to open)
FETCH_PROGRESS = "getting file "  # smbclient's line for each file it fetched


def list_files(transport, location):
    """See Transport.list_files."""
    target = parse_target(location)
    elsewhere = other_way(transport, target)
    if elsewhere:
        return elsewhere(lambda reading, reader, where: reading.list_files(reader, where))
    pattern = smb_path(target.folder, "*")
    lines = Session(transport.destination, target, transport.log).run(["recurse ON", f"ls {quoted(pattern)}"],
                                                                      in_order=False)
    for line in (line for line in lines if "NT_STATUS_" in line and is_message(line)):
        status = STATUS.search(line)
        if status and status.group(0) in ABSENT and line.rstrip().endswith(f"listing \\{pattern}"):
            return None  # the folder itself is not there (a folder under it may vanish while it is listed)
        if status and status.group(0) not in ABSENT:
            kind = Refused if status.group(0) == "NT_STATUS_ACCESS_DENIED" else TransportError
            raise kind(f"cannot list //{target.host}/{target.share}/{target.folder}: {describe([status.group(0)])}")
    files, _ = parse_listing(lines, target.folder)
    return [Listed(path, file.size, file.mtime) for path, file in files.items()]


def fetch(transport, location, paths, into):
    """See Transport.fetch."""
    target = parse_target(location)
    elsewhere = other_way(transport, target)
    if elsewhere:
        return elsewhere(lambda reading, reader, where: reading.fetch(reader, where, paths, into))
    into = os.path.abspath(into)
    if '"' in into or has_control_character(into):
        raise TransportError(f"smbclient reads its commands line by line and cannot write into a folder whose "
                             f"path holds a double quote or a control character: {into!r}")
    for folder in sorted({os.path.dirname(os.path.join(into, path)) for path in paths}):
        os.makedirs(folder, exist_ok=True)
    session = QuietSession(transport.destination, target, transport.log)
    too_long = [path for path in paths if len(get_line(target, path, into).encode("utf-8", "surrogateescape"))
                > MAX_COMMAND_BYTES]
    asked = [path for path in paths if path not in too_long]
    problems = in_sessions(session, asked, lambda path: [get_line(target, path, into)])
    fetched = {path for path in asked if path not in problems and os.path.isfile(os.path.join(into, path))}
    missed = [(path, describe(problems.get(path)) or "not fetched") for path in asked if path not in fetched]
    return fetched, missed + [(path, f"its path is too long for smbclient's command line ({MAX_COMMAND_BYTES} "
                                     f"bytes)") for path in too_long]


class QuietSession(Session):
    """A session that prints no line per file fetched (`-d 0`; messages and errors still come), so a file named
    like a connection error cannot be read as one; a user's own -d in smbclient_options still wins."""

    def argv(self, in_order=True):
        argv = super().argv(in_order)
        at = len(argv) - len(self.options.smbclient_options)
        return [*argv[:at], "-d", "0", *argv[at:]]


def get_line(target, path, into):
    """Fetch one file to into/<path>; smbclient takes the local name as given (absolute here)."""
    return f"get {quoted(smb_path(target.folder, path))} {quoted(os.path.join(into, path))}"


def in_sessions(session, paths, commands_for):
    """{path: problems} for each path's commands, spread over up to `sessions` smbclient sessions side by side."""
    count = max(1, min(session.options.sessions, len(paths) // FILES_PER_SESSION))
    shares = [paths[index::count] for index in range(count)]
    if count == 1:
        return in_one_session(session, shares[0], commands_for)
    from concurrent.futures import ThreadPoolExecutor

    problems = {}
    with ThreadPoolExecutor(count) as pool:
        for found in pool.map(lambda share: in_one_session(session, share, commands_for), shares):
            problems.update(found)
    return problems


def in_one_session(session, paths, commands_for, retry=True):
    """{path: problems} for the paths' commands in one session; a session whose connection breaks is followed by
    one more for the files it did not finish, and fails the fetch when that one breaks too."""
    if not paths:
        return {}
    commands = [MARKER.format(START)]
    for index, path in enumerate(paths):
        commands += [*commands_for(path), MARKER.format(index)]
    try:
        lines = session.run(commands)
    except Unreachable as error:
        lines = getattr(error, "lines", None)
        if not retry or lines is None:
            raise
        rest = unfinished(lines, paths)
        session.log.warning(f"{error}; fetching the {len(rest)} files that session did not finish once more")
        done = {path: found for path, found in told(lines, paths).items() if path not in rest}
        return {**done, **in_one_session(session, rest, commands_for, retry=False)}
    return told(lines, paths)


def told(lines, paths):
    """Each path's messages, without smbclient's line for a file fetched."""
    problems = {}
    for path, messages in problems_by_file(lines, paths).items():
        messages = [message for message in messages if not message.startswith(FETCH_PROGRESS)]
        if messages:
            problems[path] = messages
    return problems


def other_way(transport, target):
    """How to read the share when not through smbclient, as the destination's method sends to it: a function
    that calls verb(reading module, transport, location) with rsync at the mount point (method auto or mount,
    when it is mounted here) or rclone's smb backend (method rclone); None: through smbclient. The modules are
    called directly: SmbThroughRclone is an Rclone whose own reading() would find this module."""
    if transport.destination.options.method == "rclone":
        return through_rclone(transport, target)
    mount = transport.mount_point(target)
    if mount is None:
        return None
    from ..rsync import fetch as reading
    from ..rsync.options import DEFAULTS
    from ..rsync.transport import Rsync

    transport.log.info(f"//{target.host}/{target.share} is mounted at {mount}: reading it there")
    reader = Rsync(transport.destination._replace(type="rsync", options=DEFAULTS), transport.log)
    return lambda verb: verb(reading, reader, os.path.join(mount, target.folder))


def through_rclone(transport, target):
    """method: rclone: the rclone transport a run sends through, on the remote made from the destination; its
    failures said as the smbclient method says them. The password is obscured once per transport object."""
    from ..rclone import fetch as reading
    from .via_rclone import REMOTE, SmbThroughRclone, in_smb_words, obscure, rclone_destination, read_login

    reader = getattr(transport, "reading_through_rclone", None)
    user, password, domain = read_login(transport.destination.options.credentials_file)
    if reader is None:
        obscured = obscure(password, transport.log) if password else None
        reader = SmbThroughRclone(rclone_destination(transport.destination, target, user, obscured, domain),
                                  transport.log, [obscured])
        transport.reading_through_rclone = reader
    location = f"{REMOTE}:{'/'.join(part for part in (target.share, target.folder) if part)}"

    def verb_through_rclone(verb):
        try:
            return verb(reading, reader, location)
        except TransportError as error:
            raise in_smb_words(error, transport.destination, target, user or "guest") from None

    return verb_through_rclone
