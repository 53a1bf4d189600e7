"""The local side of a job: the regular files of a source folder, excludes applied.

Used by the transports that compare trees themselves (smb) and by anything that needs to
know what a source holds. Symbolic links and special files are reported, never followed.
"""

import fnmatch
import os
import stat
from collections import namedtuple

LocalFile = namedtuple("LocalFile", "path size mtime")
LocalFile.__doc__ = "A regular file: relative path with '/' separators, size in bytes, mtime in seconds."


def folder_problem(path):
    """Why `path` cannot be read as a source folder, or None."""
    if os.path.isdir(path):
        return None
    if os.path.lexists(path):
        return f"source {path} is not a folder"
    return f"source folder {path} does not exist"


def scan(root, exclude=()):
    """({relative path: LocalFile}, [(relative path, why it was skipped)]) for the tree under root."""
    files, skipped = {}, []
    _walk(root, "", exclude, files, skipped)
    return files, skipped


def _walk(folder, prefix, exclude, files, skipped):
    try:
        entries = list(os.scandir(folder))
    except OSError as error:
        skipped.append((prefix.rstrip("/") or ".", f"cannot read folder: {error.strerror}"))
        return
    for entry in sorted(entries, key=lambda item: item.name):
        relative = prefix + entry.name
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as error:
            skipped.append((relative, error.strerror))
            continue
        is_dir = stat.S_ISDIR(info.st_mode)
        if is_excluded(relative, entry.name, is_dir, exclude):
            continue
        if is_dir:
            _walk(entry.path, relative + "/", exclude, files, skipped)
        elif stat.S_ISREG(info.st_mode):
            files[relative] = LocalFile(relative, info.st_size, info.st_mtime)
        elif stat.S_ISLNK(info.st_mode):
            skipped.append((relative, "symbolic link, not followed"))
        else:
            skipped.append((relative, "special file (device, socket or pipe), not sent"))


def is_excluded(relative, name, is_dir, patterns):
    """rsync's exclude rules, simplified: a pattern without '/' matches a name at any depth; with '/' the
    end of the relative path; a leading '/' anchors it at the source folder; a trailing '/' means folders only."""
    for pattern in patterns:
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        if pattern.startswith("/"):
            matched = fnmatch.fnmatchcase(relative, pattern[1:])
        elif "/" in pattern:
            matched = fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, "*/" + pattern)
        else:
            matched = fnmatch.fnmatchcase(name, pattern)
        if matched:
            return True
    return False
