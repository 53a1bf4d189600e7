"""Watching one running smbclient: its commands fed as a conversation, the process stopped when the server
does not answer within connect_timeout, stops answering (the first NT_STATUS_IO_TIMEOUT), or the timeout is up.

Session (session.py) runs every smbclient through Watched; Batch says everything at once, Conversation
writes each command as the answer to what the session said (temporaries.py).
"""

import queue
import threading
import time

from ... import proc
from .session import IO_TIMEOUT, MARKER, MARKER_ANSWER, MARKER_LINE, is_message


class Watched:
    """One smbclient process run to its end under watch: stopped when it says nothing within connect_timeout,
    at its first NT_STATUS_IO_TIMEOUT once connected, or at the destination's timeout.

    Its commands come from `conversation`: `opening()` gives the first commands and `hear(line)` the next ones
    after each line the session says; None among them closes its stdin. `lines`: everything it said;
    `returncode`; `stopped`: None, "connect", "stalled" or "timeout"."""

    def __init__(self, argv, session, conversation, marks=None):
        self.lines = []
        self.heard = 0  # lines said in all (a Relay hands `lines` over empty; this goes on counting)
        self.marks = marks
        self.stopped = None
        self.conversation = conversation
        self.commands = queue.SimpleQueue()
        self.process = proc.start(argv, log=session.log, env={"TZ": "UTC"}, stdin=True, merge_stderr=True)
        self.timers = [threading.Timer(session.connect_timeout, self.stop_unless_answered),
                       threading.Timer(session.timeout, self.stop, args=("timeout",))]
        self.writer = threading.Thread(target=self.write, daemon=True)

    def run(self):
        """Start, converse until the session ends, and return self."""
        try:
            for command in self.conversation.opening():
                self.commands.put(command)
            self.writer.start()
            for timer in self.timers:
                timer.daemon = True
                timer.start()
            self.read()
            self.process.wait()
        finally:
            for timer in self.timers:
                timer.cancel()
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.commands.put(None)
        self.returncode = self.process.returncode
        return self

    def read(self):
        with self.process.stdout as pipe:
            for raw in pipe:
                line = raw.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
                self.lines.append(line)
                self.heard += 1
                if self.marks is not None and line.startswith(MARKER_ANSWER) and MARKER_LINE.search(line):
                    self.marks[MARKER_LINE.search(line).group(1)] = time.perf_counter()
                if IO_TIMEOUT in line and is_message(line):
                    # connected (a line came before) and now a command waited stall_timeout: the server stopped
                    # answering; before any other line it is the connection that timed out
                    self.stop("stalled" if self.heard > 1 else "connect")
                for command in self.conversation.hear(line):
                    self.commands.put(command)

    def write(self):
        """Write the commands as they come, each on its own line; None closes stdin."""
        pipe = self.process.stdin
        try:
            with pipe:
                while (command := self.commands.get()) is not None:
                    pipe.write(self.conversation.line(command))
                    if self.commands.empty():
                        pipe.flush()
        except OSError:  # the session ended (or was stopped) before reading everything
            pass

    def stop_unless_answered(self):
        if not self.heard:
            self.stop("connect")

    def stop(self, why):
        if self.stopped is None:
            self.stopped = why
            try:
                self.process.kill()
            except OSError:
                pass


class Batch:
    """A conversation that says everything at once and closes stdin: what smbclient runs best."""

    def __init__(self, commands):
        self.commands = commands

    def opening(self):
        return [*self.commands, None]

    def hear(self, line):
        return ()

    @staticmethod
    def line(command):
        return (command + "\n").encode("utf-8", "surrogateescape")


class Conversation(Batch):
    """Commands written while the session runs, each as the answer to what it said.

    smbclient waits in poll() on its stdin and then reads a line with fgets(): lines that one read() brought
    into stdio's 4 KiB buffer beyond the first wait there until more bytes arrive, and we would wait for
    their answer for ever. So every line is padded with spaces (which smbclient ignores) to at least the
    buffer's size: a read never brings a second complete line."""

    PADDED = 4096

    @classmethod
    def line(cls, command):
        encoded = command.encode("utf-8", "surrogateescape")
        return encoded + b" " * max(0, cls.PADDED - 1 - len(encoded)) + b"\n"


class Relay(Conversation):
    """A listing said line by line with stdin left open after it, so that the same connected session can go on
    to upload (hand_over) instead of a new one, which costs ~20 round trips and ~50 ms of CPU here and on the
    server. The session runs in a thread of its own from start(); close() ends it when nobody takes it."""

    DONE = "relayed"  # the marker after the listing

    def __init__(self, commands):
        self.commands = [*commands, MARKER.format(self.DONE)]
        self.done = threading.Event()  # the listing is said, or the session ended
        self.ended = False
        self.next = None  # the conversation handed over to
        self.watched = self.thread = None

    def opening(self):
        return list(self.commands)

    def hear(self, line):
        if self.next is not None:
            return self.next.hear(line)
        marker = MARKER_LINE.search(line) if line.startswith(MARKER_ANSWER) else None
        if marker and marker.group(1) == self.DONE:
            self.done.set()
        return ()

    def start(self, watched):
        self.watched = watched
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            self.watched.run()
        finally:
            self.ended = True
            self.done.set()

    def listed(self):
        """The listing's lines once said, or None when the session ended (its outcome tells why)."""
        self.done.wait()
        return None if self.ended else list(self.watched.lines)

    def hand_over(self, conversation):
        """Go on with `conversation` in this session, until it ends; False when the session had already ended."""
        if self.ended:
            return False
        self.watched.lines = []  # the listing's lines were read already
        self.next = conversation
        for command in ["recurse OFF", *conversation.opening()]:
            self.watched.commands.put(command)
        self.thread.join()
        return True

    def close(self):
        """End the session unless it was handed over (its stdin closed: smbclient logs off and exits)."""
        if self.next is None and self.watched is not None:
            self.next = Batch(())
            self.watched.commands.put(None)
