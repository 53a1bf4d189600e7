"""Where an interrupted rsync transfer waits to be resumed, and the cleaning after it.

One folder of ours at the top of the target, `.backup_system-partial` (with a number added when
the source itself holds that name, so it can never be a user's folder), given to rsync as an
absolute --partial-dir. rsync adds no exclude rule for an absolute partial dir, so no user
folder is ever left out (a relative one, like rsync's usual `.rsync-partial`, hides every
folder of that name at any depth).

Locally the folder is rsync's --temp-dir and the partial dir is `resume/` inside it: a transfer
killed outright (SIGKILL, power cut) leaves its temporary `name.XXXXXX` in our folder, never
among the user's files, and the next run moves it to `resume/name`, which rsync resumes from.
After a run that ends without an error the folder is removed with whatever is left in it:
everything in it is ours.

Locally a job runs in two passes, because --partial-dir costs rsync one lookup per file it
compares (about 7 % of a no-change run over 100,000 small files). The first sends every file
up to BIG bytes with no partial dir (a small file cut off midway is simply sent again) and names
the bigger ones (`--max-size`, `--info=skip1`); the second sends those of them whose copy here
differs (or that have a piece waiting in resume/) with --partial-dir, so a big file stopped in
any way, SIGTERM and timeouts included, resumes. A no-change run without big files is one
rsync with no lookup of ours per file.

Over ssh the folder cannot be made in advance without another connection, so rsync keeps its
temporary files beside the files. A marker in state_dir says a job's last run did not end;
after the next run that ends without an error one listing finds what that run left (our
folder, and `.name.XXXXXX` files whose `name` is in the source and which the source does not
hold itself) and rsync removes exactly those paths (--delete-missing-args).
"""

import os
import re

from ... import proc
from ...locations import is_remote_location
from .output import unescape

NAME = ".backup_system-partial"
BIG = 8 << 20  # bytes: a file above this goes in the second, resumable pass (locally)
RESUME = "resume"  # locally: the partial dir, inside our folder (the temp dir)
LEFTOVER = r"^(.+)\.[A-Za-z0-9]{6}$"  # a temporary file in our folder (rsync adds no dot there; for re.match)
REMOTE_TEMPORARY = r"^\.(.+)\.[A-Za-z0-9]{6}$"
LISTED = r"^([-dlpscb])\S{9}\s+[\d,]+ \d{4}/\d\d/\d\d \d\d:\d\d:\d\d (.*)$"


def folder_name(source_path):
    """Our folder's name in this target: one the source does not hold at its top."""
    name, number = NAME, 1
    while os.path.lexists(os.path.join(source_path, name)):
        number += 1
        name = f"{NAME}{number}"
    return name


def remote_path(target):
    """The path part of [user@]host:path."""
    return target.split(":", 1)[1]


def our_folder(job):
    """Locally: our folder in the target (rsync's --temp-dir)."""
    return os.path.join(job.target, folder_name(job.source.path))


def partial_dir(job):
    """The --partial-dir value: locally resume/ in our folder; over ssh our folder, as an absolute path on
    the receiving side (a remote path given relative to the login folder can only have a relative one)."""
    name = folder_name(job.source.path)
    if not is_remote_location(job.target):
        return os.path.join(job.target, name, RESUME)
    path = remote_path(job.target)
    return os.path.join(path, name) if path.startswith("/") else name


def prepare_local(folder):
    """Make our folder (rsync needs a --temp-dir to exist) and move a killed run's temporary files into
    resume/. Returns (usable as --temp-dir, resume/ holds something to resume from)."""
    resume = os.path.join(folder, RESUME)
    try:
        os.makedirs(folder, exist_ok=True)
        names = os.listdir(folder)
    except OSError:
        return False, False  # a read-only or odd target: rsync says why, file by file
    for name in names:
        leftover = re.match(LEFTOVER, name)
        if leftover:
            try:
                os.makedirs(resume, exist_ok=True)
                os.replace(os.path.join(folder, name), os.path.join(resume, leftover.group(1)))
            except OSError:
                pass
    try:
        return True, bool(os.listdir(resume))
    except OSError:
        return True, False


