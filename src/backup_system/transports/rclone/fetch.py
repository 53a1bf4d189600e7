"""The reading verbs of an rclone destination: list what is there, fetch files back.

`rclone lsjson -R --files-only` lists a folder; `rclone copy --files-from-raw -` fetches the paths
read from its stdin (raw: a name is taken as it is, leading spaces, `#` and `;` included), with
the same rclone program, config file, environment (rclone_env, where the secrets are) and flags a
run uses. rclone's log (JSON, on stderr) is read by the run's LogReader, so a failure is named as
a run names it.
"""

import json
import os
import re
from datetime import datetime

from ... import proc
from ...errors import TimedOut
from .. import Listed
from .command import RETRIES, as_folder, config_option, rclone_binary, timeout_flags
from .log_reader import NOT_FOUND, LogReader
from .s3_cold import thaw  # noqa: F401 - a reading verb: objects in cold storage (cold_restore.frozen_copies)
from .s3_versions import version_at, versions_of  # noqa: F401 - versions_of: a reading verb (Transport.versions_of)

LOG = ("--use-json-log", "-v")
PARTIAL = re.compile(r"\.[0-9a-f]{8}\.partial$")  # rclone writes a download as <name>.<hash>.partial first


def list_files(transport, location, at=None):
    """See Transport.list_files. rclone has no symbolic links to show: it lists files only."""
    printed = []
    reader = LogReader(transport.log, transport.secrets)
    ran = run(transport, ["lsjson", "-R", "--files-only", "--no-mimetype", *version_at(at), as_folder(location)],
              on_line=printed.append)
    for line in ran.stderr_lines:
        reader.take(line)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout while listing "
                       f"{location}")
    if ran.returncode:
        if NOT_FOUND in (reader.cause or "") or any(NOT_FOUND in error for error in reader.errors):
            return None
        raise transport.explain(reader, ran.returncode, location)
    return [listed(item) for item in json.loads("".join(printed) or "[]")]


def listed(item):
    """One lsjson entry (ModTime in RFC 3339, to the nanosecond) as a Listed."""
    return Listed(item["Path"], item["Size"], datetime.fromisoformat(item["ModTime"]).timestamp())


def fetch(transport, location, paths, into, at=None):
    """See Transport.fetch."""
    into = os.path.abspath(into)  # a local path rclone cannot mistake for `remote:path`
    os.makedirs(into, exist_ok=True)
    # --files-from-raw takes one name a line: a name holding a line break (rclone stores none) cannot be asked for
    unaskable = [path for path in paths if "\n" in path or "\r" in path]
    asked = [path for path in paths if path not in unaskable]
    names = "".join(path + "\n" for path in asked).encode("utf-8", "surrogateescape")
    reader = LogReader(transport.log, transport.secrets, pushing=False)
    options = transport.destination.options
    ran = run(transport, ["copy", as_folder(location), into + "/", "--files-from-raw", "-", "--no-traverse",
                          "--transfers", str(options.transfers), "--checkers", str(options.checkers),
                          *version_at(at)],
              on_line=reader.take, input_bytes=names, merge_stderr=True)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout while fetching "
                       f"from {location}")
    if ran.returncode and (reader.fatal or not reader.failures):
        raise transport.explain(reader, ran.returncode, location)
    # a download rclone refused (e.g. "corrupted on transfer: md5 hashes differ") is named by its partial file
    failures = {PARTIAL.sub("", name): reason for name, reason in reader.failures.items()}
    fetched = {path for path in asked if path not in failures and os.path.isfile(os.path.join(into, path))}
    missed = [(path, failures.get(path, "not found at the destination")) for path in asked
              if path not in fetched]
    return fetched, missed + [(path, "a name with a line break: rclone cannot be asked for it") for path in unaskable]


def run(transport, words, last=(), **how):
    """One rclone command of this destination: its program, config file, environment and the user's flags (as a
    run puts them; `last` after those, to win over them), the log as JSON on stderr; a proc.Result."""
    options = transport.destination.options
    argv = [rclone_binary(options), *config_option(options), *words, *LOG, *RETRIES,
            *timeout_flags(transport.destination), *options.flags, *last]
    return proc.run(argv, timeout=transport.destination.timeout, log=transport.log, secrets=transport.secrets,
                    env=transport.env, **how)
