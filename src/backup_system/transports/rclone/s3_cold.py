"""Objects in a cold S3 storage class (DEEP_ARCHIVE, GLACIER; not GLACIER_IR): readable only after a restore request.

S3 refuses to read such an object (403 InvalidObjectState; rclone: "Object in GLACIER, restore first") until a
RestoreObject request has completed (Deep Archive: within 12 h Standard, 48 h Bulk; Glacier: 1-5 min Expedited,
3-5 h Standard, 5-12 h Bulk), and then keeps a readable copy for the days asked for. A restore fetches first, as
from any destination: an object already restored reads like any other. Only for what could not be fetched does
`thaw` ask S3, with two rclone commands of the destination:

- `rclone backend restore-status -o all FOLDER` lists the folder once (ListObjectsV2 asking for each object's
  RestoreStatus; no request per object) and gives each object's storage class and, where the server says, whether
  a restore is under way or done. AWS says; moto's server and others leave it out (then: not known).
- `rclone backend restore FOLDER --files-from-raw - -o priority=P -o lifetime=DAYS` asks S3 to restore exactly the
  cold objects that were not fetched (RestoreObject each; with --s3-version-at, the version of then). Its answer per
  object: OK (asked; an object restored earlier gets its lifetime extended), RestoreAlreadyInProgress (a restore
  asked earlier is not done yet), or why not.

`cold(transport)`: whether the destination writes into a cold class (flags, rclone_env, or the remote's own
storage_class), for verify, which reads nothing back from such a destination unless allowed.
"""

import json
from collections import namedtuple

from .options import COLD_STORAGE_CLASSES, storage_classes
from .s3_versions import rclone, remote_settings, version_at

READY_WITHIN = {  # AWS's documented retrieval times
    ("DEEP_ARCHIVE", "Standard"): "within 12 h", ("DEEP_ARCHIVE", "Bulk"): "within 48 h",
    ("GLACIER", "Expedited"): "1-5 min", ("GLACIER", "Standard"): "3-5 h", ("GLACIER", "Bulk"): "5-12 h",
}
IN_PROGRESS = "RestoreAlreadyInProgress"
NOT_COLD = "Not GLACIER"  # rclone's answer for an object in a class that reads at once

Frozen = namedtuple("Frozen", "storage_class state detail")
Frozen.__doc__ = ("One object that cannot be read until restored: its storage class, and its state: 'requested' "
                  "(a restore was asked for now; detail: priority and time), 'under way' (asked earlier), 'would "
                  "request' (a dry run asks nothing; detail as for requested), or 'failed' (detail: why).")


def cold(transport):
    """True when the destination stores its objects in a cold class: the flags or rclone_env set one, or the
    remote's own storage_class is one."""
    options = transport.destination.options
    classes = [value for _, value in storage_classes(options)]
    classes.append(remote_settings(transport).get("storage_class", ""))
    return any(value.strip().upper() in COLD_STORAGE_CLASSES for value in classes)


def thaw(transport, location, paths, at=None, priority="Standard", days=7, ask=True):
    """See cold_restore.frozen_copies: {path: Frozen} for each of `paths` under the folder `location` (as it was at
    `at` on a bucket with versions) that sits in a cold class, not readable yet; with `ask`, S3 is asked to restore
    them (at `priority`, readable for `days`), else nothing is asked (a dry run). {} on a remote that is not S3."""
    if not paths or remote_settings(transport).get("type") != "s3":
        return {}
    states = restore_states(transport, location, at)
    frozen = {path: states[path] for path in paths if path in states and states[path][1] != "restored"}
    found = {path: before_asking(storage_class, state, priority, ask) for path, (storage_class, state) in frozen.items()}
    asked = [path for path, said in found.items() if said is None]
    for path, status in request_restore(transport, location, asked, priority, days, at).items():
        found[path] = answered(frozen[path][0], status, priority)
    return {path: said for path, said in found.items() if said is not None}


def before_asking(storage_class, state, priority, ask):
    """What is known of a cold object before any request (a Frozen), or None: ask S3 to restore it."""
    if not ask:
        return Frozen(storage_class, "would request", f"priority {priority}, {ready(storage_class, priority)}")
    if state == "under way":
        return Frozen(storage_class, "under way", "")
    if priority == "Expedited" and storage_class == "DEEP_ARCHIVE":
        return Frozen(storage_class, "failed", "Expedited retrieval is not offered for DEEP_ARCHIVE: use "
                                               "--cold-priority Standard (within 12 h) or Bulk (within 48 h)")
    return None


def answered(storage_class, status, priority):
    """A Frozen from rclone's answer to a restore request for one object; None when it is not cold after all."""
    if status == "OK":
        return Frozen(storage_class, "requested", f"priority {priority}, {ready(storage_class, priority)}")
    if IN_PROGRESS in status:
        return Frozen(storage_class, "under way", "")
    if status.startswith(NOT_COLD):
        return None
    return Frozen(storage_class, "failed", f"the restore request failed: {status}")


def ready(storage_class, priority):
    return READY_WITHIN.get((storage_class, priority), "in hours")


def restore_states(transport, location, at):
    """{path: (storage class, 'restored' | 'under way' | None: not known)} of each cold object in the folder, from
    one listing."""
    from .command import as_folder

    printed = rclone(transport, ["backend", "restore-status", "-o", "all", as_folder(location), *version_at(at)],
                     location)
    return states_of(json.loads("".join(printed) or "[]"))


def states_of(listed):
    """restore_states from what `rclone backend restore-status -o all` printed (a list of dicts)."""
    states = {}
    for item in listed:
        storage_class = (item.get("StorageClass") or "").upper()
        if storage_class in COLD_STORAGE_CLASSES:
            in_progress = (item.get("RestoreStatus") or {}).get("IsRestoreInProgress")
            states[item["Remote"]] = (storage_class, None if in_progress is None else
                                      "under way" if in_progress else "restored")
    return states


def request_restore(transport, location, paths, priority, days, at):
    """Ask S3 to restore these objects; {path: rclone's status for it ('OK' or why not)}."""
    from .command import as_folder

    if not paths:
        return {}
    names = "".join(path + "\n" for path in paths).encode("utf-8", "surrogateescape")
    printed = rclone(transport, ["backend", "restore", as_folder(location), "--files-from-raw", "-",
                                 "-o", f"priority={priority}", "-o", f"lifetime={int(days)}", *version_at(at)],
                     location, input_bytes=names)
    answers = {item.get("Remote"): str(item.get("Status")) for item in json.loads("".join(printed) or "[]")}
    return {path: answers.get(path, "no answer for it") for path in paths}
