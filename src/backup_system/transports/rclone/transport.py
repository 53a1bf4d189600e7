"""Sending to an rclone remote (or pulling from it, or keeping both in step): one rclone command per job.

Secrets stay out of argv: they travel in the destination's `rclone_env` (RCLONE_CONFIG_<REMOTE>_<KEY>)
or in the rclone config file, and every message we log or report has their values masked.
"""

import os
import re

from ... import proc
from ...errors import NotFound, TimedOut, TransportError
from ...localtree import folder_problem
from ...progress import progress_line
from ...versions import VERSIONS_SUFFIX, version_stamp, versions_folder
from .. import Tally, Transport, secrets_of
from . import unfinished
from .command import (
    RETRIES,
    as_folder,
    bisync_workdir,
    config_option,
    rclone_argv,
    rclone_binary,
    refused_file,
    report_file,
    retry_file,
)
from .log_reader import (
    FULL,
    NOT_FOUND,
    LogReader,
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

    def send(self, job):
        """See Transport.send. With direction pull or bisync, files also come down."""
        self.check_setup(job)
        target = job.target
        workdir, first = self.prepare_bisync(job, target) if self.options.direction == "bisync" else (None, False)
        refused = self.refused_names(job)
        job = without_paths(job, refused)
        report = None if workdir else report_file(job)
        retry, excluded = retry_file(job), refused_file(job, [path for path, _ in refused])
        uploading = unfinished.begin(self, job)
        try:
            ran, reader = self.run_rclone(job, target, workdir, first, report, retry, excluded)
            if not ran.timed_out and ran.returncode >= 0:  # rclone ended on its own: it aborted its own parts
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
        if options.rclone_config and not os.path.isfile(options.rclone_config):
            raise NotFound(f"rclone config file {options.rclone_config} does not exist")
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

    def run_rclone(self, job, target, workdir, first, report, retry=None, excluded=None):
        """Run the job's rclone command, reading its log as it comes; (proc.Result, LogReader)."""
        progress = progress_line(self.log, f"{job.destination.name}/{job.source.name}")
        reader = LogReader(self.log, self.secrets, progress, pushing=self.options.direction != "pull")
        stamp = version_stamp()
        if self.options.mode == "mirror":  # where this run's mirror keeps what it deletes, for the report
            reader.versions_folder = versions_folder(as_folder(target) if reader.pushing else job.source.path, stamp)
        argv = rclone_argv(job, target, binary=rclone_binary(self.options), progress=progress is not None,
                           stamp=stamp, workdir=workdir, first_bisync=first, report=report, files_from=retry,
                           exclude_from=excluded)
        try:
            ran = proc.run(argv, timeout=self.destination.timeout, log=self.log, secrets=self.secrets,
                               env=self.env, on_line=reader.take, merge_stderr=True)
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
        ran = proc.run([rclone_binary(self.options), *config_option(self.options), *words, *RETRIES[2:]],
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
        tally.removed_paths = [(path, reader.versions_folder if kept else None) for path, kept in reader.removed()]
        tally.removed = len(tally.removed_paths)
        if not dry_run:  # a dry run's reader logged each "would ..." already
            for path, kept_in in tally.removed_paths:
                self.log.info(f"removed at the destination: {path}{f' (kept in {kept_in})' if kept_in else ''}")
        return tally

    def job_failure(self, ran, reader, job):
        """Why the whole job failed, as an unraised TransportError, or None; single files fail in the ran."""
        if ran.timed_out:
            return TimedOut(f"rclone stopped after the {self.destination.timeout:g} s timeout")
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
        """Name the remotes that do exist, so a typo is obvious."""
        where = self.options.rclone_config or self.config_file_read(name)
        lines = self.run_quietly(["listremotes"], f"{name}:")
        known = [line.rstrip(":") for line in lines if line.endswith(":") and not line.startswith("{")]
        there = f"remotes there: {', '.join(known)}" if known else "no remotes are configured there (run rclone config)"
        return f"remote '{name}' is not in the rclone configuration {where}; {there}"

    def config_file_read(self, name):
        """The config file rclone actually reads (RCLONE_CONFIG, else its default), as `rclone config file`
        prints it on its last line."""
        lines = self.run_quietly(["config", "file"], f"{name}:")
        path = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return path if os.path.isabs(path) else "rclone's default file (see: rclone config file)"


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
