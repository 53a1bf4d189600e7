"""The compression stage's engine: one zip or 7z archive of a source, rebuilt only when the source changed.

Layout, per source:

    <output_dir>/<source name>/<name>-<YYYYmmdd-HHMMSS>.<zip|7z>
    <output_dir>/<source name>/<name>-<YYYYmmdd-HHMMSS>.<zip|7z>.manifest.json

<name> is the last part of the source name (the roots child `scans/run1` gives `run1`). The
manifest lists what the archive holds, [relative path, size, mtime in ns] per file, so the
everyday no-change check is a tree scan and a comparison, with no file contents read.

An archive is written under a temporary name `.<final name>.partial` in the same folder,
tested, and only then renamed into place, so a failed or killed build never leaves a file
under a final name; the next build removes the leftovers.

The formats themselves (zip, 7z) are archive_formats.py. json, zipfile, zlib and py7zr are
imported inside the functions that need them: this module is imported whenever a source is
archived, and an archive reused unchanged needs none of them but json.
"""

import os
import re
import time
from collections import namedtuple

from . import localtree
from .archive_formats import WRITERS, check_archive, storable
from .errors import CompressionError
from .versions import expired

ArchiveResult = namedtuple("ArchiveResult", "source path reused files_in bytes_in bytes_out seconds skipped")
ArchiveResult.__doc__ = ("One source's archive this run: its path (None in a dry run), whether the newest one was "
                         "reused, files and bytes in, archive bytes, seconds, and [(relpath, why)] left out.")

FORMATS = ("zip", "7z")
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
# What a transport leaves out when it sends an archive folder: our manifests and unfinished files.
ARCHIVE_EXCLUDES = ("*" + MANIFEST_SUFFIX, ".*" + PARTIAL_SUFFIX)
ARCHIVE_NAME = re.compile(r"^(?P<name>[^.].*)-(?P<stamp>\d{8}-\d{6})\.(?P<format>zip|7z)$")
STAMP_FORMAT = "%Y%m%d-%H%M%S"
MANIFEST_VERSION = 1

def archive_folder(output_dir, source_name):
    """Where a source's archives live: output_dir/<source name> (`scans/run1` -> output_dir/scans/run1)."""
    return os.path.join(output_dir, *source_name.split("/"))


def build_archive(source, output_dir, fmt, level, keep, log, dry_run=False, now=None):
    """Archive one source unless its newest archive already holds exactly its files; return an ArchiveResult.

    Keeps the `keep` newest archives of the source and deletes older ones (in output_dir only).
    A dry run writes and deletes nothing and returns path None. `now` (seconds since the epoch
    or a datetime) names the archive; default the current time. Raises CompressionError.
    """
    started = time.monotonic()
    if fmt not in FORMATS:
        raise CompressionError(f"cannot archive {source.name}: unknown format {fmt!r} (zip or 7z)")
    problem = localtree.folder_problem(source.path)
    if problem:
        raise CompressionError(f"cannot archive {source.name}: {problem}")
    files, skipped = localtree.scan(source.path, source.exclude)
    # refused by name before the no-change check, so a refused file does not make every run a new archive
    files, refused = storable(files, fmt)
    skipped += refused
    entries = without_gc(manifest_entries, files)
    folder = archive_folder(output_dir, source.name)
    newest = newest_archive(folder)
    reused = newest is not None and newest.endswith("." + fmt) and without_gc(read_entries, newest) == entries
    bytes_in = sum(entry[1] for entry in entries)
    if dry_run:
        return ArchiveResult(source.name, None, reused, len(entries), bytes_in, 0, time.monotonic() - started,
                             skipped)
    if reused:
        log.info(f"unchanged since {os.path.basename(newest)}: no new archive")
        remove_old_archives(folder, keep, log)
        return ArchiveResult(source.name, newest, True, len(entries), bytes_in, os.path.getsize(newest),
                             time.monotonic() - started, skipped)
    path = unused_archive_path(folder, source.name, fmt, now)
    written, left_out = write_tested_archive(path, fmt, level, source.path, files, log)
    # The manifest records each file as it was opened, so it describes what the archive holds even
    # when a file changed after the scan; the next scan then sees the difference and rebuilds.
    entries = [[name, info.st_size, round(info.st_mtime * 1e9)] for name, info in written.items()]
    write_manifest(path, source.name, fmt, level, entries)
    remove_old_archives(folder, keep, log)
    bytes_in, bytes_out = sum(entry[1] for entry in entries), os.path.getsize(path)
    seconds = time.monotonic() - started
    log.info(f"built {os.path.basename(path)}: {len(entries)} files, {bytes_in} -> {bytes_out} bytes "
             f"in {seconds:.1f} s")
    return ArchiveResult(source.name, path, False, len(entries), bytes_in, bytes_out, seconds,
                         skipped + left_out)


