"""Sending to an SMB share: rsync to the mount point when mounted, else smbclient.

With smbclient a job takes a handful of sessions whatever the size of the tree: one lists
the remote tree (`recurse ON; ls`); one creates folders and clears leftovers; a few side
by side upload each file under a temporary name and set its modification time; a listing
checks the temporary files; a few sessions rename the complete ones into place; a last
listing confirms. So neither an interrupted run nor a full disk ever leaves a truncated
file under the real name.
"""

import os
import time

from ...errors import NotFound, TransportError, Unreachable
from ...localtree import folder_problem, scan
from ...plan import needs_transfer
from .. import Tally, Transport
from .listing import RemoteFile
from .names import STRICT, TEMP_PREFIX, has_control_character, refusal, refusals, run_token, temp_name
from .probe import name_rules
from .session import (
    MARKER,
    START,
    Session,
    describe,
    parse_target,
    problems_by_file,
    quoted,
    smb_path,
    unfinished,
)
from .temporaries import TemporaryRecord

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

    def send_to_mount(self, job, target, mount):
        """rsync into the mounted share, with rsync's default options."""
        from ..rsync.options import DEFAULTS
        from ..rsync.transport import Rsync

        self.log.info(f"//{target.host}/{target.share} is mounted at {mount}: using rsync")
        through_rsync = self.destination._replace(type="rsync", options=DEFAULTS)
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
    """One job through smbclient: list, compare, upload, confirm."""

    def __init__(self, job, session, log):
        self.job = job
        self.tally = Tally()
        self.session = session
        self.options = session.options
        self.log = log
        self.folder = session.target.folder
        self.token = run_token()
        self.record = TemporaryRecord(job.state_dir, job.target)
        self.recorded = self.record.names()  # temporary paths this tool made here and may have left
        self.refused_folders = []  # folders whose mkdir the server refused (permission denied), parents first

    def run(self):
        local, skipped = scan(self.job.source.path, self.job.source.exclude)
        if self.job.only_paths is not None:
            local, skipped = only(self.job.only_paths, local, skipped)
        for path, reason in skipped:
            self.fail(path, reason)
        rules = self.name_rules()
        for path, reason in [*refusals(local, rules), *self.too_long(local)]:
            self.fail(path, reason)
            del local[path]
        remote, remote_folders = self.session.listing()
        leftovers = sorted(path for path in self.recorded if path in remote or path in remote_folders)
        to_send = [path for path in local if needs_transfer(local[path], remote.get(path))]
        if self.job.dry_run:
            self.tally.sent = {path: local[path].size for path in to_send}
            self.tally.unchanged = len(local) - len(to_send)
            if leftovers:
                self.log.info(f"would remove {len(leftovers)} temporary files left by an interrupted run")
            return self.tally.outcome()
        if to_send or leftovers:
            self.prepare(to_send, remote_folders, leftovers)
            reasons = self.upload(to_send, local, remote)
            remote, remote_folders = self.session.listing()
            self.confirm(to_send, local, remote, reasons)
        self.clean_up(remote, remote_folders)
        self.tally.unchanged = len(local) - len(to_send)
        if self.options.remove_from_local:
            self.remove_confirmed(local, remote)
        return self.tally.outcome()

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

    def too_long(self, local):
        """(path, reason) for each file whose put or rename would not fit on one smbclient command line."""
        found = []
        for path in local:
            lines = (self.put_line(path), self.rename_line(path))
            if max(len(line.encode("utf-8", "surrogateescape")) for line in lines) > MAX_COMMAND_BYTES:
                found.append((path, f"its path is too long for smbclient's command line ({MAX_COMMAND_BYTES} bytes)"))
        return found

    def put_line(self, path):
        """Upload a local file under its temporary name."""
        return f"put {quoted(os.path.join(self.job.source.path, path))} {quoted(smb_path(self.folder, self.temp(path)))}"

    def rename_line(self, path):
        """Move a complete upload to its real name."""
        return f"rename {quoted(smb_path(self.folder, self.temp(path)))} {quoted(smb_path(self.folder, path))} -f"

    def fail(self, path, reason):
        self.tally.failures.append((path, reason))
        self.log.warning(f"not sent: {path}: {reason}")

    def prepare(self, to_send, remote_folders, leftovers):
        """Create missing folders, parents first, and delete what an interrupted run of ours left (recorded)."""
        needed = set()
        for path in to_send:
            parts = path.split("/")[:-1]
            needed.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        missing = sorted(needed - remote_folders, key=lambda folder: (folder.count("/"), folder))
        top = self.folder.split("/") if self.folder else []
        folders = ["/".join(top[:depth]) for depth in range(1, len(top) + 1)]
        folders += ["/".join(part for part in (self.folder, folder) if part) for folder in missing]
        commands = [MARKER.format(START)]
        for index, folder in enumerate(folders):  # a marker after each mkdir tells which one was refused
            commands += [f"mkdir {quoted(smb_path(folder))}", MARKER.format(index)]
        commands += [f"{'deltree' if path in remote_folders else 'del'} {quoted(smb_path(self.folder, path))}"
                     for path in leftovers]
        if leftovers:
            self.log.info(f"removing {len(leftovers)} temporary files left by an interrupted run")
        problems = problems_by_file(self.session.run(commands), folders)
        self.refused_folders = [folder for folder in folders
                                if any("NT_STATUS_ACCESS_DENIED" in problem for problem in problems.get(folder, ()))]

    def upload(self, to_send, local, remote):
        """Put each file under its temporary name, then rename the complete ones; {path: problems}."""
        self.recorded |= {self.temp(path) for path in to_send}
        self.record.write(self.recorded)  # before the first put: every temporary name is ours to clean up

        def put(path):
            temp = quoted(smb_path(self.folder, self.temp(path)))
            return [self.put_line(path), f"utimes {temp} -1 -1 {utimes_stamp(local[path].mtime)} -1"]

        reasons = {path: self.explain_put(path, problems) for path, problems in self.in_sessions(to_send, put).items()}
        listed, _ = self.session.listing()
        complete = [path for path in to_send
                    if listed.get(self.temp(path)) == RemoteFile(local[path].size, int(local[path].mtime))]
        for path in set(to_send) - set(complete):
            reasons.setdefault(path, ["the upload did not complete"])
        for path in changed_meanwhile(complete, local, remote, listed):
            reasons.setdefault(path, ["changed on the server during this run and newer there: kept the server's copy"])

        def finish(path):
            if path in reasons:  # a failed put may leave a truncated temporary file
                return [f"del {quoted(smb_path(self.folder, self.temp(path)))}"] if self.temp(path) in listed else []
            return [self.rename_line(path)]

        for path, problems in self.in_sessions(to_send, finish).items():
            reasons.setdefault(path, problems)
        return reasons

    def explain_put(self, path, problems):
        """A put refused by name is our temporary name being refused (the real name comes at the rename); a put
        into a missing folder whose mkdir the server refused names that folder."""
        if any("NT_STATUS_OBJECT_PATH_NOT_FOUND" in problem for problem in problems):
            where = "/".join(part for part in (self.folder, path) if part)
            refused = [folder for folder in self.refused_folders if where.startswith(folder + "/")]
            if refused:  # the deepest: a read-only share refuses mkdir of a folder that exists, too
                target = self.session.target
                return [f"permission denied creating //{target.host}/{target.share}/{refused[-1]}"]
        if any("NT_STATUS_OBJECT_NAME_NOT_FOUND opening remote file" in problem for problem in problems):
            name = self.temp(path).rsplit("/", 1)[-1]
            return [f"the server refuses the temporary upload name {name}: "
                    f"the share's `veto files` setting probably matches it; allow names starting with {TEMP_PREFIX}"]
        return problems

    def in_sessions(self, paths, commands_for):
        """Run each path's commands, spread over up to `sessions` smbclient sessions side by side."""
        count = max(1, min(self.options.sessions, len(paths) // 50))
        shares = [paths[index::count] for index in range(count)]
        if count == 1:
            return self.in_one_session(shares[0], commands_for)
        from concurrent.futures import ThreadPoolExecutor

        reasons = {}
        with ThreadPoolExecutor(count) as pool:
            for found in pool.map(lambda share: self.in_one_session(share, commands_for), shares):
                reasons.update(found)
        return reasons

    def in_one_session(self, paths, commands_for, retry=True):
        """{path: problems} for the paths' commands in one session; a session whose connection breaks is
        followed by one more for the files it did not finish, so one lost connection fails no other file."""
        commands = [MARKER.format(START)]
        for index, path in enumerate(paths):
            commands += [*commands_for(path), MARKER.format(index)]
        try:
            return problems_by_file(self.session.run(commands), paths)
        except Unreachable as error:
            lines = getattr(error, "lines", None)
            if not retry or lines is None:
                return {path: [str(error)] for path in paths}
            rest = unfinished(lines, paths)
            self.log.warning(f"{error}; trying the {len(rest)} files that session did not finish once more")
            problems = {path: found for path, found in problems_by_file(lines, paths).items() if path not in rest}
            return {**problems, **self.in_one_session(rest, commands_for, retry=False)}
        except TransportError as error:  # the session broke: the next listing tells what arrived
            return {path: [str(error)] for path in paths}

    def clean_up(self, remote, remote_folders):
        """Delete the temporary files of ours the latest listing still shows (a rename the server refused);
        keep in the record only those, until a listing shows them gone."""
        still_there = {path for path in self.recorded if path in remote or path in remote_folders}
        files = sorted(path for path in still_there if path in remote)
        if files:
            self.session.run([f"del {quoted(smb_path(self.folder, path))}" for path in files])
        if still_there != self.recorded:
            self.record.write(still_there)
        self.recorded = still_there

    def confirm(self, to_send, local, remote, reasons):
        """A file counts as sent when a fresh listing shows it with the local size and time."""
        for path in to_send:
            arrived = remote.get(path)
            if arrived is not None and arrived == RemoteFile(local[path].size, int(local[path].mtime)):
                self.tally.sent[path] = local[path].size
                self.log.debug(f"sent {path}")
            else:
                self.fail(path, describe(reasons.get(path)) or "not on the server after the upload")

    def remove_confirmed(self, local, remote):
        """Delete local files whose server copy the latest listing shows with the same size and time."""
        removed = 0
        for path, file in local.items():
            if remote.get(path) != RemoteFile(file.size, int(file.mtime)):
                continue
            full = os.path.join(self.job.source.path, path)
            try:
                now = os.stat(full)
                if (now.st_size, now.st_mtime) != (file.size, file.mtime):
                    self.log.warning(f"kept: {path}: changed here since it was sent")
                    continue
                os.remove(full)
            except OSError as error:
                self.log.warning(f"kept: {path}: cannot remove it: {error.strerror}")
                continue
            self.log.info(f"removed from local: {path}")
            removed += 1
        self.log.info(f"removed {removed} local files confirmed on the server (remove_from_local)")
        self.tally.removed = removed


def changed_meanwhile(paths, local, remote, listed):
    """The paths whose server copy changed since the first listing and is now newer than ours (--update)."""
    return [path for path in paths if listed.get(path) is not None and listed.get(path) != remote.get(path)
            and not needs_transfer(local[path], listed[path])]


def only(paths, local, skipped):
    """A retry's part of the tree: the listed paths that are still here, and why the others are not sent."""
    wanted = set(paths)
    gone = [(path, "not here any more") for path in paths if path not in local and
            not any(path == skipped_path for skipped_path, _ in skipped)]
    return ({path: file for path, file in local.items() if path in wanted},
            [item for item in skipped if item[0] in wanted] + gone)
