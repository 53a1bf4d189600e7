"""Sending to an rclone remote (or pulling from it, or keeping both in step): one rclone command per job.

Secrets stay out of argv: they travel in the destination's `rclone_env` (RCLONE_CONFIG_<REMOTE>_<KEY>)
or in the rclone config file, and every message we log or report has their values masked.

Dead and hung servers. rclone retries a refused connection as it retries a passing error (an S3
endpoint with nothing listening cost ~6 minutes a job), so each job first lists the target once without
retries (contact, the listing `reach` makes too): a connection refused, a name not found or no answer
within connect_timeout fails the job at once, in rclone's words for the address ("cannot reach
127.0.0.1:9000: connection refused"). During the job, the LogReader stops rclone at the first such error,
or when nothing has moved for stall_timeout ("the server stopped answering"). rclone's own retries stay
for everything else.
"""

import json
import os
import re
from collections import namedtuple

from ... import proc
from ...errors import NotFound, Stalled, TimedOut, TransportError, Unreachable
from ...localtree import folder_problem
from ...progress import progress_line
from ...versions import VERSIONS_SUFFIX, version_stamp, versions_folder
from .. import Tally, Transport, secrets_of
from . import s3_cold, s3_versions, unfinished
from .command import (
    RETRIES,
    as_folder,
    bisync_workdir,
    config_option,
    probe_argv,
    rclone_argv,
    rclone_binary,
    refused_file,
    report_file,
    retry_file,
    timeout_flags,
)
from .log_reader import (
    FULL,
    NOT_FOUND,
    LogReader,
    Stop,
    bisync_listing,
    classify,
    identical_in,
    list_folder,
    says,
    unsettled_conflicts,
)
from .names import local_names, refusals
from .options import LOG_VARIABLES

LISTREMOTES_TIMEOUT = 30
MISSING_REMOTE = re.compile(r"didn't find section in config file \(\"(.*?)\"\)")
DUMPED_HOST = re.compile(r"\r?\nHost: (\S+)\r?\n")
NOT_THERE_YET = "reachable; the folder is not there yet (a run makes it)"
# the failures of the contact listing that end a job at once; the run itself tells any other (a refused
# listing included: a key that may write but not list can still send with --no-check-dest)
CONTACT_FAILURES = (Unreachable, Stalled, TimedOut)
Contact = namedtuple("Contact", "answered error")
Contact.__doc__ = ("What the contact listing found: whether it listed anything, and the TransportError it ended "
                   "with, or None.")
EXIT_MEANINGS = {
    1: "syntax or usage error", 2: "error not otherwise categorised", 3: "directory not found",
    4: "file not found", 5: "temporary error", 6: "less serious errors", 7: "fatal error",
    8: "--max-transfer limit reached", 9: "no files transferred", 10: "--max-duration limit reached",
}


