"""Sending to an SMB share: rsync to the mount point when mounted, else smbclient (or rclone, method: rclone).

With smbclient a job lists the remote tree once, with up to `sessions` sessions side by side, while
the local tree is scanned (see listing.TreeListing); then up to `sessions` sessions side by side
each create the folders their share of the files needs and upload it: a put under a temporary
name, the modification time set, and, once the session said both went well, a rename into place
in the same session (see temporaries.Upload). How many sessions follows the round trip the first
session measures (listing.sessions_for). A file whose put, utimes and rename were answered without
a word of trouble counts as sent; the folders of the others are listed to tell what happened. So
neither an interrupted run nor a full disk ever leaves a truncated file under the real name, and
on a real network the round trips overlap instead of adding up. With `versions: true` or `mode: mirror`
the old copy of each replaced file, and each file a mirror removes, is moved on the server into
<target>-versions/<stamp>/ (keeping.py); confirming.py tells what was sent and what remove_from_local may delete.
"""

import os
import time

from ...errors import NotFound, Stalled, TimedOut, TransportError, Unreachable
from ...localtree import folder_problem, scan
from ...plan import needs_transfer
from .. import Tally, Transport
from . import keeping
from .confirming import confirm, parse_folders, remove_confirmed
from .listing import FolderCounts, TreeListing, sessions_for
from .names import STRICT, TEMP_PREFIX, has_control_character, refusal, refusals, run_token, temp_name
from .probe import name_rules
from .session import MARKER_LINE, Session, parse_target, quoted, smb_path
from .temporaries import NOT_KEPT, TemporaryRecord, Upload

FILES_PER_SESSION = 8  # fewer files than this each: fewer sessions (one costs ~50 ms of CPU to start)
MAX_COMMAND_BYTES = 8000  # smbclient reads its commands with fgets(8192): a longer line splits in two
MOUNTS = "/proc/mounts"


def utimes_stamp(mtime):
    return time.strftime("%Y:%m:%d-%H:%M:%S", time.gmtime(int(mtime)))


def mounted_at(target, mounts_text):
    """Where //host/share is mounted (cifs) according to /proc/mounts, or None."""
    wanted = f"//{target.host}/{target.share}".lower()
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] in ("cifs", "smb3") and fields[0].lower().rstrip("/") == wanted:
            return fields[1].replace("\\040", " ")
    return None


class Smb(Transport):
    """Sends a source folder to an SMB share: rsync to the mount point when mounted, else smbclient."""

    name = "smb"

    def send(self, job):
        """See Transport.send."""
        if getattr(self.destination.options, "method", None) == "rclone":
            from .via_rclone import send_via_rclone

            return send_via_rclone(self.destination, job, self.log)
        target = parse_target(job.target)
        mount = self.mount_point(target)
        if mount is not None:
            return self.send_to_mount(job, target, mount)
        problem = folder_problem(job.source.path)
        if problem:
            raise NotFound(problem)
        if '"' in job.source.path or has_control_character(job.source.path):
            raise TransportError(f"smbclient reads its commands line by line and cannot read from a folder whose "
                                 f"path holds a double quote or a control character: {job.source.path!r}")
        problem = target.folder and refusal(target.folder)
        if problem:
            raise TransportError(f"{job.target}: {problem}")
        smb_job = SmbJob(job, Session(self.destination, target, self.log), self.log)
        try:
            return smb_job.run()
        except TransportError as error:
            error.outcome = error.outcome or smb_job.tally.outcome()
            raise

    def reach(self, target):
        """See Transport.reach."""
        from .probe import reach

        return reach(self.destination, target, self.log)

    def send_to_mount(self, job, target, mount):
        """rsync into the mounted share, with rsync's default options."""
        from ..rsync.options import DEFAULTS
        from ..rsync.transport import Rsync

        self.log.info(f"//{target.host}/{target.share} is mounted at {mount}: using rsync")
        mode = getattr(self.destination.options, "mode", "copy")  # versions: true is the destination's own
        through_rsync = self.destination._replace(type="rsync", options=DEFAULTS._replace(mode=mode))
        return Rsync(through_rsync, self.log).send(job._replace(destination=through_rsync,
                                                                target=os.path.join(mount, target.folder)))

    def mount_point(self, target):
        method = self.destination.options.method
        if method == "smbclient":
            return None
        try:
            with open(MOUNTS, encoding="utf-8", errors="surrogateescape") as stream:
                mount = mounted_at(target, stream.read())
        except OSError:
            mount = None
        if method == "mount" and mount is None:
            raise NotFound(f"//{target.host}/{target.share} is not mounted on this machine (method: mount)")
        return mount


