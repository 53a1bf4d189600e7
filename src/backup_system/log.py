"""Messages to the console and to a rotating log file, each tagged with the job it belongs to.

A small writer of our own instead of `logging.handlers`: that import alone costs more than
a third of what an everyday no-change run may add to rsync's own time, and we need only
levels, a prefix and size-based rotation.
"""

import os
import sys
import threading
import time

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}
MAX_BYTES = 10 * 1024 * 1024
KEEP_FILES = 3


class Log:
    """Console at `console_level`, everything at DEBUG and above into `file_path` (rotated at 10 MB, 3 kept)."""

    def __init__(self, file_path=None, console_level=INFO, stream=None, max_bytes=MAX_BYTES, keep=KEEP_FILES):
        self.file_path = file_path
        self.console_level = console_level
        self.stream = stream
        self.max_bytes = max_bytes
        self.keep = keep
        self.prefix = ""
        self.progress = True  # a transport may show a live progress line on a terminal
        self._file = None
        self._size = 0
        self._lock = threading.RLock()  # smb's upload sessions log from their own threads

    def prefixed(self, prefix):
        """A scope in which every message starts with `prefix: `; the previous prefix comes back after."""
        return _Prefixed(self, prefix)

    def debug(self, message):
        self.write(DEBUG, message)

    def info(self, message):
        self.write(INFO, message)

    def warning(self, message):
        self.write(WARNING, message)

    def error(self, message):
        self.write(ERROR, message)

    def write(self, level, message):
        text = f"{self.prefix}: {message}" if self.prefix else message
        with self._lock:
            if level >= self.console_level:
                label = "" if level < WARNING else f"{LEVEL_NAMES[level].lower()}: "
                print(label + text, file=self.stream or sys.stderr, flush=True)
            self._record(text, level)

    def record(self, text, level=INFO):
        """Into the log file only (also for what the console shows anyway, in the summary)."""
        with self._lock:
            self._record(text, level)

    def _record(self, text, level):
        if self.file_path:
            self._append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {LEVEL_NAMES[level]:7} {text}\n")

    def _append(self, line):
        data = line.encode("utf-8", "backslashreplace")
        try:
            if self._file is None:
                self._open()
            if self._size + len(data) > self.max_bytes and self._size:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
        except OSError as error:
            path, self.file_path = self.file_path, None
            self.warning(f"cannot write the log file {path}: {error.strerror}; logging to the console only")

    def _open(self):
        os.makedirs(os.path.dirname(self.file_path) or ".", exist_ok=True)
        self._file = open(self.file_path, "ab")  # noqa: SIM115 - kept open for the whole run
        self._size = self._file.tell()

    def _rotate(self):
        self._file.close()
        for index in range(self.keep - 1, 0, -1):
            older = f"{self.file_path}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self.file_path}.{index + 1}")
        os.replace(self.file_path, f"{self.file_path}.1")
        self._open()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class _Prefixed:
    def __init__(self, log, prefix):
        self.log = log
        self.prefix = prefix

    def __enter__(self):
        self.previous, self.log.prefix = self.log.prefix, self.prefix
        return self.log

    def __exit__(self, *exc):
        self.log.prefix = self.previous
        return False
