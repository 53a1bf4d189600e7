"""mode: snapshot: each run a dated tree <target>/<YYYY-mm-ddTHHMMSS>/, like rsnapshot or Time Machine.

The tree is made by `rsync --link-dest` against the newest complete snapshot, so an unchanged file is one
more hard link, not a copy. A snapshot is complete once `<snapshot>/.backup_system/complete` is written, after
rsync ended without a failed file; only then does `<target>/latest` (a relative symbolic link, swapped in by a
rename: locally os.replace, over ssh rsync's own atomic replacement of a symlink) point at it. A snapshot
without the marker (a run killed or failed midway) never becomes latest: the next run gives it to rsync as a
second --link-dest, so what had arrived is linked rather than sent again, and removes it once its own snapshot
is complete. Retention (`keep`, versions.snapshots_expired) then removes old complete snapshots, each its
marker first, so one cut off midway is incomplete and cleaned by the next run, never restored from.

Each complete snapshot also holds its own manifest, `<snapshot>/.backup_system/MANIFEST` (manifest.py puts it
there through put_manifest once the snapshot is complete; `snapshot_taken` on the transport says which one), so
verify and versions list read one snapshot, or each in turn, never the whole target mixed.

Over ssh nothing runs on the server but rsync: listings are `rsync --list-only`, the marker and the link
are rsynced from here, removal is store.remove_folder.
"""

import os
import re
import shutil
import stat
import tempfile
from collections import namedtuple

from ... import proc
from ...errors import NotFound, TransportError
from ...locations import is_remote_location
from ...times import now
from ...versions import snapshot_stamp, snapshot_time, snapshots_expired
from .. import Listed
from .fetch import last_words, rsh
from .options import keep_counts

LATEST = "latest"
MARKER = ".backup_system/complete"  # in a snapshot: it is complete
LISTED = re.compile(r"^([-dl])\S{9}\s+[\d,]+ \S+ \S+ (.*)$")

MANIFEST = ".backup_system/MANIFEST"  # in a snapshot: what it held (manifest.py)

Snapshots = namedtuple("Snapshots", "complete incomplete")
Snapshots.__doc__ = "The snapshot names at a target, oldest first: complete ones, and those a run left unfinished."
Taken = namedtuple("Taken", "location previous")
Taken.__doc__ = "The snapshot a run completed, and the complete one before it (its manifest to link to), or None."
Copy = namedtuple("Copy", "snapshot listed inode")
Copy.__doc__ = "One snapshot's copy of a file: the snapshot's name, its Listed, its inode (None over ssh)."


def listing(transport, target):
    """The Snapshots at target, or None when the target folder is not there yet."""
    names = local_listing(target) if not is_remote_location(target) else remote_listing(transport, target)
    if names is None:
        return None
    folders, marked = names
    dated = sorted(name for name in folders if snapshot_time(name) is not None)
    return Snapshots([name for name in dated if name in marked], [name for name in dated if name not in marked])


def local_listing(target):
    if not os.path.isdir(target):
        return None
    folders = [entry.name for entry in os.scandir(target) if entry.is_dir(follow_symlinks=False)]
    return folders, {name for name in folders if os.path.isfile(os.path.join(target, name, MARKER))}


def remote_listing(transport, target):
    """One listing of the target's folders and their markers, nothing deeper."""
    marker_folder = MARKER.split("/")[0]
    lines = []
    ran = proc.run(["rsync", "-r", "--list-only", "--no-h", "--include=/*/", f"--include=/*/{marker_folder}/",
                    f"--include=/*/{MARKER}", "--exclude=*", *rsh(transport, target), target.rstrip("/") + "/"],
                   timeout=transport.destination.timeout, log=transport.log, env={"LC_ALL": "C"}, on_line=lines.append)
    if ran.returncode == 23 and any("No such file or directory" in line for line in ran.stderr_lines):
        return None
    if ran.returncode:
        raise TransportError(f"cannot list the snapshots in {target}: {last_words(ran)}")
    folders, marked = [], set()
    for line in lines:
        match = LISTED.match(line)
        if match and match.group(1) == "d" and "/" not in match.group(2):
            folders.append(match.group(2))
        elif match and match.group(2).endswith("/" + MARKER):
            marked.add(match.group(2)[:-len(MARKER) - 1])
    return folders, marked


