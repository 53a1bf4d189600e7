"""S3 buckets that keep versions themselves: `versions: true` on an rclone destination whose remote is S3.

A mirror keeps what it replaces or deletes by a server-side copy into `<target>-versions/` (--backup-dir),
which S3 refuses for objects in a cold storage class (DEEP_ARCHIVE, GLACIER): such a mirror would never
upload a changed file nor delete one. A bucket with versioning keeps the old object itself, in any class:

- Before the first job that sends to it, the bucket's versioning is enabled (`rclone backend versioning
  remote:bucket Enabled`, making the bucket first when it is new) and a lifecycle rule expires non-current
  versions under the job's folder keep_days after they were replaced (and the delete markers left with
  nothing behind them). rclone has no lifecycle command: the rule is one GET and one PUT ?lifecycle signed
  in s3_lifecycle.py (AWS Signature V4, standard library), with the endpoint, keys and region rclone itself
  resolves (`rclone config string`: the config
  file, RCLONE_CONFIG_<REMOTE>_*, RCLONE_S3_*, the user's flags). The bucket's other rules are kept. Done
  once per bucket folder and keep_days, remembered in the destination's state folder.
- A mirror runs without --backup-dir: what it deletes or overwrites becomes a non-current version.
- Old versions are read with rclone's flags: `--s3-version-at TIME` lists and copies the folder as it was
  then (restore --at); `--s3-versions --s3-version-deleted` lists every version and delete marker of a file
  (versions list), an old version named `<base>-vYYYY-MM-DD-HHMMSS-mmm<ext>` and a delete marker with size 0
  and none of the metadata rclone gives an upload.
- prune leaves expiry to the bucket's rule.
"""

import os
import re
import time

from ...errors import TimedOut, TransportError
from .. import Listed
from .options import COLD_STORAGE_CLASSES, storage_classes
from .s3_lifecycle import set_lifecycle

VERSION_AT = "--s3-version-at"
EVERY_VERSION = ("--s3-versions", "--s3-version-deleted")
NO_VERSIONING = ("Rclone",)  # S3 providers whose servers keep no versions: `rclone serve s3`
MEMO = "s3-versions-"  # in the destination's state folder: this bucket folder was prepared with these days
VERSION_NAME = r"-v(\d{4}-\d\d-\d\d-\d{6}-\d{3})"
_settings = {}  # (rclone, config file, remote, environment, flags) -> the remote's settings as rclone resolves them


# --- which destinations ----------------------------------------------------------------------------

def native(transport):
    """True when the destination asks for versions (versions: true), pushes, and its remote is an S3 bucket
    whose server keeps versions: then the bucket keeps what a backup replaces or deletes."""
    destination = transport.destination
    if not destination.versions or destination.direction != "push":
        return False
    settings = remote_settings(transport)
    return settings.get("type") == "s3" and settings.get("provider") not in NO_VERSIONING


def remote_settings(transport):
    """The remote's type and keys as rclone resolves them ({} when rclone cannot say); asked once a process."""
    options = transport.destination.options
    key = (options.rclone_binary, options.rclone_config, options.remote, tuple(sorted(options.rclone_env.items())),
           tuple(options.flags))
    if key not in _settings:
        lines = []
        ran = run(transport, ["config", "string", f"{options.remote}:"], on_line=lines.append)
        _settings[key] = parse_connection_string(lines[-1]) if ran.returncode == 0 and lines else {}
    return _settings[key]


def parse_connection_string(text):
    """`:s3,key=value,key='it''s',flag:path` (as `rclone config string` prints it) as {"type": "s3", key: value};
    a bare key is "true"."""
    settings, index, text = {}, 1, text.strip()
    if not text.startswith(":"):
        return settings
    words = []
    while index < len(text) and text[index] != ":":
        match = re.compile(r"[^,:=]*").match(text, index)
        name, index, value = match.group(), match.end(), "true"
        if index < len(text) and text[index] == "=":
            value, index = read_value(text, index + 1)
        words.append((name, value))
        index += 1 if index < len(text) and text[index] == "," else 0
    if words:
        settings["type"] = words[0][0]
        settings.update(words[1:])
    return settings


def read_value(text, index):
    """One value of a connection string from `index`: quoted ('...' or "...", the quote doubled inside) or bare."""
    if index < len(text) and text[index] in "'\"":
        quote, value, index = text[index], "", index + 1
        while index < len(text):
            if text[index] == quote and text[index + 1:index + 2] == quote:
                value, index = value + quote, index + 2
            elif text[index] == quote:
                return value, index + 1
            else:
                value, index = value + text[index], index + 1
        return value, index
    match = re.compile(r"[^,:]*").match(text, index)
    return match.group(), match.end()


def bucket_and_prefix(transport, target):
    """(bucket, folder inside it with a trailing '/', or '' for the whole bucket) of a target remote:bucket/path."""
    remote = transport.destination.options.remote
    path = target[len(remote) + 1:] if target.startswith(remote + ":") else target.partition(":")[2]
    bucket, _, folder = path.strip("/").partition("/")
    return bucket, f"{folder.strip('/')}/" if folder.strip("/") else ""


def kept_in(target):
    """Where a mirror's deleted or replaced file is kept, as the report says it."""
    return f"the bucket's versions of {target}"


# --- before a job sends ----------------------------------------------------------------------------

def before_send(transport, job):
    """Before a job of a destination with versions: true: a bucket that keeps versions is prepared (once); a
    cold storage class on a remote that cannot keep them is refused (its --backup-dir copies would fail)."""
    options = transport.destination.options
    if not getattr(transport.destination, "versions", False):
        return
    if native(transport):
        if not job.dry_run:
            prepare(transport, job)
        return
    cold = [value.strip() for _, value in storage_classes(options) if value.strip().upper() in COLD_STORAGE_CLASSES]
    if cold:
        raise TransportError(f"versions: true with the storage class {cold[0]} needs an S3 bucket that keeps "
                             f"versions itself, and {options.remote}: is none (rclone serve s3, or not S3): "
                             f"copies into a versions folder fail for {cold[0]} objects, so nothing would be sent")


