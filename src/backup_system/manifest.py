"""The manifest: what a destination should hold for one job — relative path, size, mtime, SHA-256 — kept
beside the data at `<target>/.backup_system/MANIFEST`, so `verify` can tell a missing, changed or
unexpected file there without trusting the backup that wrote it.

After each successful job the manifest is brought up to date from the previous one (kept in the
destination's state folder) and what the job did: only the files sent are read and hashed, files a
mirror deleted leave it, and a run that changed nothing reads no file and writes nothing. The first
manifest of a job hashes the whole source once. It is uploaded through the job's own transport,
after the data; a manifest that cannot be written is a warning, never the job's failure.

A destination in `mode: snapshot` (rsync) keeps one manifest per snapshot instead, at
`<target>/<snapshot>/.backup_system/MANIFEST` beside the snapshot's completion marker: what that snapshot
held, so an old snapshot can be verified against its own. It is written after the snapshot is complete
(a snapshot without one, cut off between the two, is verified as "no manifest"), and hard-linked to the
previous snapshot's when nothing changed, so a no-change run stores no new bytes for it. A snapshot is
a fresh tree (a file gone from the source is not in it), so its manifest also drops what left the source:
when the files rsync counted differ from the manifest's, the source is listed (not read) to reconcile.

The file is text: a header line (ending with the number of files), then one line per file
`sha256<TAB>size<TAB>mtime<TAB>path`, the path with backslash, tab and newline escaped (\\\\, \\t, \\n).

BACKUP_SYSTEM_NO_MANIFEST=1 skips all of this: a benchmark aid (bench/manifest.py times a run without the
manifest against one with it), not a setting for users.
"""

import bisect
import os
from collections import namedtuple

from .errors import BackupError

FOLDER = ".backup_system"
NAME = "MANIFEST"
HEADER = "# backup_system manifest 1: sha256, size, mtime, path"
ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n"}
ESCAPING = str.maketrans(ESCAPES)

Entry = namedtuple("Entry", "path size mtime sha256")


def location(target):
    """Where a job's manifest lives at its destination."""
    return f"{target.rstrip('/')}/{FOLDER}/{NAME}"


def state_path(job):
    """The last manifest written for this job, in the destination's state folder (source names may hold '/')."""
    return os.path.join(job.state_dir, "manifests", job.source.name.replace("%", "%25").replace("/", "%2F"))


def escape(path):
    return path.translate(ESCAPING) if "\\" in path or "\t" in path or "\n" in path else path


def unescape(text):
    if "\\" not in text:
        return text  # nearly every name: no loop over its characters
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
    for line in body_of(text):
        fields = line.split("\t", 3)
        if len(fields) == 4:
            path = unescape(fields[3])
            entries[path] = Entry(path, int(fields[1]), float(fields[2]), fields[0])
    return entries


def body_of(text):
    """The entry lines of a manifest's text as they are, in its order (by path); the header has no tab. Split
    at "\n" only: a name may hold any other line break."""
    return [line for line in text.split("\n") if "\t" in line]


def path_of(line):
    return unescape(line.rpartition("\t")[2])  # the path is last, its own tabs escaped


def line_of(entry):
    return f"{entry.sha256}\t{entry.size}\t{entry.mtime:.0f}\t{escape(entry.path)}"


def render(lines):
    """The text of a manifest of these entry lines (sorted by path)."""
    return "\n".join([f"{HEADER}; {len(lines)} files", *lines]) + "\n"  # the count: see after_snapshot


def put(lines, path, line):
    """Put `line` in the place of `path` in lines sorted by path, replacing its old one; None takes it out. A binary
    search: a run that sent a few of many files does not parse the other lines."""
    index = bisect.bisect_left(lines, path, key=path_of)
    present = index < len(lines) and path_of(lines[index]) == path
    if present and line is None:
        del lines[index]
    elif present:
        lines[index] = line
    elif line is not None:
        lines.insert(index, line)


