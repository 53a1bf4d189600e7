"""The guard against a silently vanished source.

A job that carries deletions from the local folder to the other side (`mode: mirror` pushing, a bisync)
would empty the backup when the folder it reads is an unmounted disk, a renamed folder or a half-deleted
tree. Before such a job the source is counted; the job is refused, nothing touched, when the folder is
missing or empty, or when its files or bytes fell by more than `max_shrink` percent since the last
successful run of that job. `--force` lets one run through. Only guarded jobs pay for the count; a
plain copy (which never deletes) is never counted.

Not guarded, on purpose: `remove_from_local` (a vanished source leaves it nothing to remove) and a pull
(it deletes here only what vanished there, which a local count cannot see).
"""

import os
from collections import namedtuple

from .errors import TransportError
from .localtree import scan

SIZES_FILE = "source-sizes.json"  # in the destination's state folder: {source name: [files, bytes]}
Size = namedtuple("Size", "files bytes")


class SourceShrank(TransportError):
    """A guarded job refused: its source is missing, empty, or much smaller than at its last successful run."""

    kind = "source-vanished"


def guarded(job):
    """Whether this job can delete on the other side because of what the local folder lacks."""
    options = job.destination.options
    pushes_deletions = getattr(options, "mode", "copy") == "mirror" and job.destination.direction == "push"
    return not job.dry_run and (pushes_deletions or job.destination.direction == "bisync")


def check(job, max_shrink, force, log):
    """The source's Size when the job may go on (None when it is not guarded); raises SourceShrank when not."""
    if not guarded(job):
        return None
    size = measure(job.source)
    last = last_sizes(job.state_dir).get(job.source.name)
    first_bisync = last is None and job.destination.direction == "bisync"  # its first run may fill an empty folder
    problem = None if first_bisync else shrinkage(job.source.path, size, last, max_shrink)
    if problem and force:
        log.warning(f"{problem}; going on because of --force")
    elif problem:
        raise SourceShrank(f"refused, nothing touched: {problem} (mode: mirror would delete the rest at the "
                           f"destination; check the folder, or run once with --force if this is meant)")
    return size


def shrinkage(path, size, last, max_shrink):
    """Why the source looks vanished, or None."""
    if size is None:
        return f"the source folder {path} is missing"
    if size.files == 0:
        return f"the source folder {path} is empty"
    if last is None:
        return None
    for what, now, before in (("files" if size.files != 1 else "file", size.files, last.files),
                              ("bytes", size.bytes, last.bytes)):
        if before and (before - now) * 100 > max_shrink * before:
            return (f"the source folder {path} holds {now} {what}, {100 - now * 100 // before}% fewer than "
                    f"the {before} at the last successful run (max_shrink: {max_shrink:g}%)")
    return None


def measure(source):
    """Files and bytes the source holds (excludes applied), or None when its folder is missing."""
    if not os.path.isdir(source.path):
        return None
    files, _ = scan(source.path, source.exclude)
    return Size(len(files), sum(item.size for item in files.values()))


def remember(job, size):
    """After a successful guarded job: its source's size becomes the one the next run compares with."""
    sizes = last_sizes(job.state_dir)
    import json  # only for a guarded job: an everyday run does not import json

    sizes[job.source.name] = size
    os.makedirs(job.state_dir, exist_ok=True)
    path = os.path.join(job.state_dir, SIZES_FILE)
    with open(path + ".tmp", "w") as stream:
        json.dump({name: list(value) for name, value in sizes.items()}, stream)
    os.replace(path + ".tmp", path)


def last_sizes(state_dir):
    import json

    try:
        with open(os.path.join(state_dir, SIZES_FILE)) as stream:
            return {name: Size(*value) for name, value in json.load(stream).items()}
    except (OSError, ValueError, TypeError):
        return {}
