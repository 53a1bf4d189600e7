"""One module per transport, one interface, so the runner never asks which kind it holds.

A transport is made from its Destination and the run's Log and answers one verb:

    send(job, result) -> None
        Bring job.source to job.target: only new or changed files move, nothing at the
        destination is deleted, and a file newer at the destination is never overwritten.
        (rclone's mode: mirror deletes and overwrites, keeping what it replaces in a dated
        versions folder; its pull and bisync directions also bring files down.)
        With job.dry_run nothing changes anywhere; result.sent lists what would be sent.
        Fills result (files sent, bytes, unchanged, per-file failures). Raises
        TransportError when the whole job fails (unreachable, refused, timed out).

Modules are imported when a destination of their type runs, not before.
"""

import importlib

from ..errors import TransportError

TRANSPORTS = {"rsync": "rsync:Rsync", "smb": "smb:Smb", "rclone": "rclone:Rclone"}


def transport_for(destination, log):
    """The transport object for a destination, by its type."""
    entry = TRANSPORTS.get(destination.type)
    if entry is None:
        raise TransportError(f"{destination.type} destinations are not supported in this version yet")
    module_name, class_name = entry.split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)(destination, log)
