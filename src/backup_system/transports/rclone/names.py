"""Local names an rclone remote would store changed, or as one file for two: refused before rclone runs.

rclone reads a local name that is not valid UTF-8 with U+FFFD in place of the bad bytes, and a
control character as its Unicode picture (U+2400 + code: a tab is '␉'); a remote such as S3 then
stores that changed name. rclone also matches names after Unicode normalisation, so `café.txt`
written composed (NFC) and decomposed (NFD) are one file to it: one of the two is lost. Each such
file is refused, with its reason, and left out of the rclone command through an --exclude-from list.
"""

import os
import re
import unicodedata

from ...localtree import is_excluded

# bytes that are not UTF-8 (os.fsdecode's stand-ins) and control characters
UNSENDABLE = re.compile("[\x00-\x1f\x7f\udc80-\udcff]")
GLOB_SPECIAL = re.compile(r"([\\*?\[\]{}])")


def local_names(root, exclude=()):
    """Relative paths of everything but folders under root, excludes applied; names only (no stat: an
    entry's type comes from the folder listing), so it costs the no-change run as little as a walk can."""
    found, pending = [], [("", root)]
    while pending:
        prefix, folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # rclone names a folder it cannot read, with the reason
        for entry in entries:
            relative = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if exclude and is_excluded(relative, entry.name, is_dir, exclude):
                continue
            if is_dir:
                pending.append((relative + "/", entry.path))
            else:
                found.append(relative)
    return found


def refusals(paths):
    """(path, reason) for each file the remote would store under another name, or as one file with another."""
    joined = "\n".join(paths)
    if joined.isascii() and not UNSENDABLE.search(joined):
        return []  # the everyday tree: no name can change, no two can fold into one
    found = {}
    for path in paths:
        bad = UNSENDABLE.search(path)
        if bad:
            what = "is not valid UTF-8" if bad.group() >= "\udc80" else "holds a control character"
            found[path] = f"name {what}; the remote would store it under another name"
    by_composed = {}
    for path in paths:
        if path not in found and not path.isascii():
            by_composed.setdefault(unicodedata.normalize("NFC", path), []).append(path)
    for twins in by_composed.values():
        for path in twins if len(twins) > 1 else ():
            others = ", ".join(f"{other} ({form_of(other)})" for other in twins if other != path)
            found[path] = (f"written in Unicode {form_of(path)}, and {others} differs only in that; rclone "
                           f"would keep one file for both")
    return sorted(found.items())


def form_of(path):
    """Which Unicode normalisation form a name is written in, said so a user can tell two alike names apart."""
    if unicodedata.is_normalized("NFC", path):
        return "NFC (composed)"
    return "NFD (decomposed)" if unicodedata.is_normalized("NFD", path) else "mixed form"


def exclude_lines(paths):
    """An --exclude-from file's text leaving out exactly these files: each name as rclone reads it, anchored
    at the source folder, glob characters escaped, a trailing space kept (rclone trims each line)."""
    lines = []
    for path in paths:
        name = GLOB_SPECIAL.sub(r"\\\1", as_rclone_reads(path))
        if name[-1:].isspace():
            name = f"{name[:-1]}[{name[-1]}]"
        lines.append(f"/{name}\n")
    return "".join(lines)


def as_rclone_reads(path):
    """The name rclone gives a local file: U+FFFD for bytes that are not UTF-8, a control character's picture."""
    def replace(found):
        char = found.group()
        if char >= "\udc80":
            return "\ufffd"
        return "\u2421" if char == "\x7f" else chr(0x2400 + ord(char))

    return UNSENDABLE.sub(replace, path)
