"""The one place that starts subprocesses.

Argument lists only, never a shell. Each command is logged once with secrets masked,
bounded by a timeout, and its output streamed line by line to the caller. Built on the
standard library's subprocess rather than `sh`: `sh` costs ~63 ms to import on every run,
more than our whole start-up budget for an everyday run, and we need none of its sugar.
"""

import os
import subprocess
import sys
import threading
import time
from collections import deque, namedtuple

from .errors import TransportError
from .lock import HELD_BY_CHILDREN

Result = namedtuple("Result", "returncode stderr_lines seconds timed_out")
STDERR_LINES_KEPT = 10000


def redact(argv, secrets=()):
    """The argument list as it may be logged: every secret replaced by ***."""
    return [mask(argument, secrets) for argument in argv]


def mask(text, secrets):
    """The text as it may be shown: every secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def run(argv, *, timeout, log, secrets=(), env=None, cwd=None, on_line=None, input_bytes=None, merge_stderr=False):
    """Run argv; give each stdout line (str, newline stripped) to on_line; return a Result.

    env adds to (not replaces) this process's environment; a None value removes a variable.
    merge_stderr sends stderr lines to on_line too, in the order they were written. Raises
    TransportError when the program is missing. On timeout the process is killed and
    Result.timed_out is True.
    """
    started = time.monotonic()
    process = start(argv, log=log, secrets=secrets, env=env, cwd=cwd, stdin=input_bytes is not None,
                    merge_stderr=merge_stderr)
    stderr_lines = deque(maxlen=STDERR_LINES_KEPT)
    expired = threading.Event()
    readers = [] if merge_stderr else [
        threading.Thread(target=_collect, args=(process.stderr, stderr_lines.append), daemon=True)]
    if input_bytes is not None:
        readers.append(threading.Thread(target=_feed, args=(process.stdin, input_bytes), daemon=True))
    timer = threading.Timer(timeout, _expire, args=(process, expired))
    timer.daemon = True
    try:
        for reader in readers:
            reader.start()
        timer.start()
        _collect(process.stdout, on_line or (lambda line: None))
        process.wait()
        for reader in readers:
            reader.join()
    finally:
        timer.cancel()
        if process.poll() is None:
            _stop(process)
    return Result(process.returncode, list(stderr_lines), time.monotonic() - started, expired.is_set())


def start(argv, *, log, secrets=(), env=None, cwd=None, stdin=False, merge_stderr=False):
    """Popen with our rules: logged with secrets masked, a missing program is a TransportError."""
    log.debug(f"run {redact(argv, secrets)}")
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            env=_environment(env) if env else None,
            cwd=cwd,
            pass_fds=tuple(HELD_BY_CHILDREN),  # the run's lock: see lock.py
        )
    except FileNotFoundError:
        raise TransportError(f"{argv[0]} is not installed or not on PATH (run make setup)") from None
    except PermissionError:
        raise TransportError(f"{argv[0]} cannot be executed (permission denied)") from None


def _environment(changes):
    """This process's environment with `changes`: a value replaces, None removes."""
    environment = {**os.environ, **changes}
    return {name: value for name, value in environment.items() if value is not None}


def _collect(pipe, take):
    with pipe:
        for raw in pipe:
            take(raw.rstrip(b"\r\n").decode("utf-8", "surrogateescape"))  # ssh ends its lines with \r\n


def _feed(pipe, data):
    try:
        with pipe:
            pipe.write(data)
    except (BrokenPipeError, OSError):
        pass


def _expire(process, expired):
    expired.set()
    process.kill()


def _stop(process):
    """Stop a child we are abandoning (interrupt, error): politely, then for sure."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_attached(argv, cwd=None, output_to_stderr=False):
    """Run a user's command (the analysis pipeline) on our terminal; return its exit status.

    output_to_stderr keeps our stdout for a machine-readable report (--json). A command
    ended by signal N gives 128+N, as a shell would say.
    """
    if cwd is not None and not os.path.isdir(cwd):
        print(f"cannot run the pipeline: its folder {cwd} (pipeline.workdir) is not a folder", file=sys.stderr,
              flush=True)
        return 126
    try:
        status = subprocess.call(argv, cwd=cwd, stdout=sys.stderr if output_to_stderr else None)
    except FileNotFoundError:
        print(f"{argv[0]}: command not found", file=sys.stderr, flush=True)
        return 127
    except OSError as error:
        print(f"{argv[0]}: {error.strerror or error}", file=sys.stderr, flush=True)
        return 126
    return 128 - status if status < 0 else status
