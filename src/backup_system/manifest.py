"""The manifest: what a destination should hold for one job — relative path, size, mtime, SHA-256 — kept
beside the data at `<target>/.backup_system/MANIFEST`, so `verify` can tell a missing, changed or
unexpected file there without trusting the backup that wrote it.

After each successful job the manifest is brought up to date from the previous one (kept in the
destination's state folder) and what the job did: only the files sent are read and hashed, files a
mirror deleted leave it, and a run that changed nothing reads no file and writes nothing. The first
manifest of a job hashes the whole source once. It is uploaded through the job's own transport,
after the data; a manifest that cannot be written is a warning, never the job's failure.

The file is text: a header line, then one line per file `sha256<TAB>size<TAB>mtime<TAB>path`, the
path with backslash, tab and newline escaped (\\\\, \\t, \\n).
"""

import os
from collections import namedtuple

from .errors import BackupError

FOLDER = ".backup_system"
NAME = "MANIFEST"
HEADER = "# backup_system manifest 1: sha256, size, mtime, path"
ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n"}

Entry = namedtuple("Entry", "path size mtime sha256")


def location(target):
    """Where a job's manifest lives at its destination."""
    return f"{target.rstrip('/')}/{FOLDER}/{NAME}"


def state_path(job):
    """The last manifest written for this job, in the destination's state folder (source names may hold '/')."""
    return os.path.join(job.state_dir, "manifests", job.source.name.replace("%", "%25").replace("/", "%2F"))


def escape(path):
    return "".join(ESCAPES.get(char, char) for char in path)


def unescape(text):
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append({"\\": "\\", "t": "\t", "n": "\n"}.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def parse(text):
    """{path: Entry} of a manifest's text; lines that are not entries are skipped."""
    entries = {}
    for line in text.splitlines():
        if line.startswith("#") or line.count("\t") < 3:
            continue
        digest, size, mtime, path = line.split("\t", 3)
        entries[unescape(path)] = Entry(unescape(path), int(size), float(mtime), digest)
    return entries


def render(entries):
    lines = [HEADER] + [f"{entry.sha256}\t{entry.size}\t{entry.mtime:.0f}\t{escape(entry.path)}"
                        for entry in sorted(entries.values())]
    return "\n".join(lines) + "\n"


def read(path):
    """{path: Entry} of a manifest file, or None when there is none."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            return parse(stream.read())
    except FileNotFoundError:
        return None


def sha256(path):
    import hashlib  # only when a file is read: a run that sends nothing does not load it

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_of(root, relative):
    """The Entry of one local file now, or None when it is gone or unreadable."""
    path = os.path.join(root, relative)
    try:
        info = os.stat(path)
        return Entry(relative, info.st_size, int(info.st_mtime), sha256(path))
    except OSError:
        return None


def updated(previous, job, outcome):
    """The manifest after this job: the previous one with the files sent re-read and those a mirror deleted
    dropped; the whole source hashed when there is no previous one."""
    root = job.source.path
    if previous is None:
        from .localtree import scan

        files, _ = scan(root, job.source.exclude)
        paths = files
        entries = {}
    else:
        paths = outcome.sent
        entries = dict(previous)
    for relative in paths:
        entry = entry_of(root, relative)
        if entry is not None:
            entries[relative] = entry
    for relative, _ in outcome.removed_paths:
        entries.pop(relative, None)
    return entries


def after_job(job, outcome, transport, log):
    """Bring the job's manifest up to date here and at its destination (see the module's docstring)."""
    if job.dry_run or job.destination.direction != "push":
        return
    kept = state_path(job)
    pending = kept + ".pending"  # the manifest here is newer than the one at the destination
    if not outcome.sent and not outcome.removed_paths and os.path.exists(kept) and not os.path.exists(pending):
        return  # nothing changed: nothing read, nothing written
    previous = read(kept)
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    with open(kept + ".new", "w", encoding="utf-8", errors="surrogateescape") as stream:
        stream.write(render(updated(previous, job, outcome)))
    open(pending, "w").close()
    os.replace(kept + ".new", kept)
    try:
        transport.put_file(kept, location(job.target))
    except BackupError as error:
        log.warning(f"the manifest could not be written to the destination: {error} (verify needs it; the next "
                    f"run tries again)")
        return
    os.remove(pending)
