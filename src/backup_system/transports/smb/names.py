"""Which names SMB can store as they are, and the temporary names our uploads use."""

import hashlib
import os
import time
from collections import namedtuple

FORBIDDEN_CHARACTERS = set('*:?"<>|\\') | {chr(code) for code in range(32)} | {"\x7f"}
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
MAX_NAME_BYTES = 255
# No extension, so a share's `veto files = /*.tmp/` (or *.part, *.bak) never matches it; the prefix only
# makes it easy to tell apart by eye: what the cleanup removes is decided by the record in state_dir.
TEMP_PREFIX = ".backup_system-"

NameRules = namedtuple("NameRules", "case_sensitive keeps_reserved keeps_trailing_dot")
NameRules.__doc__ = ("What the share stores as it is: names that differ only in letter case, reserved DOS names "
                     "(CON, aux.txt), names ending with a dot. A trailing space is never kept: listings pad names "
                     "with spaces, so it cannot be read back.")
STRICT = NameRules(False, False, False)  # what any Windows server and a default Samba share keep


def has_control_character(text):
    return any(ord(char) < 32 or char == "\x7f" for char in text)


def refusal(relative, rules=STRICT):
    """Why SMB cannot store this path under its own name, or None when it can."""
    for name in relative.split("/"):
        what = "folder name" if name != relative.rsplit("/", 1)[-1] else "name"
        if any("\udc80" <= char <= "\udcff" for char in name):
            return f"{what} is not valid UTF-8"
        bad = sorted(set(name) & FORBIDDEN_CHARACTERS)
        if bad:
            shown = " ".join(repr(char)[1:-1] for char in bad)
            return f"SMB cannot store {shown} in a {what}"
        if name.endswith(" ") or (name.endswith(".") and not rules.keeps_trailing_dot):
            return f"{what} ends with a {'space' if name.endswith(' ') else 'dot'}, which SMB lists back mangled"
        if name.split(".", 1)[0].upper() in RESERVED_NAMES and not rules.keeps_reserved:
            return f"{what} {name.split('.', 1)[0]!r} is reserved on Windows (listed back mangled)"
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return f"{what} is longer than {MAX_NAME_BYTES} bytes"
    return None


def refusals(local, rules=STRICT, among=None):
    """(path, reason) for each local file (of `among`, default all) SMB cannot store under its own, distinct name.

    On a share that ignores letter case, `Report.txt` and `report.txt` would be one file, and
    the files of folders `Data/` and `data/` would land in one folder: both sides are refused
    (the other spellings are looked for among every local file).
    """
    if among is not None and not among:
        return []  # nothing to send: no spelling of every local path to compare (a run with no change)
    twins = {} if rules.case_sensitive else case_twins(local)
    found = []
    for path in local if among is None else among:
        reason = refusal(path, rules) or twin_reason(path, twins)
        if reason:
            found.append((path, reason))
    return found


def case_twins(paths):
    """{folded path or folder: its spellings} for every file or folder path spelled in more than one case."""
    spellings = {}
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            spelled = "/".join(parts[:depth])
            spellings.setdefault(spelled.casefold(), set()).add(spelled)
    return {folded: sorted(spelled) for folded, spelled in spellings.items() if len(spelled) > 1}


def twin_reason(path, twins):
    """Why a path clashes with another spelling of itself or of one of its folders, or None."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        spelled = "/".join(parts[:depth])
        others = [other for other in twins.get(spelled.casefold(), ()) if other != spelled]
        if not others:
            continue
        if depth == len(parts):
            return f"differs only in letter case from {', '.join(others)}; SMB would keep one file for both"
        return (f"its folder {spelled} differs only in letter case from {', '.join(others)}; "
                f"SMB would keep one folder for both")
    return None


def run_token():
    """12 hex digits naming this run's temporary files: from the host, the process and the moment, so two
    machines (or two runs) writing into one shared folder never pick the same temporary name."""
    seed = f"{os.uname().nodename}\0{os.getpid()}\0{time.time_ns()}".encode() + os.urandom(8)
    return hashlib.blake2b(seed, digest_size=6).hexdigest()


def temp_name(relative, token):
    """A short temporary name in the file's own folder, unique per file, host and run."""
    folder, _, name = relative.rpartition("/")
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    temp = f"{TEMP_PREFIX}{token}-{digest}"
    return f"{folder}/{temp}" if folder else temp


def probe_name(token):
    """The folder in which a run tries which names the share keeps (names: server)."""
    return f"{TEMP_PREFIX}{token}-names"
