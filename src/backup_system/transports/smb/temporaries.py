"""The record of the temporary names this tool made on a share, kept in the job's state folder.

A name on the server that merely looks like ours may be a user's file, or belong to another machine
backing up into the same folder. Only a name written here before its upload began is ours to delete;
the next run removes those an interrupted run left behind.
"""

import hashlib
import json
import os

from ...errors import TransportError


class TemporaryRecord:
    """The temporary paths (relative to the job's target folder) that uploads to one target may have left."""

    def __init__(self, state_dir, target):
        digest = hashlib.blake2b(target.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        self.path = os.path.join(state_dir, f"smb-temporary-names-{digest}.json") if state_dir else None
        self.target = target

    def names(self):
        """The recorded paths; none when nothing was recorded (or the record cannot be read)."""
        if self.path is None:
            return set()
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as stream:
                return set(json.load(stream)["paths"])
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def write(self, paths):
        """Replace the record with these paths (none: remove it); written before the uploads that make them."""
        if self.path is None:
            if paths:
                raise TransportError("no state_dir to record temporary file names in")
            return
        try:
            if not paths:
                if os.path.exists(self.path):
                    os.remove(self.path)
                return
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            partial = f"{self.path}.partial"
            with open(partial, "w", encoding="utf-8", errors="surrogateescape") as stream:
                json.dump({"target": self.target, "paths": sorted(paths)}, stream, ensure_ascii=False)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(partial, self.path)
        except OSError as error:
            raise TransportError(f"cannot record temporary file names in {self.path} (state_dir): "
                                 f"{error.strerror}") from None
