"""Reading rsync's answers: its itemized stdout, its --stats and its complaints on stderr.

rsync runs in the C locale, so odd bytes in names come back as \\#ooo escapes. The itemized
line of a sent file is printed by the sending side once it has sent the data (the %b), which
is not proof that the file is at the destination: a receiver that cannot write (a read-only
or full disk) still lets those lines through. So after a run with any error the transport
asks rsync again, in a dry run over only the files claimed, which of them are really there
(`confirm`); complaints about rsync's temporary files (`.name.XXXXXX`) only give the reason.

With --info=name1,progress1 rsync also prints a file's name when it starts sending it (and progress
lines, which begin with \r), so a message can say what was on its way when a run stopped; with
--info=skip1 and --max-size it names each file it left for a second pass (`<name> is over max-size`).
"""

import os
import re

from .. import Tally

# Patterns every run reads stdout with are compiled here; those only errors need stay text for re.match, which
# compiles them on first use: compiling them all costs a no-change run ~2 ms (FILE_PROBLEM most of it).
ITEM = re.compile(r"^([<>ch.*][fdLDS][^|]{9})\|(\d+)\|\d+\|(.*)$")
FILE_PROBLEM = r'^rsync: (?:\[\w+\] )?(.*?) "(.*?)"(?: -> "(?:.*)")?(?: failed)?: (.*?)(?: \(\d+\))?$'
VANISHED = r'^file has vanished: "(.*)"$'
OVER_MAX_SIZE = re.compile(r"^(.*) is over max-size$")
SKIPPED_FOLDER = "*** Skipping any contents from this failed directory ***"  # follows the folder's own failure
REGULAR_FILES = re.compile(r"^Number of files: \d+ \(reg: (\d+)")
ESCAPE = rb"\\#([0-7]{3})"
TEMPORARY = r"^\.?(.+)\.[A-Za-z0-9]{6}$"  # rsync's mkstemp name: .<name>.XXXXXX (in a temp dir: no dot)
# Failures of one file or folder; anything else on stderr fails the whole job.
FILE_ACTIONS = ("send_files failed to open", "opendir", "readlink", "link_stat", "readdir", "recv_generator",
                "stat", "mkstemp", "rename", "write failed on", "mkdir")
TEMPORARY_ACTIONS = ("mkstemp", "rename", "write failed on")  # they may name rsync's temporary file
RECEIVING_ACTIONS = ("mkstemp", "rename", "write failed on", "mkdir", "recv_generator")
DESTINATION_REASONS = {"No space left": "disk full", "Disk quota exceeded": "disk full (quota)",
                       "Read-only file system": "permission denied (read-only file system)",
                       "Permission denied": "permission denied"}
VANISHED_NOTE = "deleted during the backup, so not sent (not an error of the backup)"


def unescape(name):
    """rsync's \\#ooo escapes back to the file name's own bytes."""
    if "\\#" not in name:
        return name
    raw = re.sub(ESCAPE, lambda match: bytes([int(match.group(1), 8)]), name.encode("utf-8", "surrogateescape"))
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
        self.target_refused = None  # why the target folder itself could not be written in, if it could not
        self.current = None  # the file rsync said it started sending and has not reported done
        self.big = []  # files --max-size left for a second pass
        self.kept_in = None  # where this run keeps what it replaces or deletes (versions: true, mode: mirror)

    def take_stdout(self, line):
        item = ITEM.match(line)
        if item:
            code, size, name = item.groups()
            if code.startswith("*deleting"):
                self.note_removed(unescape(name))
            elif code[0] in "<>" and code[1] == "f":
                name = unescape(name)
                self.tally.sent[name] = int(size)
                self.current = None
                self.log.debug(f"{'would send' if self.job.dry_run else 'sent'} {name}")
            return
        if not line or line.startswith("\r"):
            return  # progress of the file on its way
        count = REGULAR_FILES.match(line)
        over = OVER_MAX_SIZE.match(line)
        if count and self.regular_files is None:  # a second pass counts only its own files
            self.regular_files = int(count.group(1))
        elif over:
            self.big.append(unescape(over.group(1)))
        elif not count:
            self.current = unescape(line)  # a name, or rsync's other chatter: doing() checks

    def doing(self):
        """What rsync was doing when it stopped: "sending <file>" or "listing files"."""
        if self.current and os.path.lexists(os.path.join(self.job.source.path, self.current)):
            return f"sending {self.current}"
        return "listing files"

    def take_stderr(self, lines):
        for line in lines:
            vanished = re.match(VANISHED, line)
            problem = re.match(FILE_PROBLEM, line)
            if vanished:
                self.note_vanished(self.relative(vanished.group(1)))
            elif problem and problem.group(1).startswith(FILE_ACTIONS) and self.relative(problem.group(2)):
                self.take_problem(*problem.groups())
            elif problem and problem.group(1).startswith(RECEIVING_ACTIONS) and \
                    destination_reason(problem.group(3)).startswith("permission denied"):
                self.refuse(destination_reason(problem.group(3)))  # the target folder itself
            elif line.strip() and line != SKIPPED_FOLDER and not line.startswith(("rsync error:", "rsync warning:")):
                self.other_errors.append(line)

    def take_problem(self, action, path, reason):
        """One file's or folder's complaint; a receiving side's names the user's file, never rsync's temporary."""
        path = self.relative(path)
        if action.startswith(("send_files", "opendir", "readlink", "link_stat", "readdir", "stat")):
            return self.fail_file(path, reason)
        reason = destination_reason(reason)
        self.receiving_reason = self.receiving_reason or reason
        folder, _, name = path.rpartition("/")
        if not folder and reason.startswith("permission denied"):
            self.refuse(reason)  # nothing can be made in the target folder itself
        temporary = re.match(TEMPORARY, name) if action.startswith(TEMPORARY_ACTIONS) else None
        if temporary:  # which file it was for, `confirm` finds out; here only why
            self.reasons[f"{folder}/{temporary.group(1)}".lstrip("/")] = reason
            self.reasons.setdefault(temporary.group(1), reason)
        elif action.startswith("write failed on"):
            self.reasons[path] = reason  # the user's name: `confirm` names it, if it did not arrive
        else:
            self.fail_file(path, reason)  # a folder rsync could not make: its files are not even tried

    def refuse(self, reason):
        self.receiving_reason = self.receiving_reason or reason
        self.target_refused = self.target_refused or reason

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

    def note_removed(self, path):
        """A mirror deleted a file at the destination (a folder's own line is not a file: its files say it)."""
        if path.endswith("/"):
            return
        self.tally.removed_paths.append((path, self.kept_in))
        self.tally.removed += 1
        kept = f" (kept in {self.kept_in})" if self.kept_in else ""
        self.log.info(f"{'would remove' if self.job.dry_run else 'removed'} at the destination: {path}{kept}")

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