def read(path, parsed=parse):
    """{path: Entry} of a manifest file (`parsed=body_of`: its entry lines), or None when there is none."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            return parsed(stream.read())
    except FileNotFoundError:
        return None


def count_of(path):
    """The number of files the manifest file says it holds (its header), or None when unknown or absent."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            header = stream.readline()
    except FileNotFoundError:
        return None
    words = header.rsplit("; ", 1)[-1].split()
    return int(words[0]) if header.startswith(HEADER) and len(words) == 2 and words[0].isdigit() else None


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
    """The manifest's lines after this job: the previous ones (body_of) with the files sent re-read and those a
    mirror deleted dropped; the whole source hashed when there is no previous one."""
    root = job.source.path
    if previous is None:
        from .localtree import scan

        files, _ = scan(root, job.source.exclude)
        return [line_of(entry) for path in sorted(files) if (entry := entry_of(root, path)) is not None]
    lines = list(previous)
    for relative in outcome.sent:
        entry = entry_of(root, relative)
        if entry is not None:
            put(lines, relative, line_of(entry))
    for relative, _ in outcome.removed_paths:
        put(lines, relative, None)
    return lines


def reconciled(lines, job):
    """The lines made to match the source's files now: those gone dropped, any not yet there read and hashed (a
    snapshot holds exactly the source's files)."""
    from .localtree import scan

    files, _ = scan(job.source.path, job.source.exclude)
    lines = [line for line in lines if path_of(line) in files]
    missing = set(files).difference(map(path_of, lines))
    for relative in sorted(missing):
        entry = entry_of(job.source.path, relative)
        if entry is not None:
            put(lines, relative, line_of(entry))
    return lines


def write_state(kept, lines):
    """The job's manifest here, replaced in one rename."""
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    with open(kept + ".new", "w", encoding="utf-8", errors="surrogateescape") as stream:
        stream.write(render(lines))
    os.replace(kept + ".new", kept)


def after_job(job, outcome, transport, log):
    """Bring the job's manifest up to date here and at its destination (see the module's docstring)."""
    if job.dry_run or job.destination.direction != "push" or os.environ.get("BACKUP_SYSTEM_NO_MANIFEST") == "1":
        return
    if getattr(job.destination.options, "mode", "copy") == "snapshot":
        return after_snapshot(job, outcome, transport, log)
    kept = state_path(job)
    pending = kept + ".pending"  # the manifest here is newer than the one at the destination
    if not outcome.sent and not outcome.removed_paths and os.path.exists(kept) and not os.path.exists(pending):
        return  # nothing changed: nothing read, nothing written
    previous = read(kept, body_of)
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    open(pending, "w").close()  # before the new manifest here, so a run cut off between the two still uploads
    write_state(kept, updated(previous, job, outcome))
    try:
        transport.put_file(kept, location(job.target))
    except BackupError as error:
        log.warning(f"the manifest could not be written to the destination: {error} (verify needs it; the next "
                    f"run tries again)")
        return
    os.remove(pending)


def after_snapshot(job, outcome, transport, log):
    """mode: snapshot: the manifest here brought up to date, then put into the snapshot this run completed
    (none when it completed none: a failed run's snapshot is never verified)."""
    kept = state_path(job)
    counted = len(outcome.sent) + outcome.unchanged  # the files rsync put into the snapshot
    changed = bool(outcome.sent or outcome.removed_paths or outcome.failures or count_of(kept) != counted)
    if changed:
        lines = updated(read(kept, body_of), job, outcome)
        write_state(kept, lines if len(lines) == counted and not outcome.failures else reconciled(lines, job))
    taken = getattr(transport, "snapshot_taken", None)  # set by the snapshot run (transports/rsync/snapshot.py)
    if taken is None:
        return
    try:
        transport.verbs("snapshot").put_manifest(transport, kept, taken, link=not changed)
    except BackupError as error:
        log.warning(f"the manifest could not be written into the snapshot: {error} (verify cannot check that "
                    f"snapshot; the next one gets its own)")