class Rclone(Transport):
    """Sends a source folder to an rclone remote (or pulls it, or keeps both in step)."""

    name = "rclone"

    def __init__(self, destination, log):
        super().__init__(destination, log)
        self.options = destination.options
        self.secrets = secrets_of(destination)
        # rclone reads every flag from RCLONE_<FLAG> too: none of the user's may hide the log we count from
        self.env = {**dict.fromkeys(LOG_VARIABLES), **self.options.rclone_env}
        self.gone = None  # the Unreachable or Stalled a job of this transport ended with

    def send(self, job):
        """See Transport.send. With direction pull or bisync, files also come down."""
        try:
            return self.send_job(job)
        except (Unreachable, Stalled) as error:
            self.gone = error
            raise

    def native_versions(self):
        """See Transport.native_versions: versions: true on an S3 bucket that keeps them (s3_versions.py)."""
        return s3_versions.native(self)

    def cold(self):
        """See Transport.cold: objects go to S3 DEEP_ARCHIVE or GLACIER (the flags, rclone_env or the remote's own
        storage_class; s3_cold.py)."""
        return s3_cold.cold(self)

    def put_file(self, local_path, location):
        """See Transport.put_file. After a job found the server gone, at once the same error: a frozen server
        would hold the manifest's upload (and the run) until the timeout."""
        if self.gone:
            raise type(self.gone)(str(self.gone))
        return super().put_file(local_path, location)

    def send_job(self, job):
        self.check_setup(job)
        target = job.target
        self.contact_first(target)
        s3_versions.before_send(self, job)  # versions: true: the bucket keeps versions (or a cold mirror is refused)
        workdir, first = self.prepare_bisync(job, target) if self.options.direction == "bisync" else (None, False)
        refused = self.refused_names(job)
        job = without_paths(job, refused)
        report = None if workdir else report_file(job)
        retry, excluded = retry_file(job), refused_file(job, [path for path, _ in refused])
        uploading = unfinished.begin(self, job)
        try:
            ran, reader = self.run_rclone(job, target, workdir, first, report, retry, excluded)
            if ran and not ran.timed_out and ran.returncode >= 0:  # rclone ended on its own: it aborted its parts
                unfinished.end(uploading)
            reader.unchanged = identical_in(report) if report else set()
        finally:
            for path in (report, retry, excluded):
                if path:
                    _remove(path)
        if first and job.dry_run and NOT_FOUND in (reader.fatal or ""):
            # bisync --dry-run needs the remote folder, which only the real first run creates
            self.log.info(f"{target} does not exist yet: the first bisync will create it and send everything here")
            push = self.destination._replace(options=self.options._replace(direction="push"))
            return Rclone(push, self.log).send(job._replace(destination=push))
        tally = self.tally(reader, workdir, job.dry_run)
        tally.failures[:0] = refused
        failure = self.job_failure(ran, reader, job)
        if failure:
            if reader.fatal:
                tally.failures = []  # each file's error only repeats the one the job fails with
            failure.outcome = tally.outcome()
            raise failure
        for path, reason in tally.failures:
            self.log.warning(f"{'conflict' if path in reader.conflicts else 'not sent'}: {path}: {reason}")
        return tally.outcome()

    def check_setup(self, job):
        options = self.options
        problem = folder_problem(job.source.path)
        if problem and (options.direction != "pull" or os.path.lexists(job.source.path)):
            raise NotFound(problem)  # a pull makes its folder; it cannot make it where a file is
        self.check_config_file()
        remote, colon, folder = job.target.partition(":")
        if job.only_paths is not None and options.direction == "bisync":
            raise TransportError("rclone bisync cannot send single files: run a backup without --retry-failed")
        if options.mode == "mirror" and colon and not folder.strip("/"):
            raise TransportError(f"mode: mirror needs a folder inside {remote}: for its versions folder beside it; "
                                 f"{job.target} is the remote's top")

    def refused_names(self, job):
        """(path, reason) per local file a push would store changed or fold into another (see names.py)."""
        if self.options.direction != "push":
            return []
        return refusals(local_names(job.source.path, job.source.exclude))

    def check_config_file(self):
        if self.options.rclone_config and not os.path.isfile(self.options.rclone_config):
            raise NotFound(f"rclone config file {self.options.rclone_config} does not exist")

    # --- contacting the server ----------------------------------------------------------------------

    def reach(self, target):
        """See Transport.reach: one listing of the target's first level, as a run's contact listing."""
        self.check_config_file()
        contact = self.contact(target)
        if contact.error is None:
            return "reachable" if contact.answered or self.listed_in_parent(target) else NOT_THERE_YET
        if isinstance(contact.error, NotFound) and NOT_FOUND in str(contact.error):
            if self.options.direction == "pull":
                raise NotFound(f"{target} does not exist: there is nothing to pull")
            return NOT_THERE_YET
        raise contact.error

    def contact_first(self, target):
        """Before a job: contact the server once, without retries, and raise what a run would end with when
        it cannot be reached (a copy retries a refused connection for minutes)."""
        contact = self.contact(target)
        if isinstance(contact.error, CONTACT_FAILURES) or \
                (isinstance(contact.error, NotFound) and NOT_FOUND not in str(contact.error)):
            raise contact.error
        if contact.error:  # a folder not there yet (a run makes it), or what the run retries
            self.log.debug(f"contacting {target}: {contact.error}")

    def contact(self, location, wanted=None):
        """List `location` (its first level) until the first entry (or, given `wanted`, the entry of that name);
        a Contact."""
        argv = probe_argv(self.destination, location, rclone_binary(self.options))
        seconds = self.destination.connect_timeout
        bound = 3 * seconds + 10  # rclone may try a listing twice even without retries, each within its timeouts
        timeout = min(self.destination.timeout, bound)
        listed = []

        def take(line):
            listed.append(line)
            if wanted is None or line.rstrip("/") == wanted:
                raise Stop(None)  # the server answered: no need for the rest of a long listing

        try:
            ran = proc.run(argv, timeout=timeout, log=self.log, secrets=self.secrets, env=self.env, on_line=take)
        except Stop:
            return Contact(True, None)
        host = dumped_host(ran.stderr_lines)
        where = host or f"'{location.split(':', 1)[0]}'"
        if ran.timed_out and timeout < bound:
            return Contact(False, TimedOut(f"rclone stopped after the {timeout:g} s timeout while connecting to "
                                           f"{where}"))
        if ran.timed_out:
            return Contact(False, Unreachable(f"cannot reach {where}: no answer within {bound:g} s"))
        if ran.returncode == 0:
            return Contact(wanted is None and bool(listed), None)
        reader = LogReader(self.log, self.secrets)
        for line in without_dumps(ran.stderr_lines):
            reader.take(line)
        error = self.explain(reader, ran.returncode, location)
        if isinstance(error, Stalled) and host:
            error = Stalled(f"the server stopped answering: {host} sent nothing for {seconds:g} s "
                            f"(connect_timeout)")
        return Contact(False, error)

    def listed_in_parent(self, target):
        """True when the folder `target` is listed in its parent folder (an empty folder lists nothing itself)."""
        remote, _, path = target.partition(":")
        parent, _, name = path.rstrip("/").rpartition("/")
        if not name:
            return True  # the remote's top: it is there
        return self.contact(f"{remote}:{parent}", wanted=name).answered

    # --- the job's command --------------------------------------------------------------------------

    def run_rclone(self, job, target, workdir, first, report, retry=None, excluded=None):
        """Run the job's rclone command, reading its log as it comes; (proc.Result, LogReader). The result is
        None when the reader stopped rclone (reader.stopped says why)."""
        progress = progress_line(self.log, f"{job.destination.name}/{job.source.name}")
        reader = LogReader(self.log, self.secrets, progress, pushing=self.options.direction != "pull",
                           stall_timeout=self.destination.stall_timeout, where=target)
        stamp, native = version_stamp(), self.native_versions()
        if self.options.mode == "mirror" or self.destination.versions:  # where this run keeps what it replaces
            reader.versions_folder = s3_versions.kept_in(target) if native else \
                versions_folder(as_folder(target) if reader.pushing else job.source.path, stamp)
        argv = rclone_argv(job, target, binary=rclone_binary(self.options), progress=progress is not None,
                           stamp=stamp, workdir=workdir, first_bisync=first, report=report, files_from=retry,
                           exclude_from=excluded, native_versions=native)
        try:
            ran = proc.run(argv, timeout=self.destination.timeout, log=self.log, secrets=self.secrets,
                           env=self.env, on_line=reader.take, merge_stderr=True)
        except Stop:
            ran = None  # proc.run stopped rclone
        finally:
            if progress:
                progress.close()
        return ran, reader

    def prepare_bisync(self, job, target):
        """The pair's state folder; on a first run (or after one that found both sides empty: rclone
        will not sync from an empty listing), say so and make sure the remote folder exists."""
        workdir = bisync_workdir(job, target)
        if any(name.endswith(".lst-err") for name in list_folder(workdir)):
            raise TransportError(f"the last bisync of {job.source.path} with {target} stopped with a critical error "
                                 f"and rclone set the pair aside; check both sides, then delete {workdir} to start "
                                 f"again with a resync")
        listed = bisync_listing(workdir)
        first = not listed
        if first:
            how = "first bisync" if listed is None else "nothing was on either side last time: new bisync"
            self.log.info(f"{how} of {job.source.path} with {target}: rclone bisync --resync-mode newer "
                          f"(each side gets the other's new files, the newer copy wins and the older one is "
                          f"kept in <folder>{VERSIONS_SUFFIX}/, nothing is deleted)")
            if not job.dry_run:
                os.makedirs(workdir, exist_ok=True)
                self.run_quietly(["mkdir", as_folder(target)], target)
        return workdir, first

    def run_quietly(self, words, target):
        """A short rclone command (mkdir, listremotes); its output lines, or a TransportError."""
        lines = []
        ran = proc.run([rclone_binary(self.options), *config_option(self.options), *words, *RETRIES[2:],
                        *timeout_flags(self.destination)],
                       timeout=min(self.destination.timeout, LISTREMOTES_TIMEOUT), log=self.log,
                       secrets=self.secrets, env=self.env, on_line=lines.append, merge_stderr=True)
        if ran.returncode != 0 and words[0] != "listremotes":
            reader = LogReader(self.log, self.secrets)
            for line in lines:
                reader.take(line)
            raise self.explain(reader, ran.returncode, target)
        return lines

    def tally(self, reader, workdir, dry_run=False):
        """Counts and names from what rclone said."""
        tally = Tally()
        tally.sent = dict(reader.sent)
        tally.failures = list(reader.failures.items())
        tally.failures += [(path, reader.conflict_reason(path)) for path in reader.conflicts]
        if workdir:  # bisync: its listing counts; what it deletes on either side is kept beside that side
            listed = bisync_listing(workdir) or []
            tally.unchanged = max(0, len(listed) - len(reader.sent))
            tally.failures += unsettled_conflicts(listed, reader.conflicts)
            return tally
        tally.unchanged = len(reader.unchanged - set(reader.sent) - set(reader.failures))
        kept_anyway = self.native_versions()  # the bucket keeps what rclone deleted as a non-current version
        tally.removed_paths = [(path, reader.versions_folder if kept or kept_anyway else None)
                               for path, kept in reader.removed()]
        tally.removed = len(tally.removed_paths)
        if not dry_run:  # a dry run's reader logged each "would ..." already
            for path, kept_in in tally.removed_paths:
                self.log.info(f"removed at the destination: {path}{f' (kept in {kept_in})' if kept_in else ''}")
        return tally

    def job_failure(self, ran, reader, job):
        """Why the whole job failed, as an unraised TransportError, or None; single files fail in the ran."""
        if reader.stopped:
            return reader.stopped
        if ran.timed_out:
            return TimedOut(f"rclone stopped after the {self.destination.timeout:g} s timeout while "
                            f"{reader.activity()}")
        if ran.returncode == 0:
            return None  # whatever an earlier attempt said, rclone's last one succeeded
        if ran.returncode < 0:
            return TransportError(f"rclone ended by signal {-ran.returncode}")
        if reader.fatal:
            return self.explain(reader, ran.returncode, job.target)
        full = next((reason for reason in reader.failures.values() if says(reason, FULL)), None)
        if full:  # the side that was written to is full: the local folder when pulling
            return classify(full, job.source.path if self.options.direction == "pull" else job.target)
        if not reader.failures and not reader.conflicts:
            return self.explain(reader, ran.returncode, job.target)
        return None

    def explain(self, reader, returncode, target):
        """Why rclone failed, as an unraised TransportError: the cause rclone closes with, else its first error."""
        message = reader.cause or reader.fatal or (reader.errors[0] if reader.errors else None)
        missing = MISSING_REMOTE.search(message or "")
        if missing:
            return NotFound(self.unknown_remote(missing.group(1)))
        if message:
            return classify(message, target)
        usage = next((line for line in reader.plain if line.startswith("Error: ")), None)
        if usage or reader.plain:
            return TransportError(f"rclone: {(usage or reader.plain[0]).removeprefix('Error: ')} "
                                  f"(rclone exit {returncode})")
        return TransportError(f"rclone exit {returncode}: {EXIT_MEANINGS.get(returncode, 'failed')}")

    def unknown_remote(self, name):
        """Name the config file rclone read and the remotes it does hold, so a typo is obvious."""
        where = self.options.rclone_config or self.config_file_read(name)
        lines = self.run_quietly(["listremotes"], f"{name}:")
        known = [line.rstrip(":") for line in lines if line.endswith(":") and not line.startswith("{")]
        there = f"remotes there: {', '.join(known)}" if known else "it has no remotes (make one with rclone config)"
        return f"remote '{name}' is not in the rclone config file {where}; {there}"

    def config_file_read(self, name):
        """The config file rclone actually reads (RCLONE_CONFIG, else its default), as `rclone config file`
        prints it on its last line; rclone is asked once, when the message needs it."""
        lines = self.run_quietly(["config", "file"], f"{name}:")
        path = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return path if os.path.isabs(path) else "that rclone reads (rclone config file names it)"


def dumped_host(lines):
    """The host:port of the first request rclone's --dump headers showed, or None (not an HTTP remote)."""
    for line in lines:
        if "HTTP REQUEST" in line or "Host: " not in line:
            continue
        try:
            found = DUMPED_HOST.search(json.loads(line).get("msg", ""))
        except (ValueError, AttributeError):
            continue
        if found:
            return found.group(1)
    return None


def without_dumps(lines):
    """rclone's log without what --dump adds: the debug entries (HTTP headers) and its note that it set -vv."""
    return [line for line in lines if '"level":"debug"' not in line and "as --dump is enabled" not in line]


def without_paths(job, refused):
    """A retry's job without the paths refused by name: they would only be refused again."""
    if not refused or job.only_paths is None:
        return job
    left_out = {path for path, _ in refused}
    return job._replace(only_paths=tuple(path for path in job.only_paths if path not in left_out))


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