def finish_local(folder, clean):
    """After a run: without errors, remove our folder and all in it; else only when it is empty."""
    if clean:
        try:
            os.rmdir(folder)  # empty after most runs; shutil only when it is not (its import costs a no-change run)
        except FileNotFoundError:
            pass
        except OSError:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        return
    for empty in (os.path.join(folder, RESUME), folder):
        try:
            os.rmdir(empty)
        except OSError:
            pass  # absent, or it holds a partial file for the next run


def to_resend(job, big, resume):
    """Of the big files the first pass left, those the second must look at: all when a piece waits in resume/,
    else those whose copy at the target is missing or differs in size, time, mode or owner (rsync decides the rest)."""
    return [path for path in big if resume or differs(os.path.join(job.source.path, path),
                                                      os.path.join(job.target, path))]


def differs(source, copy):
    """True unless both are there with the same size, modification time (ns), mode and owner."""
    try:
        here, there = os.lstat(source), os.lstat(copy)
    except OSError:
        return True
    return (here.st_size, here.st_mtime_ns, here.st_mode, here.st_uid, here.st_gid) != \
        (there.st_size, there.st_mtime_ns, there.st_mode, there.st_uid, there.st_gid)


def marker(job):
    """The file that says this job's last run over ssh has not ended."""
    return os.path.join(job.state_dir, "rsync-unfinished", job.source.name.replace("/", "~"))


def begin_remote(job):
    """Mark the job as running; True when its last run never ended (so there may be leftovers)."""
    path = marker(job)
    unfinished = os.path.exists(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(job.target + "\n")
    except OSError:
        pass  # no state_dir: nothing to clean next time, the backup itself goes on
    return unfinished


def end_remote(job, unfinished, rsh, log):
    """After a run over ssh that ended without an error: remove what an unfinished one left, then the marker."""
    if unfinished and not clean_remote(job, rsh, log):
        return  # keep the marker: try again next run
    try:
        os.remove(marker(job))
    except OSError:
        pass


def clean_remote(job, rsh, log):
    """Remove our folder and stray rsync temporary files from the remote target; True when done."""
    name = folder_name(job.source.path)
    target = job.target.rstrip("/") + "/"
    listed = []
    ran = proc.run(["rsync", "-r", "--list-only", "--no-h", *rsh, "--include=*/", f"--include=/{name}",
                    "--include=.*.??????", "--exclude=*", target], timeout=job.destination.timeout, log=log,
                   env={"LC_ALL": "C"}, on_line=listed.append)
    if ran.returncode:
        return False
    leftovers = [path for path in map(listed_path, listed) if path and is_ours(path, name, job.source.path)]
    if not leftovers:
        return True
    log.info(f"removing what an unfinished run left: {', '.join(leftovers)}")
    stdin = b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in leftovers)
    ran = proc.run(["rsync", "-r", "--delete-missing-args", "--force", "--files-from=-", "--from0", *rsh,
                    job.source.path.rstrip("/") + "/", target], timeout=job.destination.timeout, log=log,
                   input_bytes=stdin)
    return ran.returncode == 0


def listed_path(line):
    """The path of one --list-only line, or None."""
    match = re.match(LISTED, line)
    return match and unescape(match.group(2))


def is_ours(path, name, source):
    """Our folder, or an rsync temporary file for a file the source holds, which the source does not hold."""
    if path == name:
        return True
    folder, _, base = path.rpartition("/")
    temporary = re.match(REMOTE_TEMPORARY, base)
    if not temporary or os.path.lexists(os.path.join(source, path)):
        return False
    return os.path.isfile(os.path.join(source, folder, temporary.group(1)))
