"""The two archive formats: writing a zip or a 7z of a source's files, reading one back to check it, and
unpacking one safely for a restore.

zipfile, zlib and py7zr are imported inside the functions that need them: the compression
stage is on every run's path, compression on or not.
"""

import os
import re
import stat
import time
from collections import namedtuple

from .errors import CompressionError

COPY_CHUNK = 1 << 20  # bytes read from a source file at a time
WRITE_BUFFER = 8 << 20  # few large writes to the archive instead of many small ones
# The head of a file deflated at level 1 to see whether deflating pays. 16 KiB, not 64: lab CSVs are
# often under 64 KiB, and trying all of each cost 8% of a zip build (bench/compress.py).
TRIAL_BYTES = 16 << 10
STORE_WHEN_SAVING_BELOW = 0.03
# Formats that are compressed already: deflating them again costs time and saves nothing.
ALREADY_COMPRESSED = frozenset(
    ".png .jpg .jpeg .gif .webp .heic .avif .jp2 .gz .tgz .bz2 .xz .zst .lz4 .zip .7z .rar .jar .whl "
    ".mp4 .m4v .mov .mkv .webm .avi .mp3 .m4a .aac .ogg .opus .flac".split())



# What no archive keeps as it is: bytes that are not UTF-8 (os.fsdecode's stand-ins) and control characters;
# 7z also takes '\\' for a folder separator.
UNSTORABLE = {"zip": re.compile("[\x00-\x1f\x7f\udc80-\udcff]"),
              "7z": re.compile("[\x00-\x1f\x7f\\\\\udc80-\udcff]")}


def refusal(name, fmt):
    """Why a file of this relative name cannot go in a `fmt` archive and come back out under its own name, or None."""
    found = UNSTORABLE[fmt].search(name)
    if found is None:
        return None
    if "\udc80" <= found.group() <= "\udcff":
        return "name is not valid UTF-8, cannot be stored in an archive"
    if found.group() == "\\":
        return "name holds '\\', which 7z takes for a folder separator; a zip archive can store it"
    return "name holds a control character, which unzip and 7-Zip drop or change when unpacking"


def storable(files, fmt):
    """The files a `fmt` archive can hold under their own names, and (name, reason) for each of the others.

    One search over all the names first: the everyday tree has none to refuse, and a search per name
    would cost the no-change check about as much as the rest of it.
    """
    if not UNSTORABLE[fmt].search("/".join(files)):
        return files, []
    refused = [(name, reason) for name in files if (reason := refusal(name, fmt))]
    left_out = {name for name, _ in refused}
    return {name: local for name, local in files.items() if name not in left_out}, refused


def open_regular(path):
    """A binary stream and fstat of a regular file; never follows a link or blocks on a pipe.

    The scan saw a regular file, but it may have been replaced since; raises OSError.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise OSError("not a regular file any more")
    return os.fdopen(descriptor, "rb", buffering=0), info


def readable_files(root, files):
    """Yield (name, open stream, fstat) per file; names that cannot go in go to the returned list instead."""
    unreadable = []

    def generate():
        for name in files:
            try:
                name.encode("utf-8")
                stream, info = open_regular(os.path.join(root, name))
            except UnicodeEncodeError:
                unreadable.append((name, "name is not valid UTF-8, cannot be stored in an archive"))
                continue
            except OSError as error:
                unreadable.append((name, f"cannot read: {error.strerror or error}"))
                continue
            with stream:
                yield name, stream, info

    return generate(), unreadable


def write_zip(partial, root, files, level):
    """A zip of the files with relative paths, mtimes and modes; compressible files deflated at `level`."""
    import zipfile

    written = {}
    members, unreadable = readable_files(root, files)
    with open(partial, "wb", buffering=WRITE_BUFFER) as output, \
            zipfile.ZipFile(output, "w", allowZip64=True) as archive:
        for name, stream, info in members:
            add_zip_member(archive, name, stream, info, level)
            written[name] = info
    return written, unreadable


def add_zip_member(archive, name, stream, info, level):
    import zipfile

    head = stream.read(min(TRIAL_BYTES, info.st_size))
    member = zipfile.ZipInfo(name, date_time=dos_date_time(info.st_mtime))
    member.external_attr = (stat.S_IMODE(info.st_mode) | stat.S_IFREG) << 16
    member.extra = extended_timestamp(info.st_mtime)
    member.file_size = info.st_size  # lets zipfile choose ZIP64 headers up front for a file over 4 GiB
    if worth_deflating(name, head):
        member.compress_type = zipfile.ZIP_DEFLATED
        member._compresslevel = level  # no public per-member level before Python 3.13
    left = info.st_size - len(head)  # the size when opened: a log still being written cannot grow the copy forever
    with archive.open(member, "w") as target:
        target.write(head)
        while left > 0 and (chunk := stream.read(min(COPY_CHUNK, left))):
            target.write(chunk)
            left -= len(chunk)


def worth_deflating(name, head):
    """False for known compressed formats and for data whose first 16 KiB deflate saves under 3%."""
    import zlib

    if os.path.splitext(name)[1].lower() in ALREADY_COMPRESSED:
        return False
    return len(zlib.compress(head, 1)) < len(head) * (1 - STORE_WHEN_SAVING_BELOW)


def dos_date_time(mtime):
    """The zip header's local date and time (2 s steps, 1980-2107); the exact time is in the 0x5455 field."""
    fields = time.localtime(mtime)[:6]
    return max(min(fields, (2107, 12, 31, 23, 59, 58)), (1980, 1, 1, 0, 0, 0))


