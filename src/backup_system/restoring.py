"""Restore: each source's tree as it was at a time, brought back from one destination, written only under --to.

For each file the copy it had at that time: the live copy at the destination when it is not newer
than the time, else the kept version (`<target>-versions/<stamp>/<path>`) that was live then — one
not newer than the time and replaced or deleted after it. A destination that receives archives
gives back the newest archive not newer than the time, unpacked. Files arrive in a staging folder inside
--to (`.backup_system-restore-<token>`), get their modification time from the listing, and are
renamed into place one by one, so an interrupted restore leaves no truncated file under a real name.
A name that would land outside --to (`..`, an absolute name, through a symbolic link) is refused
and reported, whatever the destination's listing says.

Cold storage (S3 Deep Archive, Glacier): see cold_restore.py.

The transport answers the verbs list_files and fetch (see transports/__init__.py), and where it has cold storage
thaw; nothing here asks which kind of destination it holds.
"""

import fnmatch
import os
import shutil
import time
from collections import namedtuple

from .cold_restore import COLD_DAYS, DEFAULT_COLD, cold_request, frozen_copies, waiting, waiting_lines
from .errors import BackupError, ConfigError, NotFound
from .transports import Outcome
from .versions import stamp_time, versions_root

STAGING_PREFIX = ".backup_system-restore-"
OWN_FOLDER = ".backup_system"  # our manifest beside the data: never part of the restored tree

Copy = namedtuple("Copy", "path size mtime folder kept_at")
Copy.__doc__ = ("One copy of a file at the destination: its relative path, size and mtime, the folder it is "
                "fetched from, and for a kept version the time it was replaced or deleted (None: the live copy).")


def as_of(live, kept, at):
    """{path: Copy} of each file as the destination held it at `at` (seconds).

    A kept copy was the destination's copy until the run that kept it (kept_at), from the run that kept
    the copy before it; the live copy is, from the run that kept the last one. A file's first copy counts
    from its own modification time (when it was sent is not known). A file whose every copy is later, or
    that was deleted (kept, with no live copy) before `at`, did not exist then.
    """
    copies = {}
    for copy in sorted(kept, key=lambda item: item.kept_at):
        copies.setdefault(copy.path, []).append(copy)
    for copy in live:
        copies.setdefault(copy.path, []).append(copy)
    chosen = {}
    for path, history in copies.items():
        since = history[0].mtime
        for copy in history:
            until = copy.kept_at if copy.kept_at is not None else float("inf")
            if since <= at < until:
                chosen[path] = copy
                break
            since = until
    return chosen


def kept_copies(listed, versions_root):
    """Copies in a versions folder listing (`<stamp>/<relative path>`); names that are no stamp are not ours."""
    copies = []
    for item in listed or ():
        stamp, _, path = item.path.partition("/")
        if item.link is not None:
            continue
        kept_at = stamp_time(stamp)
        if kept_at is not None and path:
            copies.append(Copy(path, item.size, item.mtime, f"{versions_root}/{stamp}", kept_at))
    return copies


def unsafe_name(path):
    """Why a listed name cannot be written under --to, or None."""
    parts = path.split("/")
    if path.startswith("/") or "\0" in path:
        return "an absolute or malformed name: refused"
    if any(part in ("", ".", "..") for part in parts):
        return "a name with '..' or an empty part: refused (it would land outside --to)"
    return None


def selected(path, source_name, patterns):
    """--path GLOB: matched against the path in the source and against SOURCE/path."""
    return not patterns or any(fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(f"{source_name}/{path}", pattern)
                               for pattern in patterns)


