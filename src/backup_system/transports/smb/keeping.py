"""What an smbclient job keeps: `versions: true` and `mode: mirror` at an SMB share.

A copy on the share that a run replaces or (mirror) deletes is moved by a server-side `rename` into
`<target>-versions/<stamp>/<path>` (versions.py: the layout rsync and rclone keep, which versions list,
restore --at and prune read), never fetched and sent again. For a replaced file the same upload session
moves the old copy away once the new one is complete under its temporary name, and only then renames the
new one into place: a copy that cannot be moved is not replaced (temporaries.Upload). A mirror moves the
files the source no longer holds after the uploads, a few sessions side by side; the folders they leave
empty stay. Never moved: our own folder (.backup_system/), our temporary names, excluded names, and a
name the source holds in another letter case (the share may see one file there).
"""

from ...errors import TransportError
from ...localtree import is_excluded
from ...times import now
from ...versions import version_stamp, versions_folder
from .names import TEMP_PREFIX
from .session import MARKER, MARKER_ANSWER, MARKER_LINE, START, describe, problems_by_file, quoted, smb_path

OWN_FOLDER = ".backup_system"  # the manifest's folder at the top of a target (manifest.py)
MAX_COMMAND_BYTES = 8000  # smbclient reads its commands with fgets(8192): a longer line splits in two
GONE = "NT_STATUS_OBJECT_NAME_NOT_FOUND"  # what a rename of a file no longer there answers


def keeps_versions(destination):
    """Whether this destination's runs keep what they replace or delete: versions: true or mode: mirror."""
    return destination.versions or getattr(destination.options, "mode", "copy") == "mirror"


def keeping_for(job, folder):
    """This job's Keeping (its versions folder, dated by the run), or None when it keeps nothing. `folder`: the
    target folder inside the share."""
    if not keeps_versions(job.destination):
        return None
    if not folder:
        raise TransportError(f"{job.target}: versions and mode: mirror need a folder inside the share (the versions "
                             f"are kept beside it, in <folder>-versions)")
    return Keeping(job, folder, version_stamp(now()))


class Keeping:
    """One job's versions folder on the share: `kept_in` as the report names it, `folder` inside the share."""

    def __init__(self, job, folder, stamp):
        self.kept_in = versions_folder(job.target, stamp)
        self.target_folder = folder
        self.folder = versions_folder(folder, stamp)
        self.root = self.folder.rpartition("/")[0]

    def kept_path(self, path):
        """Where a file's replaced or deleted copy goes, relative to the share."""
        return f"{self.folder}/{path}"

    def folders_for(self, paths):
        """The versions folders these files need, parents first (the versions root first)."""
        found = {self.root, self.folder}
        for path in paths:
            parts = path.split("/")[:-1]
            found.update(f"{self.folder}/{'/'.join(parts[:depth])}" for depth in range(1, len(parts) + 1))
        return sorted(found, key=lambda folder: (folder.count("/"), folder))

    def move_line(self, path):
        """Move the share's copy of a file into the versions folder; never over a copy kept there."""
        return f"rename {quoted(smb_path(self.target_folder, path))} {quoted(smb_path(self.kept_path(path)))}"

    def for_session(self):
        """What one upload session says to keep each file it replaces (see SessionKeeping)."""
        return SessionKeeping(self)


class SessionKeeping:
    """The versions folders one session made so far: each is made once per session, before its first file."""

    def __init__(self, keeping):
        self.keeping = keeping
        self.made = set()

    def commands(self, path):
        """(mkdir commands for the versions folders this file needs that the session has not made, the rename
        that moves the share's copy into the versions folder)."""
        wanted = [folder for folder in self.keeping.folders_for([path]) if folder not in self.made]
        self.made.update(wanted)
        return [f"mkdir {quoted(smb_path(folder))}" for folder in wanted], self.keeping.move_line(path)


def to_remove(remote, local, skipped, exclude, case_sensitive):
    """The files on the share a mirror moves away: not in the source, not excluded, not ours, not a file the
    source could not read (skipped) nor one it holds in another letter case on a share that ignores case."""
    kept = set(local) | {path for path, _ in skipped}
    folded = set() if case_sensitive else {path.casefold() for path in kept}
    return sorted(path for path in remote
                  if path not in kept and not is_ours(path) and not excluded(path, exclude)
                  and path.casefold() not in folded)


def is_ours(path):
    """Our manifest folder at the top of the target, and anything under one of our temporary names."""
    parts = path.split("/")
    return parts[0] == OWN_FOLDER or any(part.startswith(TEMP_PREFIX) for part in parts)


def excluded(path, patterns):
    """The source's excludes, on the file and on each folder above it."""
    parts = path.split("/")
    return any(is_excluded("/".join(parts[:depth]), parts[depth - 1], depth < len(parts), patterns)
               for depth in range(1, len(parts) + 1))


def remove(smb_job, paths):
    """Move each file a mirror removes into the versions folder, in up to `sessions` sessions side by side; the
    files moved are counted and reported as removed, one not moved is a failure of the job."""
    if not paths:
        return
    keeping, tally, log = smb_job.keeping, smb_job.tally, smb_job.log
    if smb_job.job.dry_run:
        for path in paths:
            note_removed(smb_job, path, "would remove")
        return
    too_long = [path for path in paths if len(keeping.move_line(path).encode("utf-8", "surrogateescape"))
                > MAX_COMMAND_BYTES]
    for path in too_long:
        tally.failures.append((path, f"not removed at the destination: its path is too long for smbclient's "
                                     f"command line ({MAX_COMMAND_BYTES} bytes)"))
    shares = smb_job.shares([path for path in paths if path not in too_long])
    errors = []
    for moved, problems, error in smb_job.in_parallel(shares, lambda share: move_away(smb_job.session, keeping,
                                                                                       share)):
        for path in moved:
            note_removed(smb_job, path, "removed")
        for path, reason in problems.items():
            tally.failures.append((path, f"not removed at the destination: {reason}"))
            log.warning(f"not removed at the destination: {path}: {reason}")
        errors += [error] if error is not None else []
    if errors:
        raise errors[0]  # the session that broke: the job fails, with what the others moved counted


def note_removed(smb_job, path, done):
    smb_job.tally.removed_paths.append((path, smb_job.keeping.kept_in))
    smb_job.tally.removed += 1
    smb_job.log.info(f"{done} at the destination: {path} (kept in {smb_job.keeping.kept_in})")


def move_away(session, keeping, paths):
    """(paths moved, {path: reason} of those the server refused, the session's TransportError or None): one
    session that makes the versions folders these files need, then moves each, a marker after each."""
    commands = [f"mkdir {quoted(smb_path(folder))}" for folder in keeping.folders_for(paths)]
    commands.append(MARKER.format(START))  # the folders' messages (one that exists collides) come before it
    for index, path in enumerate(paths):
        commands += [keeping.move_line(path), MARKER.format(index)]
    error = None
    try:
        lines = session.run(commands, doing="moving removed files into the versions folder")
    except TransportError as failure:
        lines, error = getattr(failure, "lines", None) or [], failure
    reached = {int(match.group(1)) for line in lines if line.startswith(MARKER_ANSWER)
               for match in [MARKER_LINE.search(line)] if match and match.group(1).isdigit()}
    told = problems_by_file(lines, paths)
    moved = [path for index, path in enumerate(paths) if index in reached and path not in told]
    # a file already gone from the share (someone else removed it) leaves nothing to keep: no failure
    problems = {path: describe(found) for path, found in told.items()
                if not any(GONE in line for line in found)}
    return moved, problems, error
