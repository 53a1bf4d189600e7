"""One run at a time per config: an flock on `<state_dir>/<name>.lock`.

The kernel drops an flock when its process dies, so a lock file left by a dead run is
simply taken over; its content (pid and start time) only serves the messages.
"""

import fcntl
import os
import time

from .errors import ConfigError, LockHeld


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
            pid, started = (holder + ["?", "?"])[0], " ".join(holder[1:]) or "?"
            raise LockHeld(f"another backup is running (pid {pid}, started {started}); lock: {self.path}") from None
        previous = os.read(fd, 200).decode("utf-8", "replace").split()
        if previous:
            self.log.info(f"took over a stale lock left by pid {previous[0]} (that process is gone)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.ftruncate(self.fd, 0)
        os.close(self.fd)  # closing releases the flock
        self.fd = None
        return False