def unused_archive_path(folder, source_name, fmt, now=None):
    """The new archive's path; a second build within the same second takes the next second's name, so an
    archive already sent somewhere is never replaced by different content under the same name."""
    now = time.time() if now is None else (now.timestamp() if hasattr(now, "timestamp") else now)
    while os.path.exists(path := os.path.join(folder, archive_name(source_name, fmt, now))):
        now += 1
    return path


def archive_name(source_name, fmt, now=None):
    """`<last part of the source name>-<YYYYmmdd-HHMMSS>.<fmt>`, in local time."""
    if now is None:
        now = time.time()
    elif hasattr(now, "timestamp"):
        now = now.timestamp()
    return f"{source_name.rsplit('/', 1)[-1]}-{time.strftime(STAMP_FORMAT, time.localtime(now))}.{fmt}"


def manifest_entries(files):
    """Sorted [relative path, size, mtime in ns] of scanned files: what the no-change check compares.

    localtree gives st_mtime as float seconds; its integer ns form is the same number for the
    same stat on every run, which is all the comparison needs.
    """
    return [[name, local.size, round(local.mtime * 1e9)] for name, local in sorted(files.items())]


def without_gc(function, *args):
    """function(*args) with the cyclic garbage collector paused.

    Building a list per file, 100,000 of them, triggers collections that more than double the
    time of the no-change check's own part (0.13 s -> 0.05 s for 100,000 files, measured).
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return function(*args)
    finally:
        if was_enabled:
            gc.enable()


# --- the archive folder ----------------------------------------------------------------------------

def archives_in(folder, names=None):
    """Our archives in one folder (whose entries are `names`, when known), oldest first by the time in their names."""
    return [path for _, _, path in dated_archives(folder, names)]


def dated_archives(folder, names=None):
    """(stamp in the name, mtime in ns, path) of each archive in one folder, oldest first.

    Two archives of one second (the format was switched): the one written last is the newer.
    """
    try:
        names = os.listdir(folder) if names is None else names
    except OSError:
        return []
    found = [(match["stamp"], os.path.join(folder, name)) for name in names if (match := ARCHIVE_NAME.match(name))]
    return sorted((stamp, modified_ns(path), path) for stamp, path in found)


def modified_ns(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def newest_archive(folder):
    archives = archives_in(folder)
    return archives[-1] if archives else None


def remove_old_archives(folder, keep, log):
    """Delete all but the `keep` newest archives with their manifests, and manifests whose archive is gone."""
    for _, _, path in expired(dated_archives(folder), keep):
        for doomed in (path, path + MANIFEST_SUFFIX):
            remove_quietly(doomed, log)
        log.info(f"removed the old archive {os.path.basename(path)} (keep: {keep})")
    for name in os.listdir(folder):
        if name.endswith(MANIFEST_SUFFIX) and not os.path.exists(os.path.join(folder, name[:-len(MANIFEST_SUFFIX)])):
            remove_quietly(os.path.join(folder, name), log)


def remove_leftovers(folder, log):
    """Remove temporary files of builds that were killed or failed (`.<name>.partial`)."""
    for name in os.listdir(folder):
        if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
            log.info(f"removing {name}, left by an unfinished build")
            remove_quietly(os.path.join(folder, name), log)


def remove_quietly(path, log=None):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        if log is not None:
            log.warning(f"cannot remove {path}: {error.strerror}")


def partial_path(path):
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{PARTIAL_SUFFIX}")


# --- building --------------------------------------------------------------------------------------

def write_tested_archive(path, fmt, level, root, files, log):
    """Write, test and rename the archive into place; return ({name: fstat} written, [(name, why left out)])."""
    name = os.path.basename(path)
    partial = partial_path(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        remove_leftovers(os.path.dirname(path), log)
        log.debug(f"writing {partial}")
        written, left_out = WRITERS[fmt](partial, root, files, level)
        changed = changed_since(root, written)
        for member in changed:
            log.warning(f"{member} changed while it was archived: the archive holds it as it was read")
        # a file that changed while it was read may be stored at either size; every other must match
        check_archive(partial, fmt, {member: None if member in changed else info.st_size
                                     for member, info in written.items()})
        os.replace(partial, path)
    except CompressionError as error:
        raise CompressionError(f"cannot build {name}: the new archive failed its test: {error}") from None
    except OSError as error:
        raise CompressionError(f"cannot build {name}: {error.strerror or error}") from None
    finally:
        remove_quietly(partial)  # gone already after os.replace
    return written, left_out


def changed_since(root, written):
    """The members whose file is no longer the one opened (size or time changed, or gone)."""
    changed = []
    for member, info in written.items():
        try:
            now = os.stat(os.path.join(root, member), follow_symlinks=False)
        except OSError:
            changed.append(member)
            continue
        if (now.st_size, now.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
            changed.append(member)
    return changed


def write_manifest(path, source_name, fmt, level, entries):
    """`<archive>.manifest.json`, written after the archive is in place; on failure the archive goes too."""
    import json

    mtimes = [entry[2] for entry in entries]
    manifest = {
        "version": MANIFEST_VERSION, "source": source_name, "archive": os.path.basename(path),
        "format": fmt, "level": level, "created": stamp_time(path),
        "files": len(entries), "bytes": sum(entry[1] for entry in entries),
        "covers_from": iso_time(min(mtimes) / 1e9) if mtimes else None,
        "covers_to": iso_time(max(mtimes) / 1e9) if mtimes else None,
        "entries": entries,
    }
    target = path + MANIFEST_SUFFIX
    partial = partial_path(target)
    try:
        with open(partial, "w", encoding="utf-8", errors="surrogateescape") as stream:
            json.dump(manifest, stream, ensure_ascii=False, separators=(",", ":"))
        os.replace(partial, target)
    except OSError as error:
        remove_quietly(partial)
        remove_quietly(path)  # an archive without its manifest would be rebuilt anyway; leave nothing half-done
        raise CompressionError(f"cannot build {os.path.basename(path)}: cannot write its manifest: "
                               f"{error.strerror or error}") from None


def read_manifest(path):
    """The manifest beside an archive as a dict, or None when it is missing or unreadable."""
    import json

    try:
        with open(path + MANIFEST_SUFFIX, encoding="utf-8", errors="surrogateescape") as stream:
            manifest = json.load(stream)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("version") == MANIFEST_VERSION else None


def read_entries(path):
    manifest = read_manifest(path)
    return manifest.get("entries") if manifest else None


def stamp_time(path):
    """The local time in an archive's name, as ISO 8601 (`2026-11-24T23:15:00`)."""
    stamp = ARCHIVE_NAME.match(os.path.basename(path))["stamp"]
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"


