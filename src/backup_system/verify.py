"""verify: does each destination hold what its manifest says?

Plain verify compares the destination's listing (presence, size, modification time) with the manifest
the backup wrote there (manifest.py): every file missing, changed or unexpected is named. `full` reads
every file back and compares SHA-256, which catches a same-size change that a listing cannot see (an
SMB share has no checksums); `sample` reads back N random files plus the newest of each job. Reading
back goes through the transport's fetch into a temporary folder that is removed afterwards; cold
storage (S3 Deep Archive, Glacier) is never read back unless allowed.

A destination in `mode: snapshot` is verified one snapshot at a time, each against the manifest it holds
(`<snapshot>/.backup_system/MANIFEST`, see manifest.py): the newest complete one (what `latest` points at)
unless asked for another by name or for all of them, one Checked per snapshot.
"""

import os
import random
import shutil
import tempfile
import time
from collections import namedtuple

from . import manifest
from .errors import BackupError, NotFound

MTIME_SLACK = 1  # seconds: SMB and FAT keep times to the second or two; rsync and rclone compare likewise

Checked = namedtuple("Checked", "destination source target files missing changed unexpected error snapshot",
                     defaults=(None,))
Checked.__doc__ = ("One job (or one snapshot of it: `snapshot` its name) verified: files in its manifest, and the "
                   "paths missing at the destination, changed there ((path, how)), and there but not in the "
                   "manifest; or why it could not be verified.")
NO_MANIFEST = "no manifest at the destination yet"
LATEST, ALL = "latest", "all"  # verify --snapshot: the newest complete snapshot (the default), or each in turn


def takes_snapshots(destination):
    """Whether the destination keeps dated snapshots (mode: snapshot), each verified on its own."""
    return getattr(destination.options, "mode", "copy") == "snapshot"


def verify(transport, job, full=False, sample=0, allow_cold=False, snapshot=LATEST, rng=random):
    """Check one job against its manifest: a list of Checked, one per snapshot verified on a destination that
    takes snapshots (`snapshot`: LATEST, ALL or a snapshot's name), else one."""
    if not takes_snapshots(job.destination):
        return [verify_job(transport, job, full, sample, allow_cold, rng)]
    try:
        names = chosen_snapshots(transport, job.target, snapshot)
    except BackupError as error:
        return [Checked(job.destination.name, job.source.name, job.target, 0, (), (), (), str(error))]
    checked = []
    for name in names:
        one = job._replace(target=f"{job.target.rstrip('/')}/{name}")
        result = verify_job(transport, one, full, sample, allow_cold, rng)
        if result.error and result.error.startswith(NO_MANIFEST):
            result = result._replace(error="no manifest in this snapshot (taken before snapshots kept their own, "
                                           "or cut off before its manifest was written)")
        checked.append(result._replace(snapshot=name))
    return checked


def chosen_snapshots(transport, target, snapshot):
    """The names of the complete snapshots to verify; NotFound naming those there when there is no such one."""
    found = transport.verbs("snapshot").listing(transport, target.rstrip("/"))
    complete = found.complete if found else []
    if not complete:
        raise NotFound(f"{target} holds no complete snapshot yet")
    if snapshot == ALL:
        return complete
    if snapshot == LATEST:
        return complete[-1:]
    if snapshot not in complete:
        shown = ", ".join(complete[-5:])
        raise NotFound(f"no complete snapshot {snapshot} at {target} (the newest: {shown})")
    return [snapshot]


def verify_job(transport, job, full=False, sample=0, allow_cold=False, rng=random):
    """Check one job's destination (or one snapshot: job.target its folder) against its manifest; a Checked."""
    name = (job.destination.name, job.source.name, job.target)
    try:
        expected, listing = both(lambda: read_manifest(transport, job.target),
                                 lambda: transport.list_files(job.target))
        if expected is None:
            return Checked(*name, 0, (), (), (), f"{NO_MANIFEST}: the next backup that sends a file writes it")
        listed = {item.path: item for item in listing or () if not item.path.startswith(manifest.FOLDER + "/")}
        missing = tuple(sorted(path for path in expected if path not in listed))
        unexpected = tuple(sorted(path for path in listed if path not in expected))
        changed = [(path, how) for path in sorted(expected) if path in listed
                   for how in [difference(expected[path], listed[path])] if how]
        read_back = chosen_for_reading(expected, listed, full, sample, rng)
        if read_back and transport.cold() and not allow_cold:
            raise BackupError("its files are in cold storage (Deep Archive, Glacier): reading them back costs a "
                              "restore request; add --allow-cold to read them anyway")
        changed += hashed_differences(transport, job.target, read_back, expected)
    except BackupError as error:
        return Checked(*name, 0, (), (), (), str(error))
    return Checked(*name, len(expected), missing, tuple(sorted(changed)), unexpected, None)


def both(first, second):
    """The results of two calls run side by side (each its own connection: the manifest's fetch and the listing
    overlap instead of queueing); the first error raised, if any. A thread, not concurrent.futures: its import
    (logging) costs ~10 ms."""
    import threading

    answers = [None, None]

    def call(index, work):
        try:
            answers[index] = (True, work())
        except BaseException as error:  # raised below, in the caller's thread
            answers[index] = (False, error)

    helper = threading.Thread(target=call, args=(0, first), daemon=True)
    helper.start()
    call(1, second)
    helper.join()
    for went_well, answer in answers:
        if not went_well:
            raise answer
    return answers[0][1], answers[1][1]


def read_manifest(transport, target):
    """The manifest at the destination as {path: Entry}, or None when there is none."""
    folder = f"{target.rstrip('/')}/{manifest.FOLDER}"
    with tempfile.TemporaryDirectory(prefix="backup_system-verify-") as into:
        fetched, _ = transport.fetch(folder, [manifest.NAME], into)
        if manifest.NAME not in fetched:
            return None
        return manifest.read(os.path.join(into, manifest.NAME))


def difference(entry, listed):
    """How a listed file differs from its manifest entry, or None."""
    if listed.link is not None:
        return f"a symbolic link there (to {listed.link})"
    if listed.size != entry.size:
        return f"size {listed.size} there, {entry.size} in the manifest"
    if abs(listed.mtime - entry.mtime) > MTIME_SLACK:
        return (f"modified {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(listed.mtime))} there, "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(entry.mtime))} in the manifest")
    return None


def chosen_for_reading(expected, listed, full, sample, rng):
    """The paths to read back: all (full), or N at random plus the newest; only files present there."""
    present = sorted(path for path in expected if path in listed and listed[path].link is None)
    if full or not present:
        return present if full else []
    if not sample:
        return []
    newest = max(present, key=lambda path: expected[path].mtime)
    others = [path for path in present if path != newest]
    return sorted({newest, *rng.sample(others, min(max(sample - 1, 0), len(others)))}) if sample else []


def hashed_differences(transport, target, paths, expected):
    """(path, how) for each file read back whose SHA-256 is not the manifest's."""
    if not paths:
        return []
    into = tempfile.mkdtemp(prefix="backup_system-verify-")
    try:
        fetched, failed = transport.fetch(target, paths, into)
        found = [(path, f"could not be read back: {reason}") for path, reason in failed]
        for path in paths:
            if path in fetched and manifest.sha256(os.path.join(into, path)) != expected[path].sha256:
                found.append((path, "its content differs from the manifest (SHA-256)"))
        return found
    finally:
        shutil.rmtree(into, ignore_errors=True)