def new_name(existing, moment):
    """This run's snapshot name: the time, a second later while a snapshot of that name exists."""
    name = snapshot_stamp(moment)
    while name in existing:
        moment += 1
        name = snapshot_stamp(moment)
    return name


def mark_complete(transport, snapshot):
    """Write the marker that makes a snapshot complete."""
    if not is_remote_location(snapshot):
        os.makedirs(os.path.dirname(os.path.join(snapshot, MARKER)), exist_ok=True)
        open(os.path.join(snapshot, MARKER), "w").close()
        return
    with tempfile.NamedTemporaryFile(prefix="backup_system-complete-") as empty:
        transport.put_file(empty.name, f"{snapshot}/{MARKER}")


def point_latest(transport, target, name):
    """<target>/latest -> name, replaced in one rename: no moment without a latest."""
    if not is_remote_location(target):
        temporary = os.path.join(target, f".{LATEST}.{os.getpid()}")
        if os.path.lexists(temporary):
            os.remove(temporary)
        os.symlink(name, temporary)
        os.replace(temporary, os.path.join(target, LATEST))
        return
    with tempfile.TemporaryDirectory(prefix="backup_system-latest-") as folder:
        os.symlink(name, os.path.join(folder, LATEST))
        ran = proc.run(["rsync", "-l", "--protect-args", *rsh(transport, target), os.path.join(folder, LATEST),
                        target.rstrip("/") + "/"], timeout=transport.destination.timeout, log=transport.log,
                       env={"LC_ALL": "C"})
    if ran.returncode:
        raise TransportError(f"cannot point {target}/{LATEST} at {name}: {last_words(ran)}")


def make_target(transport, target, mkpath):
    """Over ssh, the target folder on the first run: made alone (its parent must exist unless mkpath)."""
    with tempfile.TemporaryDirectory(prefix="backup_system-empty-") as empty:
        ran = proc.run(["rsync", "-d", *(["--mkpath"] if mkpath else []), *rsh(transport, target), empty + "/",
                        target.rstrip("/") + "/"], timeout=transport.destination.timeout, log=transport.log,
                       env={"LC_ALL": "C"})
    if ran.returncode and any("No such file or directory" in line for line in ran.stderr_lines):
        raise NotFound(f"{os.path.dirname(target.rstrip('/'))} does not exist: is the disk or share mounted? "
                       f"(`create: true` on the destination lets backup_system make it)")
    if ran.returncode:
        raise TransportError(f"cannot make {target}: {last_words(ran)}")


def remove(transport, snapshot):
    """Remove one snapshot: its marker first, so a removal cut off midway leaves an incomplete one."""
    if not is_remote_location(snapshot):
        if os.path.exists(os.path.join(snapshot, MARKER)):
            os.remove(os.path.join(snapshot, MARKER))
        shutil.rmtree(snapshot, ignore_errors=True)
        return
    transport.remove_folder(f"{snapshot}/{MARKER.split('/')[0]}")
    transport.remove_folder(snapshot)


def take(transport, job, mkpath):
    """One snapshot run (see the module's docstring); the job's Outcome."""
    from .transport import rsync_argv

    transport.snapshot_taken = None
    target = job.target.rstrip("/")
    found = listing(transport, target)
    if found is None and not job.dry_run:
        if is_remote_location(target):
            make_target(transport, target, mkpath)
        else:
            os.makedirs(target, exist_ok=True)
    found = found or Snapshots([], [])
    name = new_name(set(found.complete + found.incomplete), now())
    snapshot = job._replace(target=f"{target}/{name}")
    link_dests = found.complete[-1:] + found.incomplete[-1:]  # the newest complete one, then a killed run's
    done, _ = transport.transfer(snapshot, rsync_argv(snapshot, link_dest=tuple(f"../{n}" for n in link_dests)))
    if job.dry_run:
        return done
    if done.failures:
        transport.log.warning(f"snapshot {name} is left incomplete ({len(done.failures)} files not sent): "
                              f"{LATEST} still points at the previous one; the next run completes it")
        return done
    mark_complete(transport, snapshot.target)
    point_latest(transport, target, name)
    transport.log.info(f"snapshot {name} complete; {LATEST} points at it")
    removed = found.incomplete + expired(found.complete + [name], job.destination.options.keep)
    kept = [old for old in found.complete if old not in removed]
    transport.snapshot_taken = Taken(snapshot.target, f"{target}/{kept[-1]}" if kept else None)
    for old in removed:
        remove(transport, f"{target}/{old}")
        transport.log.info(f"removed the snapshot {old}"
                           f"{' (left incomplete by an earlier run)' if old in found.incomplete else ''}")
    return done


