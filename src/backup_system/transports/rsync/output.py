"""Reading rsync's answers: its itemized stdout, its --stats and its complaints on stderr.

rsync runs in the C locale, so odd bytes in names come back as \\#ooo escapes. The itemized
line of a sent file is printed by the sending side once it has sent the data (the %b), which
is not proof that the file is at the destination: a receiver that cannot write (a read-only
or full disk) still lets those lines through. So after a run with any error the transport
asks rsync again, in a dry run over only the files claimed, which of them are really there
(`confirm`); complaints about rsync's temporary files (`.name.XXXXXX`) only give the reason.
"""

import re

from .. import Tally

ITEM = re.compile(r"^([<>ch.*][fdLDS][^|]{9})\|(\d+)\|\d+\|(.*)$")
FILE_PROBLEM = re.compile(r'^rsync: (?:\[\w+\] )?(.*?) "(.*?)"(?: -> "(?:.*)")?(?: failed)?: (.*?)(?: \(\d+\))?$')
VANISHED = re.compile(r'^file has vanished: "(.*)"$')
REGULAR_FILES = re.compile(r"^Number of files: \d+ \(reg: (\d+)")
ESCAPE = re.compile(rb"\\#([0-7]{3})")
TEMPORARY = re.compile(r"^\.?(.+)\.[A-Za-z0-9]{6}$")  # rsync's mkstemp name: .<name>.XXXXXX (in a temp dir: no dot)
# Failures of one file or folder; anything else on stderr fails the whole job.
FILE_ACTIONS = ("send_files failed to open", "opendir", "readlink", "link_stat", "readdir", "recv_generator",
                "stat", "mkstemp", "rename", "write failed on", "mkdir")
TEMPORARY_ACTIONS = ("mkstemp", "rename", "write failed on")  # they may name rsync's temporary file
DESTINATION_REASONS = {"No space left": "disk full", "Disk quota exceeded": "disk full (quota)",
                       "Read-only file system": "permission denied (read-only file system)",
                       "Permission denied": "permission denied"}
VANISHED_NOTE = "deleted during the backup, so not sent (not an error of the backup)"


def unescape(name):
    """rsync's \\#ooo escapes back to the file name's own bytes."""
    if "\\#" not in name:
        return name
    raw = ESCAPE.sub(lambda match: bytes([int(match.group(1), 8)]), name.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def destination_reason(text):
    """rsync's words for a receiving-side failure, in ours: 'disk full', 'permission denied', else its own."""
    return next((ours for words, ours in DESTINATION_REASONS.items() if words in text), text)


class OutputReader:
    """Reads rsync's stdout and stderr lines into a Tally."""

    def __init__(self, job, log):
        self.job = job
        self.tally = Tally()
        self.log = log
        self.regular_files = None
        self.other_errors = []
        self.vanished = []
        self.reasons = {}  # the user's name -> why rsync could not write it (from its temporary file's error)
        self.receiving_reason = None  # the first destination-side complaint, for files no error names

    def take_stdout(self, line):
        item = ITEM.match(line)
        if item:
            code, size, name = item.groups()
            if code[0] in "<>" and code[1] == "f":
                name = unescape(name)
                self.tally.sent[name] = int(size)
                self.log.debug(f"{'would send' if self.job.dry_run else 'sent'} {name}")
            return
        count = REGULAR_FILES.match(line)
        if count:
            self.regular_files = int(count.group(1))

    def take_stderr(self, lines):
        for line in lines:
            vanished = VANISHED.match(line)
            problem = FILE_PROBLEM.match(line)
            if vanished:
                self.note_vanished(self.relative(vanished.group(1)))
            elif problem and problem.group(1).startswith(FILE_ACTIONS) and self.relative(problem.group(2)):
                self.take_problem(*problem.groups())
            elif line.strip() and not line.startswith(("rsync error:", "rsync warning:")):
                self.other_errors.append(line)

    def take_problem(self, action, path, reason):
        """One file's or folder's complaint; a receiving side's names the user's file, never rsync's temporary."""
        path = self.relative(path)
        if action.startswith(("send_files", "opendir", "readlink", "link_stat", "readdir", "stat")):
            return self.fail_file(path, reason)
        reason = destination_reason(reason)
        self.receiving_reason = self.receiving_reason or reason
        folder, _, name = path.rpartition("/")
        temporary = TEMPORARY.match(name) if action.startswith(TEMPORARY_ACTIONS) else None
        if temporary:  # which file it was for, `confirm` finds out; here only why
            self.reasons[f"{folder}/{temporary.group(1)}".lstrip("/")] = reason
            self.reasons.setdefault(temporary.group(1), reason)
        elif action.startswith("write failed on"):
            self.reasons[path] = reason  # the user's name: `confirm` names it, if it did not arrive
        else:
            self.fail_file(path, reason)  # a folder rsync could not make: its files are not even tried

    def relative(self, path):
        """A path rsync printed, relative to the source or the target."""
        path = unescape(path)
        for root in (self.job.source.path, self.job.target.split(":", 1)[-1], self.job.target):
            root = root.rstrip("/")
            if path.rstrip("/") == root:
                return ""  # the folder itself: a failure of the whole job
            if path.startswith(root + "/"):
                return path[len(root) + 1:]
        return path

    def fail_file(self, path, reason):
        self.tally.failures.append((path, reason))
        self.log.warning(f"not sent: {path}: {reason}")

    def note_vanished(self, path):
        self.vanished.append(path)
        self.log.warning(f"note: {path}: {VANISHED_NOTE}")

    def confirm(self, missing, why=None):
        """Files claimed sent that a second look did not find at the destination become named failures."""
        named = {path for path, _ in self.tally.failures}
        for path in missing:
            self.tally.sent.pop(path, None)
            if path in named:
                continue
            name = path.rpartition("/")[2]
            reason = self.reasons.get(path) or self.reasons.get(name) or why or self.receiving_reason
            self.fail_file(path, reason or "not at the destination after the transfer")

    def outcome(self):
        tally = self.tally
        if self.regular_files is not None:
            tally.unchanged = max(0, self.regular_files - len(tally.sent) - len(tally.failures) - len(self.vanished))
        return tally.outcome()
