"""Uploads a killed run left unfinished: an S3 store keeps the parts of a multipart upload (and bills them)
until someone aborts it, and rclone cannot when it was killed.

While rclone uploads, a mark in the job's state folder names the target; it is removed once rclone has
ended on its own. A run that finds the mark first asks rclone to abort the unfinished multipart uploads
under that target (`rclone backend cleanup`). That also aborts an upload another machine may have under
way into the same folder at that moment; it retries it. Remotes without multipart uploads say they have
no such command, which is fine.
"""

import hashlib
import os

from ...errors import TransportError
from .command import state_folder


def mark(job):
    """The mark of an upload under way to job.target."""
    digest = hashlib.blake2b(job.target.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()
    return os.path.join(state_folder(job), f"rclone-uploading-{digest}")


def begin(rclone, job):
    """Before an upload: clear what a killed run left, then set the mark; returns it (None: nothing to mark)."""
    if job.dry_run or rclone.options.direction == "pull":
        return None
    path = mark(job)
    if os.path.exists(path):
        abort_unfinished(rclone, job.target)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(job.target + "\n")
    return path


def end(path):
    """After rclone ended on its own (whatever its result): it aborted its own unfinished uploads."""
    if path:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def abort_unfinished(rclone, target):
    rclone.log.info(f"the last upload to {target} was cut off: aborting the multipart uploads it left there")
    try:
        lines = rclone.run_quietly(["backend", "cleanup", "-o", "max-age=1s", target], target)
    except TransportError as error:
        rclone.log.debug(f"no unfinished uploads aborted at {target}: {error}")
        return
    for line in lines:
        rclone.log.debug(f"rclone: {line}")
