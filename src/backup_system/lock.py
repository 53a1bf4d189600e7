"""One run at a time per config: an flock on `<state_dir>/<name>.lock`.

The kernel drops an flock when the last process holding it ends, so a lock file left by a
dead run is simply taken over; its content (pid and start time) only serves the messages.
Every program the run starts inherits the lock (HELD_BY_CHILDREN, read by proc.start): when only the Python
process is killed (the out-of-memory killer does that), its rsync keeps the lock until it
ends, and a new run stops with exit 3 naming it instead of writing the same target beside it.
"""

import fcntl
import os
import time

from .errors import ConfigError, LockHeld

HELD_BY_CHILDREN = set()  # file descriptors every child process inherits: the lock while it is held


class RunLock:
    """Context manager: hold the lock for the run or raise LockHeld naming the holder."""

    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.fd = None

    def __enter__(self):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ConfigError(f"cannot make the lock file {self.path} (see state_dir): "
                              f"{error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").split()
            os.close(fd)
            raise LockHeld(held_message(self.path, holder)) from None
        previous = os.read(fd, 200).decode("utf-8", "replace").split()
        if previous:
            self.log.info(f"took over a stale lock left by pid {previous[0]} (that process is gone)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self.fd = fd
        HELD_BY_CHILDREN.add(fd)
        return self

    def __exit__(self, *exc):
        HELD_BY_CHILDREN.discard(self.fd)
        os.ftruncate(self.fd, 0)
        os.close(self.fd)  # closing releases the flock (once no child of ours holds it either)
        self.fd = None
        return False


def held_message(path, holder):
    """Who holds the lock: the run named in the file, or, when it is gone, the programs it left running."""
    if not holder or not holder[0].isdigit():
        return held_by_another_program(path)
    pid, started = holder[0], " ".join(holder[1:])
    running = f"another backup is running (pid {pid}{', started ' + started if started else ''})"
    if os.path.exists(f"/proc/{pid}"):
        return f"{running}; lock: {path}"
    children = ", ".join(f"{name} (pid {child})" for child, name in holders(path)) or "a program it started"
    return (f"{running}: that process was killed, but {children} still holds the lock and may be writing; "
            f"wait for it to end (or stop it); lock: {path}")


def held_by_another_program(path):
    """The lock is held, but no run of ours wrote its pid in the file: name the holders /proc shows, if any."""
    programs = ", ".join(f"{name} (pid {pid})" for pid, name in holders(path))
    return f"the lock is held by another process{': ' + programs if programs else ''} (no pid recorded in {path})"


def holders(path):
    """(pid, program name) of each process with the lock file open, from /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            names = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == os.path.abspath(path) for fd in names):
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as stream:
                    found.append((int(pid), stream.read().strip()))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found