class SmbJob:
    """One job through smbclient: list (while scanning), compare, create folders, upload and rename, confirm."""

    def __init__(self, job, session, log):
        self.job = job
        self.tally = Tally()
        self.session = session
        self.options = session.options
        self.log = log
        self.folder = session.target.folder
        self.token = run_token()
        self.keeping = keeping.keeping_for(job, self.folder)  # versions: true, mode: mirror; else None
        self.record = TemporaryRecord(job.state_dir, job.target)
        self.recorded = self.record.names()  # temporary paths this tool made here and may have left
        self.refused_folders = []  # folders whose mkdir the server refused (permission denied), parents first
        self.sessions = getattr(self.options, "sessions", 1)  # upload sessions, sized once the round trip is known
        self.renamed = set()  # files a session said it put, timed and renamed into place without a word of trouble
        self.listed_after = {}  # {path: RemoteFile} from the upload sessions' listings of the folders they wrote
        self.folders_listed = set()  # the folders those listings covered
        # size: the name and size are enough (the script this tool replaced); size_and_time: the time must match too
        self.compare = getattr(self.options, "compare", "size_and_time")

    def run(self):
        counts = None if self.job.dry_run else FolderCounts(self.job.state_dir, self.job.target)  # writes nothing
        # the listing sessions stay connected for the upload (a new session costs ~20 round trips)
        self.listing = TreeListing(self.session, self.options.sessions, counts, keep_open=not self.job.dry_run)
        self.listing.start()  # while the local tree is scanned
        try:
            return self.compare_and_send(counts)
        finally:
            self.listing.close_idle()

    def compare_and_send(self, counts):
        listing = self.listing
        local, skipped = scan(self.job.source.path, self.job.source.exclude)
        if self.job.only_paths is not None:
            local, skipped = only(self.job.only_paths, local, skipped)
        for path, reason in skipped:
            self.fail(path, reason)
        remote, remote_folders = listing.result()
        measured = listing.round_trip if listing.round_trip is not None else counts and counts.round_trip
        self.sessions = sessions_for(measured, self.options.sessions)
        self.log.debug(f"round trip {measured * 1000:.2f} ms: up to {self.sessions} upload sessions"
                       if measured is not None else f"round trip not measured: up to {self.sessions} upload sessions")
        rules = self.name_rules()
        mirrored = getattr(self.options, "mode", "copy") == "mirror" and self.job.only_paths is None
        gone = keeping.to_remove(remote, local, skipped, self.job.source.exclude, rules.case_sensitive) \
            if mirrored else []
        leftovers = sorted(path for path in self.recorded if path in remote or path in remote_folders)
        to_send = [path for path in local if self.needs_sending(local[path], remote.get(path))]
        refused = [*refusals(local, rules, among=to_send), *self.too_long(to_send)]  # only what is to be sent
        for path, reason in refused:
            self.fail(path, reason)
        refused_paths = {path for path, _ in refused}
        to_send = [path for path in to_send if path not in refused_paths]
        if self.job.dry_run:
            self.tally.sent = {path: local[path].size for path in to_send}
            self.tally.unchanged = len(local) - len(to_send) - len(refused_paths)
            if leftovers:
                self.log.info(f"would remove {len(leftovers)} temporary files left by an interrupted run")
            keeping.remove(self, gone)
            return self.tally.outcome()
        if to_send or leftovers:
            reasons = self.upload(to_send, local, remote, remote_folders, leftovers,
                                  target_listed=bool(remote or remote_folders))
            remote.update(confirm(self, to_send, local, reasons))
            if counts and to_send:  # the folders made: the next run's listing is shared out by them too
                counts.write(remote_folders | parents(self.tally.sent), measured)
        self.clean_up(leftovers)
        self.tally.unchanged = len(local) - len(to_send) - len(refused_paths)
        keeping.remove(self, gone)
        if self.options.remove_from_local:
            self.tally.removed = remove_confirmed(self, local, remote)
        return self.tally.outcome()

    def needs_sending(self, file, remote):
        """The --update rule; with `compare: size` a copy of the same size on the server is the same file."""
        if self.compare == "size" and remote is not None and remote.size == file.size:
            return False
        return needs_transfer(file, remote)

    def name_rules(self):
        """Which names the share keeps: asked of the server with `names: server` (not in a dry run, which
        writes nothing), else the strict rules every SMB server keeps to."""
        if self.options.names != "server":
            return STRICT
        if self.job.dry_run:
            self.log.info("dry run: names checked by the strict rules (names: server asks the share in a real run)")
            return STRICT
        return name_rules(self.session, self.token, self.record, self.recorded)

    def temp(self, path):
        return temp_name(path, self.token)

    def too_long(self, paths):
        """(path, reason) for each file whose put or rename would not fit on one smbclient command line."""
        found = []
        for path in paths:
            lines = (self.put_line(path), self.rename_line(path), *([self.keeping.move_line(path)] if self.keeping else []))
            if max(len(line.encode("utf-8", "surrogateescape")) for line in lines) > MAX_COMMAND_BYTES:
                found.append((path, f"its path is too long for smbclient's command line ({MAX_COMMAND_BYTES} bytes)"))
        return found

    def put_line(self, path):
        """Upload a local file under its temporary name."""
        return f"put {quoted(os.path.join(self.job.source.path, path))} {quoted(smb_path(self.folder, self.temp(path)))}"

    def rename_line(self, path, replace=True):
        """Move a complete upload to its real name: over the copy there (replace), or only if the name is still
        free (a file someone made there during the run is kept)."""
        rename = f"rename {quoted(smb_path(self.folder, self.temp(path)))} {quoted(smb_path(self.folder, path))}"
        return f"{rename} -f" if replace else rename

    def fail(self, path, reason):
        self.tally.failures.append((path, reason))
        self.log.warning(f"not sent: {path}: {reason}")

    def folders_to_make(self, paths, remote_folders, target_listed):
        """The folders (as the share spells them) these files need and the listing did not show, parents first;
        the target folder's own chain first when the listing found nothing there (it may be missing)."""
        missing = sorted(parents(paths) - remote_folders, key=lambda folder: (folder.count("/"), folder))
        top = self.folder.split("/") if self.folder and not target_listed else []
        chain = ["/".join(top[:depth]) for depth in range(1, len(top) + 1)]
        return [smb_path(folder) for folder in chain] + [smb_path(self.folder, folder) for folder in missing]

    def upload(self, to_send, local, remote, remote_folders, leftovers, target_listed):
        """Each session creates the folders its files need, puts each file under its temporary name with its time
        set, renames it into place once the session said the put went well, and lists the folders it wrote;
        up to `sessions` sessions side by side; {path: problems}. The first also deletes what an interrupted run
        of ours left (recorded)."""
        if leftovers:
            self.log.info(f"removing {len(leftovers)} temporary files left by an interrupted run")
        deletes = [f"{'deltree' if path in remote_folders else 'del'} {quoted(smb_path(self.folder, path))}"
                   for path in leftovers]
        if not to_send:
            self.session.run(deletes, doing="deleting temporary files")
            return {}
        self.recorded |= {self.temp(path) for path in to_send}
        self.record.write(self.recorded)  # before the first put: every temporary name is ours to clean up

        def put(path):
            temp = quoted(smb_path(self.folder, self.temp(path)))
            return [self.put_line(path), f"utimes {temp} -1 -1 {utimes_stamp(local[path].mtime)} -1"]

        def listing(folder):
            return f"ls {quoted(smb_path(self.folder, f'{folder}/*' if folder else '*'))}"

        def upload(paths, before=()):
            return Upload(paths, put, lambda path: self.rename_line(path, replace=path in remote),
                          lambda path: f"del {quoted(smb_path(self.folder, self.temp(path)))}",
                          folders=self.folders_to_make(paths, remote_folders, target_listed), before=before,
                          list_command=listing if self.options.remove_from_local else None,
                          keep=self.keeping and self.keeping.for_session(), replaces=remote.__contains__)

        reasons, done = {}, set()
        shares = self.shares(to_send, free=len(self.listing.idle))
        relays = self.listing.take_idle(len(shares))  # sessions still connected from the listing
        jobs = [(share, deletes if index == 0 else (), relays[index] if index < len(relays) else None)
                for index, share in enumerate(shares)]
        for problems, gone in self.in_parallel(jobs, lambda job: self.upload_share(job[0], upload, job[1], job[2])):
            reasons.update(problems)
            done |= gone
        self.recorded -= {self.temp(path) for path in done}  # renamed or deleted: nothing of ours left there
        return {path: self.explain_put(path, problems) for path, problems in reasons.items()}

    def heard(self, conversation):
        """Keep what an upload session found: the files it renamed into place, the folders it could not create,
        the folders it listed."""
        self.renamed |= conversation.renamed
        for folder, problems in conversation.folder_problems.items():
            if any("NT_STATUS_ACCESS_DENIED" in problem for problem in problems):
                self.refused_folders.append(folder.replace("\\", "/"))
        for folder, lines in conversation.listed.items():
            self.listed_after.update(parse_folders(self.folder, [folder], [lines]))
            self.folders_listed.add(folder)

    def upload_share(self, paths, upload, before=(), relay=None, retry=True):
        """({path: problems}, {paths whose temporary file is gone}) for one session's share of the files, in a
        listing session still connected (relay) or a new one; a session whose connection breaks is followed by
        one more for the files it did not finish."""
        conversation = upload(paths, before)
        try:
            if relay is None:
                self.session.converse(conversation, doing="uploading files")
            else:
                self.session.continue_in(relay, conversation, doing="uploading files")
            self.heard(conversation)
        except (Stalled, TimedOut):
            raise  # the server stopped answering: every other session waits as long; the job fails
        except Unreachable as error:
            self.heard(conversation)
            rest = conversation.unfinished()
            if not retry or not any(MARKER_LINE.search(line) for line in getattr(error, "lines", None) or ()):
                if not retry and not conversation.renamed and not conversation.problems:
                    raise  # the session that tried again could not even connect: the server is gone
                return {**conversation.problems, **{path: [str(error)] for path in rest}}, conversation.deleted
            self.log.warning(f"{error}; trying the {len(rest)} files that session did not finish once more")
            problems, gone = self.upload_share(rest, upload, retry=False)
            kept = {path: found for path, found in conversation.problems.items() if path not in rest}
            return {**kept, **problems}, conversation.deleted | gone
        except TransportError as error:
            self.heard(conversation)
            return {path: [str(error)] for path in paths if path not in conversation.renamed}, conversation.deleted
        return conversation.problems, conversation.deleted

    def shares(self, paths, free=0):
        """The paths split over the sessions: each session's files of a folder together, in folder order. `free`
        sessions are connected already (from the listing): as many shares as those cost nothing to start."""
        if not paths:
            return []
        count = max(1, min(self.sessions, len(paths), max(free, -(-len(paths) // FILES_PER_SESSION))))
        ordered = sorted(paths, key=lambda path: (path.rpartition("/")[0], path))
        size = -(-len(ordered) // count)
        return [ordered[index:index + size] for index in range(0, len(ordered), size)] or [[]]

    @staticmethod
    def in_parallel(items, work):
        """[work(item) for item in items], side by side."""
        if len(items) <= 1:
            return [work(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(items)) as pool:
            return list(pool.map(work, items))

    def explain_put(self, path, problems):
        """A put refused by name is our temporary name being refused (the real name comes at the rename); a put
        into a missing folder whose mkdir the server refused names that folder."""
        if problems and problems[0].startswith(NOT_KEPT):
            return problems  # the put went well; keeping the old copy did not (see temporaries.Upload)
        if any("NT_STATUS_OBJECT_PATH_NOT_FOUND" in problem for problem in problems):
            where = "/".join(part for part in (self.folder, path) if part)
            refused = sorted({folder for folder in self.refused_folders if where.startswith(folder + "/")}, key=len)
            # a read-only share refuses mkdir of a folder that exists, too: above the target (made only when it
            # was not there) the deepest refused, at or below it the first (the others could not follow)
            inside = [folder for folder in refused if folder == self.folder or folder.startswith(self.folder + "/")
                      or not self.folder]
            if refused:
                target = self.session.target
                return [f"permission denied creating //{target.host}/{target.share}/{(inside or refused[-1:])[0]}"]
        if any("NT_STATUS_OBJECT_NAME_NOT_FOUND opening remote file" in problem for problem in problems):
            name = self.temp(path).rsplit("/", 1)[-1]
            return [f"the server refuses the temporary upload name {name}: "
                    f"the share's `veto files` setting probably matches it; allow names starting with {TEMP_PREFIX}"]
        return problems

    def clean_up(self, leftovers):
        """Keep in the record only the temporary names that may still be on the server: this run's whose file was
        neither renamed nor deleted, and none of the leftovers prepare() deleted."""
        still_there = self.recorded - set(leftovers)
        if still_there != self.record.names():
            self.record.write(still_there)
        self.recorded = still_there


def parents(paths):
    """Every folder that holds one of these paths, at any depth."""
    found = set()
    for path in paths:
        parts = path.split("/")[:-1]
        found.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return found


def only(paths, local, skipped):
    """A retry's part of the tree: the listed paths that are still here, and why the others are not sent."""
    wanted = set(paths)
    gone = [(path, "not here any more") for path in paths if path not in local and
            not any(path == skipped_path for skipped_path, _ in skipped)]
    return ({path: file for path, file in local.items() if path in wanted},
            [item for item in skipped if item[0] in wanted] + gone)