class Restore:
    """One source's restore: choose the copies, fetch them into staging, move them into place."""

    def __init__(self, transport, job, at, patterns, to, staging, log, cold=DEFAULT_COLD):
        self.transport, self.job, self.at, self.patterns = transport, job, at, patterns
        self.to, self.staging, self.log, self.cold = to, staging, log, cold

    def run(self):
        target = self.job.target
        # a destination that keeps versions itself (an S3 bucket) lists and gives back the tree as it was then
        self.version_at = self.at if self.transport.native_versions() else None
        snapshot = self.transport.snapshot_at(target, self.at)  # a destination of dated trees: the one of then
        target = snapshot or target
        listed = self.transport.list_files(target, at=self.version_at)
        if listed is None:
            raise NotFound(f"{target} does not exist at the destination: nothing to restore")
        if self.job.compressed:
            return self.from_archive(listed)
        listed = [item for item in listed if not item.path.startswith(OWN_FOLDER + "/")]
        failures = [(item.path, f"a symbolic link at the destination (to {item.link}): not restored, never "
                                f"followed") for item in listed if item.link is not None
                    and selected(item.path, self.job.source.name, self.patterns)]
        live = [Copy(item.path, item.size, item.mtime, target, None) for item in listed if item.link is None]
        root = versions_root(target)
        reads_kept = self.version_at is None and not snapshot  # a bucket's or a snapshot's tree is whole
        kept = kept_copies(self.transport.list_files(root), root) if reads_kept else []
        chosen = as_of(live, kept, self.at)
        wanted = []
        for path, copy in sorted(chosen.items()):
            problem = unsafe_name(path)
            if problem:
                failures.append((path, problem))
            elif selected(path, self.job.source.name, self.patterns):
                wanted.append(copy)
        if self.job.dry_run:
            frozen = self.frozen_in_folders(wanted)
            failures += sorted(frozen.items())
            wanted = [copy for copy in wanted if copy.path not in frozen]
            return Outcome(sent=tuple(copy.path for copy in wanted), bytes_sent=sum(c.size for c in wanted),
                           failures=tuple(failures))
        restored = self.fetch_all(wanted, failures)
        return Outcome(sent=tuple(restored), bytes_sent=sum(restored.values()), failures=tuple(failures))

    def from_archive(self, listed):
        """A destination that receives archives: the newest one not newer than the time, unpacked."""
        from .archive_formats import unpack
        from .compression import ARCHIVE_NAME, STAMP_FORMAT

        dated = sorted((time.mktime(time.strptime(match["stamp"], STAMP_FORMAT)), item.path, match["format"])
                       for item in listed if item.link is None for match in [ARCHIVE_NAME.match(item.path)] if match)
        before = [archive for archive in dated if archive[0] <= self.at]
        if not before:
            raise NotFound(f"{self.job.target} holds no archive from before "
                           f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(self.at))}")
        _, name, fmt = before[-1]
        self.log.info(f"restoring from the archive {name}")
        if self.job.dry_run:
            frozen = self.frozen(self.job.target, [name], ask=False)
            return Outcome(failures=tuple(frozen.items())) if frozen else Outcome(sent=(f"(everything in {name})",))
        fetched, missed = self.transport.fetch(self.job.target, [name], os.path.join(self.staging, "archive"),
                                               at=self.version_at)
        if name not in fetched:
            frozen = self.frozen(self.job.target, [name])
            if frozen:
                return Outcome(failures=tuple(frozen.items()))
            raise NotFound(f"{name} could not be fetched: {missed[0][1] if missed else 'not found'}")
        unpacked = os.path.join(self.staging, "unpacked")
        members, failures = unpack(os.path.join(self.staging, "archive", name), fmt, unpacked, unsafe_name)
        restored = {}
        for member in members:
            if selected(member.name, self.job.source.name, self.patterns):
                problem = self.place(Copy(member.name, member.size, member.mtime, name, None),
                                     os.path.join(unpacked, member.name))
                if problem:
                    failures.append((member.name, problem))
                else:
                    restored[member.name] = member.size
        return Outcome(sent=tuple(restored), bytes_sent=sum(restored.values()), failures=tuple(failures))

    def fetch_all(self, wanted, failures):
        """Fetch the copies folder by folder; {path: bytes} of those now in place under --to."""
        by_folder = {}
        for copy in wanted:
            by_folder.setdefault(copy.folder, []).append(copy)
        restored = {}
        for index, (folder, copies) in enumerate(sorted(by_folder.items())):
            into = os.path.join(self.staging, str(index))
            fetched, missed = self.transport.fetch(folder, [copy.path for copy in copies], into, at=self.version_at)
            frozen = self.frozen(folder, [path for path, _ in missed])  # cold storage: asked to restore them
            failures.extend((path, frozen.get(path, reason)) for path, reason in missed)
            for copy in copies:
                if copy.path in fetched:
                    problem = self.place(copy, os.path.join(into, copy.path))
                    if problem:
                        failures.append((copy.path, problem))
                    else:
                        restored[copy.path] = copy.size
        return restored

    def frozen(self, folder, paths, ask=True):
        return frozen_copies(self.transport, folder, paths, self.version_at, self.cold, ask)

    def frozen_in_folders(self, copies):
        """A dry run: {path: reason} of the copies that cold storage holds unreadable (nothing is asked)."""
        by_folder, frozen = {}, {}
        for copy in copies:
            by_folder.setdefault(copy.folder, []).append(copy.path)
        for folder, paths in sorted(by_folder.items()):
            frozen.update(self.frozen(folder, paths, ask=False))
        return frozen

    def place(self, copy, fetched):
        """Move one fetched file to its real name under --to/<source>; why it could not be, or None."""
        if os.path.islink(fetched) or not os.path.isfile(fetched):
            return "not a regular file at the destination: refused"
        if os.path.getsize(fetched) != copy.size:
            return f"arrived with {os.path.getsize(fetched)} bytes, the listing says {copy.size}: not restored"
        final = os.path.join(self.to, self.job.source.name, copy.path)
        if not inside(os.path.dirname(final), self.to):
            return "its folder under --to is a symbolic link leading elsewhere: refused"
        try:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if not inside(os.path.realpath(os.path.dirname(final)), os.path.realpath(self.to)):
                return "its folder under --to is a symbolic link leading elsewhere: refused"
            os.utime(fetched, (copy.mtime, copy.mtime))
            if os.path.islink(final) or os.path.isdir(final):
                return f"{final} is a {'symbolic link' if os.path.islink(final) else 'folder'} here: not replaced"
            os.replace(fetched, final)
        except OSError as error:
            return f"cannot write {final}: {error.strerror}"
        return None


