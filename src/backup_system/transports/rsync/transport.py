"""Sending with rsync: a local folder, a mounted share, or user@host:/path over ssh.

`rsync -a --update` does the incremental work; output.py reads its itemized output and its
--stats. The %b in --out-format makes rsync print a file's line when its data has been sent,
not when it starts, so a file cut off by a timeout or an interrupt is never counted as sent;
after a run with any error a dry run over the files claimed confirms which are really there.
A destination's own folder (base_path, or a <source>_path) is never created unless the
destination says `create: true`: a missing one is usually a disk or share not mounted.
"""

import os
import re

from ... import proc
from ...errors import DestinationFull, NotFound, Refused, TimedOut, TransportError, Unreachable
from ...localtree import folder_problem
from ...locations import is_inside, is_remote_location
from .. import Transport
from . import partial
from .output import OutputReader, unescape  # noqa: F401 (unescape: part of this module's face)

EXIT_MEANINGS = {
    1: "syntax or usage error", 2: "protocol incompatibility", 3: "errors selecting input/output files",
    5: "error starting client-server protocol", 10: "error in socket I/O", 11: "error in file I/O",
    12: "error in rsync protocol data stream", 20: "interrupted", 30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection", 255: "ssh could not connect",
}
CLOSED = re.compile(r"^rsync: connection unexpectedly closed \((\d+) bytes received so far\)")
SSH_WARNING = re.compile(r"^(Warning: |\*\* WARNING: |\*\* )")
NOT_MOUNTED = "{root} does not exist: is the disk or share mounted? (`create: true` on the destination lets " \
              "backup_system make it)"


def rsync_argv(job, partial_dir=None, temp_dir=None, resume=False, mkpath=True):
    """The rsync command for one job; a pure function of its arguments, tested without running it.

    partial_dir: the --partial-dir (by default partial.partial_dir); temp_dir: the --temp-dir, if any;
    resume: the partial dir holds a piece to resume from, so delta transfer even locally; mkpath: make
    missing folders above the target (only below the destination's own folder)."""
    options = job.destination.options
    argv = ["rsync", "-a", "--update", *(["--mkpath"] if mkpath else []), "--out-format=%i|%l|%b|%n",
            "--stats", "--no-h"]
    if job.dry_run:
        argv.append("--dry-run")
    if options.keep_partial and not job.dry_run:
        argv.append(f"--partial-dir={partial_dir or partial.partial_dir(job)}")
        argv.extend([f"--temp-dir={temp_dir}"] if temp_dir else [])
        argv.extend(["--no-whole-file"] if resume else [])
    argv.extend(rsh_options(job))
    argv.extend(f"--exclude={pattern}" for pattern in job.source.exclude)
    if job.only_paths is not None:
        argv.extend(["--files-from=-", "--from0"])  # the paths come on stdin, NUL-separated: any name works
    argv.extend(options.rsync_options)
    argv.extend([job.source.path.rstrip("/") + "/", job.target.rstrip("/") + "/"])
    return argv


def rsh_options(job):
    """--rsh for a user@host:/path target: the user's ssh_command, plain ssh otherwise, with BatchMode=yes
    unless the command says BatchMode itself, so a password or host-key prompt never hangs a cron run."""
    ssh_command = list(job.destination.options.ssh_command or [])
    if not ssh_command and not is_remote_location(job.target):
        return []  # a plain local backup starts without shlex
    import shlex

    if not is_remote_location(job.target):
        return ["--rsh=" + shlex.join(ssh_command)]
    command = ssh_command or ["ssh"]
    if os.path.basename(command[0]) == "ssh" and not any("batchmode" in word.lower() for word in command):
        command += ["-o", "BatchMode=yes"]
    return ["--rsh=" + shlex.join(command)]


def destination_root(job):
    """The destination's own folder this job lands in (base_path, or the source's <source>_path), or None
    when the target is elsewhere (a mounted share)."""
    spec = job.source.name.split("/", 1)[0]
    for root in (job.destination.paths.get(spec), job.destination.base_path):
        if root and is_inside(job.target.rstrip("/"), root.rstrip("/")):
            return root.rstrip("/") or "/"
    return None