def extended_timestamp(mtime):
    """The 0x5455 extra field with the UTC mtime in seconds, which unzip restores exactly."""
    import struct

    seconds = max(min(int(mtime), 2**31 - 1), -(2**31))
    return struct.pack("<HHBl", 0x5455, 5, 1, seconds)


def write_7z(partial, root, files, level):
    """A 7z (LZMA2 at preset `level`) of the files with relative paths and mtimes, through py7zr."""
    import py7zr

    written = {}
    members, unreadable = readable_files(root, files)
    filters = [{"id": py7zr.FILTER_LZMA2, "preset": level}]
    # Our own file object: when a write fails (disk full), py7zr's close raises before it closes the file.
    with open(partial, "wb", buffering=WRITE_BUFFER) as output, \
            py7zr.SevenZipFile(output, "w", filters=filters) as archive:
        for name, _stream, info in members:
            # py7zr reads by path and takes the mtime from the file; the open stream proved it readable.
            archive.write(os.path.join(root, name), name)
            written[name] = info
    return written, unreadable


WRITERS = {"zip": write_zip, "7z": write_7z}


def check_archive(path, fmt, expected=None):
    """Read back every member (CRC checks); with `expected` {name: size}, the members must be exactly those."""
    try:
        members = CHECKERS[fmt](path)
    except (CompressionError, MemoryError):
        raise
    except Exception as error:  # a damaged archive can break a reader in any way: say how, as one line
        raise CompressionError(f"cannot be read back: {error}") from None
    if expected is not None and (members.keys() != expected.keys() or
                                 any(size is not None and members[name] != size for name, size in expected.items())):
        raise CompressionError(describe_difference(members, expected))


def describe_difference(members, expected):
    """One line on how an archive's {name: size} differs from the expected one."""
    missing = sorted(set(expected) - set(members))
    if missing:
        return f"{len(missing)} listed files missing (first: {missing[0]})"
    extra = sorted(set(members) - set(expected))
    if extra:
        return f"{len(extra)} files not in the list (first: {extra[0]})"
    changed = sorted(name for name in expected if expected[name] is not None and members[name] != expected[name])
    return f"{len(changed)} files of another size than listed (first: {changed[0]})"


def check_zip(path):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise CompressionError(f"{bad}: CRC mismatch")
        return {member.filename: member.file_size for member in archive.infolist() if not member.is_dir()}


def check_7z(path):
    import py7zr

    with py7zr.SevenZipFile(path) as archive:
        members = {member.filename: member.uncompressed for member in archive.list() if not member.is_directory}
        bad = archive.testzip()
        if bad is not None:
            raise CompressionError(f"{bad}: CRC mismatch")
    return members


CHECKERS = {"zip": check_zip, "7z": check_7z}


# --- unpacking, for restore ------------------------------------------------------------------------

Member = namedtuple("Member", "name size mtime")


def unpack(path, fmt, into, unsafe_name):
    """Unpack the archive's regular files under `into`: ([Member], [(name, why it was refused)]).

    A member whose name `unsafe_name(name)` refuses (absolute, `..`) or that is a symbolic link is not
    written anywhere, and is reported. Modification times come from the archive (zip: the exact UTC
    time of the 0x5455 field when present, else its 2-second local time)."""
    return UNPACKERS[fmt](path, into, unsafe_name)


def unpack_zip(path, into, unsafe_name):
    import zipfile

    members, refused = [], []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            problem = unsafe_name(info.filename)
            if problem is None and stat.S_ISLNK(info.external_attr >> 16):
                problem = "a symbolic link in the archive: not restored, never followed"
            if problem:
                refused.append((info.filename, problem))
                continue
            target = os.path.join(into, info.filename)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as output:
                while block := source.read(1 << 20):
                    output.write(block)
            members.append(Member(info.filename, info.file_size, zip_mtime(info)))
    return members, refused


def zip_mtime(info):
    """The member's exact UTC mtime from its 0x5455 extra field, else its DOS local time."""
    import struct

    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        if kind == 0x5455 and size >= 5 and extra[4] & 1:
            return struct.unpack("<l", extra[5:9])[0]
        extra = extra[4 + size:]
    return time.mktime(info.date_time + (0, 0, -1))


def unpack_7z(path, into, unsafe_name):
    import py7zr

    members, refused, wanted = [], [], []
    with py7zr.SevenZipFile(path) as archive:
        for info in archive.list():
            if info.is_directory:
                continue
            problem = unsafe_name(info.filename)
            if problem is None and info.is_symlink:
                problem = "a symbolic link in the archive: not restored, never followed"
            if problem:
                refused.append((info.filename, problem))
                continue
            wanted.append(info.filename)
            mtime = info.creationtime.timestamp() if info.creationtime else time.time()
            members.append(Member(info.filename, info.uncompressed, mtime))
    if wanted:
        with py7zr.SevenZipFile(path) as archive:
            archive.extract(path=into, targets=wanted)
    return members, refused


UNPACKERS = {"zip": unpack_zip, "7z": unpack_7z}