def expired(names, keep):
    """The complete snapshots retention removes."""
    by_time = {snapshot_time(name): name for name in names}
    return [by_time[moment] for moment in snapshots_expired(by_time, keep_counts(keep))]


def snapshot_at(transport, target, at):
    """The location of the newest complete snapshot not newer than `at`; NotFound when there is none."""
    found = listing(transport, target.rstrip("/"))
    if not found or not found.complete:
        raise NotFound(f"{target} holds no complete snapshot: nothing to restore")
    before = [name for name in found.complete if snapshot_time(name) <= at]
    if not before:
        raise NotFound(f"{target} holds no complete snapshot from before that time (the oldest is "
                       f"{found.complete[0]})")
    return f"{target.rstrip('/')}/{before[-1]}"


def put_manifest(transport, local_path, taken, link):
    """Write the manifest into the snapshot a run completed (a Taken). link: the manifest here is unchanged since
    the run before, so the previous snapshot's is hard-linked when rsync finds it the same file (size, and time to
    the nanosecond: two manifests of one size written within a second must not pass for one); else a copy."""
    previous = os.path.basename(taken.previous) if taken.previous and link else None
    linking = [f"--link-dest=../../{previous}/{os.path.dirname(MANIFEST)}", "--modify-window=-1"] if previous else []
    ran = proc.run(["rsync", "-t", "--mkpath", "--protect-args", *linking, *rsh(transport, taken.location), local_path,
                    f"{taken.location}/{MANIFEST}"], timeout=transport.destination.timeout, log=transport.log,
                   env={"LC_ALL": "C"})
    if ran.returncode:
        raise TransportError(f"cannot write {taken.location}/{MANIFEST}: {last_words(ran)}")


def copies(transport, target, names, relative):
    """Each of the snapshots `names` that holds the file `relative`, as a Copy, oldest first: locally one lstat a
    snapshot; over ssh one listing of only that path in every snapshot."""
    target = target.rstrip("/")
    if not is_remote_location(target):
        found = []
        for name in names:
            try:
                info = os.lstat(os.path.join(target, name, relative))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append(Copy(name, Listed(relative, info.st_size, info.st_mtime), info.st_ino))
        return found
    return remote_copies(transport, target, set(names), relative)


def remote_copies(transport, target, names, relative):
    """copies() over ssh: rsync lists the target filtered down to `relative` inside each top folder."""
    from .fetch import parsed

    parts = [escape_pattern(part) for part in relative.split("/")]
    rules = ["--include=/*/"] + [f"--include=/*/{'/'.join(parts[:depth])}/" for depth in range(1, len(parts))]
    lines = []
    ran = proc.run(["rsync", "-r", "--list-only", "--no-h", *rules, f"--include=/*/{'/'.join(parts)}",
                    "--exclude=*", *rsh(transport, target), target + "/"], timeout=transport.destination.timeout,
                   log=transport.log, env={"LC_ALL": "C"}, on_line=lines.append)
    if ran.returncode:
        raise TransportError(f"cannot list the snapshots in {target}: {last_words(ran)}")
    found = []
    for item in filter(None, map(parsed, lines)):
        name, _, path = item.path.partition("/")
        if name in names and path == relative and item.link is None:
            found.append(Copy(name, item._replace(path=relative), None))
    return sorted(found)


def escape_pattern(name):
    """A name as an rsync filter pattern matching only itself (its wildcard characters escaped)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", name)
