"""Housekeeping at an rsync destination: removing a dated versions folder of ours.

Over ssh without a remote shell command: rsync from an empty folder with --delete, filtered to
that one folder, removes it and everything in it (and nothing else).
"""

import os
import shutil
import tempfile

from ... import proc
from ...errors import TransportError
from ...locations import is_remote_location
from .fetch import last_words, rsh


def remove_folder(transport, location):
    """See Transport.remove_folder."""
    if not is_remote_location(location):
        shutil.rmtree(location, ignore_errors=not os.path.lexists(location))
        return
    parent, name = location.rstrip("/").rsplit("/", 1)
    with tempfile.TemporaryDirectory(prefix="backup_system-empty-") as empty:
        ran = proc.run(["rsync", "-r", "--delete", "--protect-args", f"--include=/{name}/***", "--exclude=*",
                        *rsh(transport, location), empty + "/", parent + "/"],
                       timeout=transport.destination.timeout, log=transport.log, env={"LC_ALL": "C"})
    if ran.returncode:
        raise TransportError(f"cannot remove {location}: {last_words(ran)}")


def put_file(transport, local_path, location):
    """See Transport.put_file: rsync writes it under a temporary name and renames it into place."""
    # --ignore-times: a manifest rewritten within the same second at the same size would pass rsync's quick check
    ran = proc.run(["rsync", "-t", "--ignore-times", "--mkpath", "--protect-args", *rsh(transport, location),
                    local_path, location],
                   timeout=transport.destination.timeout, log=transport.log, env={"LC_ALL": "C"})
    if ran.returncode:
        raise TransportError(f"cannot write {location}: {last_words(ran)}")