def iso_time(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))


# --- listing and testing ---------------------------------------------------------------------------

def list_archives(output_dir):
    """Every archive under output_dir, by source then age: dicts of source, path, size, files, covers_from,
    covers_to, created (files and covers_* are None when the manifest is missing)."""
    found = []
    for folder, _folders, names in os.walk(output_dir):
        relative = os.path.relpath(folder, output_dir).replace(os.sep, "/")
        for path in archives_in(folder, names):
            source = relative if relative != "." else ARCHIVE_NAME.match(os.path.basename(path))["name"]
            manifest = read_manifest(path) or {}
            found.append({"source": source, "path": path, "size": os.path.getsize(path),
                          "files": manifest.get("files"), "covers_from": manifest.get("covers_from"),
                          "covers_to": manifest.get("covers_to"), "created": stamp_time(path)})
    return sorted(found, key=lambda archive: (archive["source"], archive["created"], archive["path"]))


def test_archive(path):
    """Check every member's CRC, and that the members are the files the manifest lists; raise CompressionError."""
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise CompressionError(f"{path}: not a .zip or .7z archive")
    if not os.path.isfile(path):
        raise CompressionError(f"{path}: no such archive")
    entries = read_entries(path)
    expected = {entry[0]: entry[1] for entry in entries} if entries is not None else None
    try:
        check_archive(path, fmt, expected)
    except CompressionError as error:
        raise CompressionError(f"{path} failed its test: {error}") from None
