"""Housekeeping at an rclone destination: writing a file of ours (the manifest), removing a versions folder.

`rclone copyto` and `rclone purge`, with the program, config file, environment and flags a run uses
(fetch.run); rclone uploads a file whole or not at all on object stores, and under a temporary name
renamed into place on file-like remotes.
"""

import os

from ...errors import TimedOut
from .fetch import run
from .log_reader import LogReader


def put_file(transport, local_path, location):
    """See Transport.put_file. On a destination whose objects go to cold storage the file (the manifest) stays in
    STANDARD: verify reads it, and a cold object cannot be read without a restore."""
    last = ("--s3-storage-class", "STANDARD") if transport.cold() else ()
    rclone(transport, ["copyto", os.path.abspath(local_path), location], f"writing {location}", last)


def remove_folder(transport, location):
    """See Transport.remove_folder."""
    rclone(transport, ["purge", location], f"removing {location}")


def rclone(transport, words, doing, last=()):
    reader = LogReader(transport.log, transport.secrets)
    ran = run(transport, words, last)
    for line in ran.stderr_lines:
        reader.take(line)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout while {doing}")
    if ran.returncode:
        raise transport.explain(reader, ran.returncode, words[-1])