def inside(path, folder):
    """Whether path (made real) is folder or below it."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip("/") + "/")


def prepare_to(to, force, dry_run):
    """Check --to: a missing one is made (its parent must exist); a non-empty one only with --force."""
    to = os.path.abspath(to)
    if os.path.lexists(to) and not os.path.isdir(to):
        raise ConfigError(f"--to {to}: not a folder")
    if not os.path.isdir(os.path.dirname(to)):
        raise ConfigError(f"--to {to}: its parent folder does not exist")
    if os.path.isdir(to) and any(not name.startswith(STAGING_PREFIX) for name in os.listdir(to)) and not force:
        raise ConfigError(f"--to {to} is not empty: restore into an empty or new folder, or add --force to "
                          f"write among what is there")
    if not dry_run:
        os.makedirs(to, exist_ok=True)
        for name in os.listdir(to):  # what an interrupted restore left: ours, never a file under a real name
            if name.startswith(STAGING_PREFIX):
                remove_staging(os.path.join(to, name))
    return to


def staging_folder(to):
    return os.path.join(to, f"{STAGING_PREFIX}{os.getpid()}-{os.urandom(3).hex()}")


def remove_staging(staging):
    """Our own staging folder, made by this restore: removed whatever is left in it."""
    shutil.rmtree(staging, ignore_errors=True)


def restore_jobs(config, from_, source, dry_run):
    """The jobs whose targets hold what to restore: each source (or the one named) at destination `from_`,
    enabled or not."""
    from .plan import build_jobs

    destination = config.destinations.get(from_)
    if destination is None:
        from .config.validate import suggestion

        raise ConfigError(f"{config.path}: restore --from {from_}: no such destination"
                          f"{suggestion(from_, config.destinations)}; destinations are: {', '.join(config.destinations)}")
    if destination.direction != "push":
        raise ConfigError(f"restore --from {from_}: a {destination.direction} destination holds no backup of "
                          f"this machine to restore")
    every, _ = build_jobs(config._replace(destinations={from_: destination._replace(enabled=True)}), (from_,), dry_run)
    jobs = [job for job in every if source in (None, job.source.name, job.source.name.split("/")[0])]
    if not jobs:
        raise ConfigError(f"restore --source {source}: {from_} receives no source of that name; it receives: "
                          f"{', '.join(job.source.name for job in every)}")
    return jobs


def run_restore(config=None, *, from_, to, at=None, source=None, paths=(), dry_run=False, force=False,
                console_level=None, stream=None, cold_priority="Standard", cold_days=COLD_DAYS):
    """Bring back each source's tree as it was at `at` (seconds; default now) from destination `from_` into
    `to`/<source>/, and return the RunRecord (action "restore"; `sent` holds the files restored). Files in cold
    storage not restored yet are asked to be, at `cold_priority` for `cold_days`, and are failures that WAITING
    matches (waiting_lines says them).

    Raises ConfigError for a mistake (unknown destination, a non-empty `to` without force)."""
    from . import log as logs
    from .config import load_config
    from .record import RunRecord
    from .runner import new_run_id
    from .times import now
    from .transports import transport_for

    cold = cold_request(cold_priority, cold_days)
    config = load_config(config)
    at = now() if at is None else at
    jobs = restore_jobs(config, from_, source, dry_run)
    to = prepare_to(to, force, dry_run)
    log = logs.Log(config.log_file, logs.WARNING if console_level is None else console_level, stream)
    started, records = time.time(), []
    try:
        log.info(f"{'dry run, ' if dry_run else ''}restoring from {from_} as of "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))} into {to}")
        for job in jobs:
            records.append(restore_one(job, transport_for(job.destination, log), at, paths, to, log, cold))
    finally:
        log.close()
    return RunRecord(new_run_id(), "restore", dry_run, "cli", config.path, config.name, started, time.time(),
                     tuple(records), (), (), False, None)


def restore(config=None, *, from_, to, at=None, source=None, paths=(), dry_run=False, force=False,
            cold_priority="Standard", cold_days=COLD_DAYS):
    """From Python (a notebook): run_restore, with `at` also as people write it ("yesterday", "3d",
    "2026-11-30T14:00") and `paths` also as one glob; the RunRecord shows as a table in Jupyter."""
    if isinstance(at, str):
        from .times import parse_at

        moment = parse_at(at)
        if moment is None:
            raise ConfigError(f"at={at!r}: not a time; give an ISO date or time, now, yesterday, or e.g. 3d, 12h")
        at = moment
    return run_restore(config, from_=from_, to=to, at=at, source=source,
                       paths=(paths,) if isinstance(paths, str) else tuple(paths), dry_run=dry_run, force=force,
                       cold_priority=cold_priority, cold_days=cold_days)


def restore_one(job, transport, at, paths, to, log, cold=DEFAULT_COLD):
    from .record import JobRecord

    started, outcome, error, kind = time.monotonic(), Outcome(), None, None
    staging = staging_folder(to)
    with log.prefixed(f"{job.destination.name}/{job.source.name}"):
        try:
            outcome = Restore(transport, job, at, paths, to, staging, log, cold).run()
        except BackupError as failure:
            error, kind = str(failure), getattr(failure, "kind", "failed")
            log.error(f"FAILED: {error}")
        finally:
            remove_staging(staging)
        cold_ones = set(waiting(outcome.failures))
        for path, reason in outcome.failures:  # a file that waits for cold storage: one line for them all
            (log.debug if (path, reason) in cold_ones else log.warning)(f"not restored: {path}: {reason}")
        for line in waiting_lines(outcome.failures):
            log.warning(line)
    return JobRecord(job.destination.name, job.source.name, job.target, job.destination.type, job.dry_run,
                     outcome.sent, outcome.bytes_sent, 0, outcome.failures, 0, error, kind,
                     time.monotonic() - started, ())

