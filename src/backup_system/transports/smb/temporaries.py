"""Temporary names on a share: the record of those this tool made, kept in the job's state folder, and the
upload that puts each file under one and renames it into place.

A name on the server that merely looks like ours may be a user's file, or belong to another machine
backing up into the same folder. Only a name written here before its upload began is ours to delete;
the next run removes those an interrupted run left behind.
"""

import hashlib
import json
import os

from ...errors import TransportError
from .session import MARKER, MARKER_ANSWER, MARKER_LINE, QUIET_LINES, START, UNREACHABLE, describe, quoted
from .watch import Conversation

NOT_KEPT = "not replaced: its copy on the server could not be moved into the versions folder"
GONE = "NT_STATUS_OBJECT_NAME_NOT_FOUND"  # the copy to move away is no longer there: nothing to keep
COLLISION = "NT_STATUS_OBJECT_NAME_COLLISION"  # a folder that is there already


class TemporaryRecord:
    """The temporary paths (relative to the job's target folder) that uploads to one target may have left."""

    def __init__(self, state_dir, target):
        digest = hashlib.blake2b(target.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        self.path = os.path.join(state_dir, f"smb-temporary-names-{digest}.json") if state_dir else None
        self.target = target

    def names(self):
        """The recorded paths; none when nothing was recorded (or the record cannot be read)."""
        if self.path is None:
            return set()
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as stream:
                return set(json.load(stream)["paths"])
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def write(self, paths):
        """Replace the record with these paths (none: remove it); written before the uploads that make them."""
        if self.path is None:
            if paths:
                raise TransportError("no state_dir to record temporary file names in")
            return
        try:
            if not paths:
                if os.path.exists(self.path):
                    os.remove(self.path)
                return
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            partial = f"{self.path}.partial"
            with open(partial, "w", encoding="utf-8", errors="surrogateescape") as stream:
                json.dump({"target": self.target, "paths": sorted(paths)}, stream, ensure_ascii=False)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(partial, self.path)
        except OSError as error:
            raise TransportError(f"cannot record temporary file names in {self.path} (state_dir): "
                                 f"{error.strerror}") from None


class Upload(Conversation):
    """One session's share of the files, said to smbclient as the session goes (see session.Conversation): the
    folders they need created first (parents first; one that exists answers a harmless collision), then each
    file put under its temporary name with its time set, then, once the session said that went well, renamed
    into place by the same session; a temporary file whose put or rename went wrong is deleted. With `keep`
    (keeping.SessionKeeping, for a destination that keeps versions), a file that replaces a copy on the share
    (`replaces(path)`) first has that copy moved into the versions folder, its folders made once per session;
    a copy that cannot be moved is not replaced (the file fails, its temporary file deleted). Last, with a
    list_command, the same session lists the folders whose files it renamed (no session more for that).

    `renamed`: the paths now under their real name; `problems`: {path: messages} for the others;
    `deleted`: paths whose temporary file is known gone (renamed or deleted); `folder_problems`: {folder:
    messages} of the mkdirs; `listed`: {folder: its listing's lines}."""

    AHEAD = 4  # files said ahead of the answers, so the session never waits for us

    def __init__(self, paths, put_commands, rename_command, delete_command, folders=(), before=(),
                 list_command=None, keep=None, replaces=lambda path: False):
        self.paths = paths
        self.put_commands, self.rename_command, self.delete_command = put_commands, rename_command, delete_command
        self.folders = list(folders)  # mkdir commands' folders, as the share spells them
        self.before = list(before)  # commands said first, whose messages nobody reads (deletes of leftovers)
        self.list_command = list_command  # folder -> the `ls` that lists it; None: no listing at the end
        self.keep, self.replaces = keep, replaces
        self.folders_said = {}  # {path: what the mkdirs of its versions folders said, besides collisions}
        self.said = 0  # files whose put was written
        self.ended = 0  # files with nothing more to say
        self.pending = []  # messages since the last marker
        self.raw = []  # lines since the last marker, as said (a listing's)
        self.renamed, self.deleted, self.problems = set(), set(), {}
        self.folder_problems, self.listed, self.to_list = {}, {}, []

    def opening(self):
        commands = [*self.before, MARKER.format(START)]
        for index, folder in enumerate(self.folders):
            commands += [f"mkdir {quoted(folder)}", MARKER.format(f"m{index}")]
        for _ in range(min(self.AHEAD, len(self.paths))):
            commands += self.next_put()
        return commands if self.paths else [*commands, None]

    def next_put(self):
        index, self.said = self.said, self.said + 1
        return [*self.put_commands(self.paths[index]), MARKER.format(f"p{index}")]

    def hear(self, line):
        marker = MARKER_LINE.search(line) if line.startswith(MARKER_ANSWER) else None  # not a file so named
        if not marker:
            self.raw.append(line)
            if not QUIET_LINES.match(line):
                self.pending.append(line.strip())
            return ()
        (said, self.pending), (raw, self.raw) = (self.pending, []), (self.raw, [])
        if marker.group(1) == START:
            return ()
        step, index = marker.group(1)[0], int(marker.group(1)[1:])
        if step == "m":
            if said:
                self.folder_problems[self.folders[index]] = said
            return ()
        if step == "l":
            self.listed[self.to_list[index]] = raw
            return ()
        if step == "k":  # the versions folders made: one that is there answers a harmless collision
            self.folders_said[self.paths[index]] = [line for line in said if COLLISION not in line]
            return ()
        commands = self.answer(step, self.paths[index], said, index)
        if step == "p" and self.said < len(self.paths):
            commands += self.next_put()
        return commands + self.closing() if self.ended == len(self.paths) else commands

    def closing(self):
        """The listing of the folders whose files were renamed into place, then the end of stdin."""
        commands = []
        if self.list_command is not None:
            self.to_list = sorted({path.rpartition("/")[0] for path in self.renamed})
            for index, folder in enumerate(self.to_list):
                commands += [self.list_command(folder), MARKER.format(f"l{index}")]
        return [*commands, None]

    def answer(self, step, path, said, index):
        """What to say after the put (p), the move of the old copy into the versions folder (v), the rename (r)
        or the delete (d) of one file went as `said` tells."""
        if said and step == "v" and not all(GONE in line for line in said):  # gone: nothing left to keep
            said = [f"{NOT_KEPT} ({describe(self.folders_said.get(path, []) + said)})"]
        elif step == "v":
            said = []
        if said and step in "prv":
            self.problems[path] = said
            return [self.delete_command(path), MARKER.format(f"d{index}")]
        if step == "p" and self.keep is not None and self.replaces(path):
            folders, move = self.keep.commands(path)
            return [*folders, MARKER.format(f"k{index}"), move, MARKER.format(f"v{index}")]
        if step in "pv":
            return [self.rename_command(path), MARKER.format(f"r{index}")]
        self.ended += 1
        if step == "r":
            self.renamed.add(path)
        if step == "r" or not said:
            self.deleted.add(path)
        return []

    def unfinished(self):
        """The paths a broken session left: no answer yet, or an answer about the connection, not the file."""
        return [path for path in self.paths if path not in self.renamed and
                (path not in self.problems or any(status in problem for problem in self.problems[path]
                                                  for status in UNREACHABLE))]
