"""One package per transport behind one contract, so the runner never asks which kind it holds.

A transport package holds `options.py` (its configuration keys and rules, read when a config
is loaded) and `transport.py` (the class that does the work, imported only when one of its
destinations runs). Adding a transport is one package, one line in TRANSPORTS and one row in
tests/integration/test_transport_contract.py.
"""

import importlib
from collections import namedtuple

# name -> the class in transports/<name>/transport.py. A destination without `type:` is given the
# first transport, in this order, whose options claim it (an smb:// URL before `remote:` before a path).
TRANSPORTS = {"smb": "Smb", "rclone": "Rclone", "rsync": "Rsync"}
TRANSPORT_NAMES = tuple(TRANSPORTS)

Outcome = namedtuple("Outcome", "sent bytes_sent unchanged failures removed removed_paths",
                     defaults=((), 0, 0, (), 0, ()))
Outcome.__doc__ = ("What one job did: paths sent (in a dry run: would be sent), bytes sent, files unchanged, "
                   "(path, reason) per file not sent, files removed (local files after a confirmed copy, or files "
                   "a mirror deleted at the destination), and (path, folder it is kept in or None) per file a "
                   "mirror deleted at the destination.")


class Transport:
    """The verbs every transport answers; each returns a value and never fills one it was handed.

    Made from its Destination and the run's Log. The verbs the next features need (list what
    is there, fetch files, keep a version, verify) join here with a one-line contract each.
    """

    name = ""

    def __init__(self, destination, log):
        self.destination = destination
        self.log = log

    def send(self, job):
        """Bring job.source to job.target and return an Outcome: only new or changed files move, a file newer
        at the destination is kept, nothing there is deleted unless the destination's mode says so, and a
        dry run changes nothing. Raises a TransportError subclass, carrying what was done so far, when
        the job fails as a whole."""
        raise NotImplementedError

    def reach(self, target):
        """Contact the server holding `target` with a listing only, writing nothing, and return one line on what
        is there ("reachable", "reachable; the folder is not there yet (a run makes it)"). Raises the
        TransportError a run would raise (Unreachable, Refused, NotFound, ...) when it cannot reach it, within
        the destination's connect_timeout. `config validate --reach` calls it for every destination."""
        raise NotImplementedError

    # The verbs beyond send live in modules of the transport's package (fetch.py, store.py), each function
    # taking this object first, so that reading a destination back never loads (or crowds) the code that sends.

    def list_files(self, location, at=None):
        """Every file under `location` (a target, or a versions folder beside it) as a Listed (relative path
        with '/' separators, size, mtime in seconds; `link` set for a symbolic link, which is never followed),
        or None when there is no such folder there. Raises the TransportError a run would when the server
        cannot be read. `at` (seconds), only where native_versions(): the files as they were then."""
        return self.reading().list_files(self, location, **({} if at is None else {"at": at}))

    def fetch(self, location, paths, into, at=None):
        """Copy each relative path under `location` to the local folder `into`/<path>, writing nowhere else;
        return (set of paths fetched, [(path, reason)] for each not fetched). Modification times need not be
        kept: restore sets them from list_files. `at`, only where native_versions(): the copies of that time."""
        return self.reading().fetch(self, location, paths, into, **({} if at is None else {"at": at}))

    def native_versions(self):
        """True when the destination itself keeps what a backup replaces or deletes (an S3 bucket with
        versioning): there is no versions folder; list_files and fetch given `at` read the tree as it was
        then, versions_of lists the copies of a file, and expiry is the destination's own rule."""
        return False

    def snapshot_at(self, target, at):
        """The folder holding target's tree as it was at `at` (seconds) when the destination keeps dated snapshots
        (the newest complete one not newer than `at`; NotFound when there is none), else None: the live tree and
        its versions folder hold it."""
        return None

    def versions_of(self, location, name):
        """Where native_versions(): every copy of the file `name` in the folder `location`, oldest first and the
        live one last, as (Listed, kept_at): when it was replaced or deleted, None for the live copy."""
        return self.reading().versions_of(self, location, name)

    def remove_folder(self, location):
        """Remove one folder of our own housekeeping (a dated versions folder) with everything in it; in the
        package's store.py. Never called on anything a user owns."""
        return self.verbs("store").remove_folder(self, location)

    def put_file(self, local_path, location):
        """Write one local file of ours (a manifest) to `location` at the destination, under a temporary name
        renamed into place, making its folder; in the package's store.py."""
        return self.verbs("store").put_file(self, local_path, location)

    def cold(self):
        """True when reading files back costs a restore request (S3 Deep Archive, Glacier): verify then reads
        nothing unless allowed."""
        return False

    def thaw(self, location, paths, at=None, priority="Standard", days=7, ask=True):
        """Of `paths` under `location`, those in cold storage and not readable until restored, {path: Frozen};
        with `ask` the destination is asked to restore them. {} where nothing is cold."""
        thaw = getattr(self.reading(), "thaw", None)
        return thaw(self, location, paths, at, priority=priority, days=days, ask=ask) if thaw else {}

    # A transport whose destinations take snapshots (mode: snapshot) has a snapshot.py in its package, reached with
    # verbs("snapshot"): listing(transport, target), copies(transport, target, names, path), put_manifest(...).
    snapshot_taken = None  # the snapshot this run completed (snapshot.Taken), where the manifest goes; None if none

    def reading(self):
        return self.verbs("fetch")

    def verbs(self, module):
        """The transport package's module of further verbs (fetch.py: reading; store.py: housekeeping)."""
        # the package of the transport class this one is or derives from (smb's SmbThroughRclone is an Rclone)
        home = next(cls for cls in type(self).__mro__ if cls.__module__.startswith(__name__ + ".")
                    and cls.__module__.endswith(".transport"))
        return importlib.import_module(f".{module}", home.__module__.rpartition(".")[0])


