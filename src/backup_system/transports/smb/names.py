"""Which names SMB can store as they are, and the temporary names our uploads use."""

import hashlib
import re

TEMP_NAME = re.compile(r"^\.bs~[0-9a-f]{16}\.tmp$")
FORBIDDEN_CHARACTERS = set('*:?"<>|\\') | {chr(code) for code in range(32)} | {"\x7f"}
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
MAX_NAME_BYTES = 255


def has_control_character(text):
    return any(ord(char) < 32 or char == "\x7f" for char in text)


def refusal(relative):
    """Why SMB cannot store this path under its own name, or None when it can."""
    for name in relative.split("/"):
        what = "folder name" if name != relative.rsplit("/", 1)[-1] else "name"
        if any("\udc80" <= char <= "\udcff" for char in name):
            return f"{what} is not valid UTF-8"
        bad = sorted(set(name) & FORBIDDEN_CHARACTERS)
        if bad:
            shown = " ".join(repr(char)[1:-1] for char in bad)
            return f"SMB cannot store {shown} in a {what}"
        if name.endswith((" ", ".")):
            return f"{what} ends with a {'space' if name.endswith(' ') else 'dot'}, which SMB lists back mangled"
        if name.split(".", 1)[0].upper() in RESERVED_NAMES:
            return f"{what} {name.split('.', 1)[0]!r} is reserved on Windows (listed back mangled)"
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return f"{what} is longer than {MAX_NAME_BYTES} bytes"
    return None


def refusals(local):
    """(path, reason) for each local file SMB cannot store under its own, distinct name."""
    by_folded_name = {}
    for path in local:
        by_folded_name.setdefault(path.casefold(), []).append(path)
    found = []
    for path in local:
        reason = refusal(path)
        if reason is None and len(by_folded_name[path.casefold()]) > 1:
            others = ", ".join(other for other in by_folded_name[path.casefold()] if other != path)
            reason = f"differs only in letter case from {others}; SMB would keep one file for both"
        if reason:
            found.append((path, reason))
    return found


def temp_name(relative):
    """A short temporary name in the file's own folder; TEMP_NAME recognises leftovers."""
    folder, _, name = relative.rpartition("/")
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    temp = f".bs~{digest}.tmp"
    return f"{folder}/{temp}" if folder else temp