class Rsync(Transport):
    """Sends a source folder with `rsync -a --update`."""

    name = "rsync"

    def send(self, job):
        """See Transport.send."""
        problem = folder_problem(job.source.path)
        if problem:
            raise NotFound(problem)
        remote = is_remote_location(job.target)
        mkpath = self.check_root(job, remote)
        keep = job.destination.options.keep_partial and not job.dry_run
        if remote:
            unfinished = keep and partial.begin_remote(job)
            done, returncode = self.transfer(job, rsync_argv(job, mkpath=mkpath))
            if keep and returncode in (0, 24):
                partial.end_remote(job, unfinished, rsh_options(job), self.log)
            return done
        folder = partial.our_folder(job)
        usable, resume = partial.prepare_local(folder) if keep else (False, False)
        returncode = None
        try:
            argv = rsync_argv(job, partial.partial_dir(job), folder if usable else None, resume)
            done, returncode = self.transfer(job, argv)
        finally:
            if keep:
                partial.finish_local(folder, clean=returncode in (0, 24))
        return done

    def check_root(self, job, remote):
        """Refuse a missing destination folder; True when folders above the target may be made (--mkpath).

        Over ssh, a target right inside the destination's folder needs no --mkpath (rsync makes the last
        folder only, and fails when the one above is missing); a deeper one is checked with one listing."""
        root = destination_root(job)
        if job.destination.create or root is None:
            return True
        if not remote:
            if not os.path.isdir(root):
                raise NotFound(NOT_MOUNTED.format(root=root))
            return True
        if os.path.dirname(job.target.rstrip("/")) == root:
            return False
        ran = proc.run(["rsync", "--list-only", "--dirs", "--exclude=*", *rsh_options(job), root + "/"],
                       timeout=self.destination.timeout, log=self.log, env={"LC_ALL": "C"})
        if ran.returncode == 23 or any("No such file or directory" in line for line in ran.stderr_lines):
            raise NotFound(NOT_MOUNTED.format(root=root))
        return True

    def transfer(self, job, argv):
        """Run rsync; the job's Outcome and rsync's exit code, or raise what went wrong with what was done."""
        reader = OutputReader(job, self.log)
        timeout = self.destination.timeout
        ran = proc.run(argv, timeout=timeout, log=self.log, env={"LC_ALL": "C"}, on_line=reader.take_stdout,
                       input_bytes=paths_input(job.only_paths))
        reader.take_stderr(ran.stderr_lines)
        moved = bool(reader.tally.sent)
        if ran.returncode and (reader.tally.sent or reader.receiving_reason) and not job.dry_run:
            self.confirm(job, reader)
        done = reader.outcome()
        if ran.timed_out:
            raise TimedOut(f"rsync stopped after the {timeout:g} s timeout", done)
        if missing_root(job, ran.returncode, reader.other_errors):
            raise NotFound(NOT_MOUNTED.format(root=destination_root(job)), done)
        if ran.returncode not in (0, 23, 24) or (ran.returncode and reader.other_errors):
            kind = failure(ran.returncode, reader.other_errors, reader.receiving_reason)
            host = ssh_host(job.target) if is_remote_location(job.target) else None
            raise kind(explain(ran.returncode, reader.other_errors, reader.receiving_reason, host, moved), done)
        return done, ran.returncode

    def confirm(self, job, reader):
        """After an error, a dry run says which files are not at the destination: of those claimed sent, or,
        when the destination refused to write (full, read-only), of the whole source."""
        check = OutputReader(job._replace(dry_run=True), self.log)
        claimed = tuple(reader.tally.sent)
        paths = None if reader.receiving_reason else claimed
        ran = proc.run(rsync_argv(job._replace(dry_run=True, only_paths=paths), mkpath=False),
                       timeout=self.destination.timeout, log=self.log, env={"LC_ALL": "C"},
                       on_line=check.take_stdout, input_bytes=paths_input(paths))
        if ran.returncode not in (0, 23, 24):
            reader.confirm(claimed, "not confirmed at the destination (it could not be checked after the error)")
        else:
            reader.confirm(tuple(check.tally.sent))


def missing_root(job, returncode, errors):
    """rsync could not make the target because the destination's folder is missing (over ssh)."""
    root = destination_root(job)
    return (root is not None and not job.destination.create and returncode in (3, 11, 23)
            and any(" mkdir " in line and "No such file or directory" in line for line in errors))


def ssh_host(target):
    """The host of user@host:/path."""
    return target.split(":", 1)[0].rpartition("@")[2]


def paths_input(paths):
    """--files-from's list for a retry, NUL-separated; None when the whole tree goes."""
    if paths is None:
        return None
    return b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in paths)


def explain(returncode, errors, receiving_reason=None, host=None, moved=False):
    """One line saying why rsync failed: a connection lost midway, else its own first complaint, else what its
    exit code means. host: the ssh host of a user@host:/path target; moved: files had gone before the error."""
    if host and connection_lost(returncode, errors, moved):
        return f"connection to {host} lost during the transfer (rsync exit {returncode})"
    first = (receiving_reason and f"the destination cannot store files: {receiving_reason}") or first_complaint(errors)
    meaning = "ssh could not connect" if first and first.startswith("ssh:") else EXIT_MEANINGS.get(returncode, "failed")
    return f"{first} (rsync exit {returncode}: {meaning})" if first else f"rsync exit {returncode}: {meaning}"


def connection_lost(returncode, errors, moved):
    """The ssh connection broke after it was made: rsync had heard from the other side (a refused login or an
    unknown host closes it before a single byte), or exit 255 after files had moved."""
    heard = any(int(match.group(1)) > 0 for match in map(CLOSED.match, errors) if match)
    return returncode in (12, 255) and (heard or moved) and not any(line.startswith("ssh:") for line in errors)


def first_complaint(errors):
    """rsync's or ssh's first line that says something: not ssh's warnings (`Warning: Permanently added ...
    to the list of known hosts`) nor rsync's echo of a closed connection."""
    telling = [line for line in errors if not SSH_WARNING.match(line)]
    return next((line for line in telling if not CLOSED.match(line)), telling[0] if telling else None)


def failure(returncode, errors, receiving_reason=None):
    """The kind of a failed run, from rsync's exit code and its first complaint."""
    first = (first_complaint(errors) or "") + " " + (receiving_reason or "")
    if returncode == 255 or first.startswith("ssh:"):
        return Unreachable
    if "No space left" in first or "Disk quota exceeded" in first or "disk full" in first:
        return DestinationFull
    if "Permission denied" in first or "permission denied" in first:
        return Refused
    return TransportError
