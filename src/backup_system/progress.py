"""One live progress line on a terminal, for every transport: bytes so far, total, rate and time left."""

import sys

from . import log as logs


class ProgressLine:
    """Redrawn in place with `\\r`; `close()` clears it so the next message starts on a clean line."""

    def __init__(self, stream, label):
        self.stream = stream
        self.label = label
        self.shown = False

    def show(self, done_bytes, total_bytes, bytes_per_second, seconds_left=None):
        from .record import format_bytes

        left = f"{int(seconds_left) // 60}:{int(seconds_left) % 60:02d}" \
            if isinstance(seconds_left, (int, float)) else "-"
        text = (f"{self.label}: {format_bytes(done_bytes)} / {format_bytes(total_bytes)}, "
                f"{format_bytes(bytes_per_second)}/s, ETA {left}")
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def progress_line(log, label):
    """A ProgressLine for a person at a terminal, else None: not under -q or --json, not in cron or a pipe."""
    stream = log.stream or sys.stderr
    wanted = log.progress and log.console_level <= logs.INFO and stream.isatty() and sys.stdout.isatty()
    return ProgressLine(stream, label) if wanted else None