Listed = namedtuple("Listed", "path size mtime link", defaults=(None,))
Listed.__doc__ = ("One file at a destination: relative path with '/' separators, size in bytes, mtime in seconds, "
                  "and for a symbolic link where it points (restore refuses it).")


class Tally:
    """What a transport has done so far in one job; `outcome()` freezes it."""

    def __init__(self):
        self.sent = {}  # relative path -> bytes
        self.unchanged = 0
        self.failures = []  # (relative path, reason)
        self.removed = 0
        self.removed_paths = []  # (relative path, folder it is kept in or None): what a mirror deleted

    def outcome(self):
        return Outcome(tuple(self.sent), sum(self.sent.values()), self.unchanged, tuple(self.failures),
                       self.removed, tuple(self.removed_paths))


Entry = namedtuple("Entry", "name fields options claims check locate")
Entry.__doc__ = ("One registered transport as the config sees it: its keys (Fields), the named tuple of their "
                 "values, claims(raw, locations) -> bool, check(destination, sources, fail) -> destination, and "
                 "locate(destination, spec name, source) -> target for a destination without base_path, or None.")
_entries = {}


def entry(name):
    """The registry entry of one transport, its options module imported on first use."""
    if name not in _entries:
        module = importlib.import_module(f"{__name__}.{name}.options")
        fields = tuple(spec._replace(types=(name,)) for spec in module.FIELDS)
        _entries[name] = Entry(name, fields, module.Options, module.claims, module.check,
                              getattr(module, "locate", None))
    return _entries[name]


def registry():
    """Every transport's entry, in the order they claim destinations."""
    return tuple(entry(name) for name in TRANSPORTS)


def secrets_of(destination):
    """The values of the destination's keys that the schema marks secret (each value of a mapping), for masking."""
    secrets = []
    for spec in entry(destination.type).fields:
        value = getattr(destination.options, spec.name) if spec.secret else None
        values = value.values() if isinstance(value, dict) else [value]
        secrets += [item for item in values if item]
    return secrets


def transport_for(destination, log):
    """The transport object for a destination, by its type (which the config checked against TRANSPORTS)."""
    module = importlib.import_module(f"{__name__}.{destination.type}.transport")
    return getattr(module, TRANSPORTS[destination.type])(destination, log)