def prepare(transport, job):
    """The job's bucket keeps versions and expires the non-current ones under its folder after keep_days."""
    bucket, prefix = bucket_and_prefix(transport, job.target)
    days = transport.destination.keep_days
    remote = transport.destination.options.remote
    memo = memo_file(job, f"{remote}:{bucket}/{prefix}\0{days}")
    if os.path.exists(memo):
        return
    enable_versioning(transport, f"{remote}:{bucket}")
    set_lifecycle(transport, remote_settings(transport), bucket, prefix, days)
    transport.log.info(f"{remote}:{bucket} keeps versions; a lifecycle rule expires those under "
                       f"{prefix or 'the whole bucket'} {days} days after they were replaced or deleted")
    os.makedirs(os.path.dirname(memo), exist_ok=True)
    with open(memo, "w", encoding="utf-8") as stream:
        stream.write(f"{remote}:{bucket}/{prefix} keep_days {days}\n")


def memo_file(job, key):
    import hashlib

    from .command import state_folder

    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return os.path.join(state_folder(job), f"{MEMO}{digest}")


def enable_versioning(transport, bucket):
    """`rclone backend versioning remote:bucket Enabled`; a bucket not there yet is made first."""
    try:
        try:
            rclone(transport, ["backend", "versioning", bucket, "Enabled"], bucket)
        except TransportError as error:
            if "NoSuchBucket" not in str(error):
                raise
            rclone(transport, ["mkdir", bucket], bucket)
            rclone(transport, ["backend", "versioning", bucket, "Enabled"], bucket)
    except TransportError as error:
        if type(error) is not TransportError:  # unreachable, refused, ...: said as a run says it
            raise
        # it answered, but would not: a server that keeps no versions
        raise TransportError(f"cannot enable versioning of {bucket}: {error} (for a server that keeps no "
                             f"versions, set versions: false)") from None


def rclone(transport, words, location, **how):
    """One short rclone command of this destination; its output lines, or the TransportError it ended with."""
    from .log_reader import LogReader

    lines, reader = [], LogReader(transport.log, transport.secrets)
    ran = run(transport, words, on_line=lines.append, **how)
    for line in ran.stderr_lines:
        reader.take(line)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout at {location}")
    if ran.returncode:
        raise transport.explain(reader, ran.returncode, location)
    return lines


def run(transport, words, **how):
    from .fetch import run as run_rclone

    return run_rclone(transport, words, **how)


# --- reading old versions --------------------------------------------------------------------------

def version_at(at):
    """rclone's flags that read an S3 folder as it was at `at` (seconds since the epoch); none for None."""
    if at is None:
        return []
    return [VERSION_AT, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"]


def versions_of(transport, location, name):
    """Every copy of the file `name` in the folder `location`, oldest first and the live one last, as
    (Listed, kept_at): when it was replaced or deleted (the upload time of what came after it), None for the
    live copy. A delete marker is no copy; it dates the copy before it."""
    from .command import as_folder

    listed = lsjson(transport, as_folder(location), ["--max-depth", "1", "--files-only", "-M", *EVERY_VERSION])
    base, extension = split_extension(name)
    old = re.compile(re.escape(base) + VERSION_NAME + re.escape(extension))
    history = []  # (live, uploaded, place, Listed or None for a delete marker)
    for place, item in enumerate(listed):
        version = old.fullmatch(item["Path"])
        if item["Path"] == name or version:
            metadata = item.get("Metadata") or {}
            uploaded = seconds(metadata["btime"]) if metadata.get("btime") else name_time(version)
            marker = version is not None and item["Size"] == 0 and "mtime" not in metadata \
                and "content-type" not in metadata
            # S3 lists a key's versions newest first and dates them to the second: the place breaks a tie
            history.append((version is None, uploaded, -place,
                            None if marker else Listed(name, item["Size"], seconds(item["ModTime"]))))
    history.sort(key=lambda entry: entry[:3])  # oldest first, the live copy last
    return [(copy, None if live else (history[index + 1][1] if index + 1 < len(history) else None))
            for index, (live, _, _, copy) in enumerate(history) if copy is not None]


def lsjson(transport, location, words):
    """rclone lsjson of a location with these flags, as a list of dicts; [] for a folder not there."""
    import json

    from .log_reader import NOT_FOUND, LogReader

    printed, reader = [], LogReader(transport.log, transport.secrets)
    ran = run(transport, ["lsjson", *words, location], on_line=printed.append)
    for line in ran.stderr_lines:
        reader.take(line)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout while listing "
                       f"{location}")
    if ran.returncode:
        if NOT_FOUND in (reader.cause or "") or any(NOT_FOUND in error for error in reader.errors):
            return []
        raise transport.explain(reader, ran.returncode, location)
    return json.loads("".join(printed) or "[]")


def split_extension(name):
    """(base, extension) as rclone splits a name to put a version in it: `.file` has no extension."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, f".{extension}"


def name_time(version):
    """The upload time in an old version's name (UTC, to the millisecond)."""
    from datetime import datetime

    day, clock, milliseconds = version.group(1).rsplit("-", 2)
    return datetime.strptime(f"{day} {clock} +0000", "%Y-%m-%d %H%M%S %z").timestamp() + int(milliseconds) / 1000


def seconds(text):
    """An RFC 3339 time as rclone prints it (to the nanosecond) in seconds since the epoch."""
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
