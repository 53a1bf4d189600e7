"""Housekeeping at an SMB destination: writing a file of ours (the manifest) and removing a versions folder.

Through smbclient as a run writes: the folders made, the file put under a temporary name, then renamed
into place (`rename -f`), so a reader never sees half a manifest. A share mounted here, or one reached
with method: rclone, is written as the destination's method sends (rsync's or rclone's store verbs).
"""

import importlib
import os

from ...errors import TransportError
from .fetch import other_way
from .names import run_token
from .session import (
    MARKER,
    STATUS,
    Session,
    describe,
    is_message,
    parse_target,
    problems_by_file,
    quoted,
    smb_path,
)

CREATED_ALREADY = "NT_STATUS_OBJECT_NAME_COLLISION"  # mkdir of a folder that is there


def put_file(transport, local_path, location):
    """See Transport.put_file."""
    target = parse_target(location)
    elsewhere = other_way(transport, target)
    if elsewhere:
        return elsewhere(lambda reading, writer, where: store_of(reading).put_file(writer, local_path, where))
    folder, _, name = target.folder.rpartition("/")
    temporary = f"{folder}/.{name}.{run_token()}.tmp" if folder else f".{name}.{run_token()}.tmp"
    parts = folder.split("/") if folder else []
    commands = [f"mkdir {quoted(smb_path('/'.join(parts[:depth])))}" for depth in range(1, len(parts) + 1)]
    commands += [MARKER.format(0), f"put {quoted(os.path.abspath(local_path))} {quoted(smb_path(temporary))}",
                 f"rename {quoted(smb_path(temporary))} {quoted(smb_path(target.folder))} -f", MARKER.format(1)]
    lines = Session(transport.destination, target._replace(folder=""), transport.log).run(commands)
    problems = problems_by_file(lines, ["folders", "written"])
    if problems.get("written"):
        refused = any("NT_STATUS_ACCESS_DENIED" in line for line in problems.get("folders", ()))
        cause = f"permission denied creating {folder}" if refused else describe(problems["written"])
        raise TransportError(f"cannot write {location}: {cause}")


def remove_folder(transport, location):
    """See Transport.remove_folder."""
    target = parse_target(location)
    elsewhere = other_way(transport, target)
    if elsewhere:
        return elsewhere(lambda reading, writer, where: store_of(reading).remove_folder(writer, where))
    lines = Session(transport.destination, target._replace(folder=""), transport.log).run(
        [f"deltree {quoted(smb_path(target.folder))}"])
    statuses = [match.group(0) for line in lines if is_message(line) for match in [STATUS.search(line)] if match]
    if statuses:
        raise TransportError(f"cannot remove {location}: {describe(statuses)}")


def store_of(reading):
    """The store module beside a reading module (rsync's or rclone's fetch.py)."""
    return importlib.import_module(reading.__name__.rpartition(".")[0] + ".store")
