"""rsync over ssh: the --rsh command with our timeouts, rsync's own timeouts, and reading why a connection failed.

A dead server must cost connect_timeout, a hung one stall_timeout, never the 6-hour `timeout`:

- ssh gets `ConnectTimeout=<connect_timeout>` (it bounds the TCP connect and the banner exchange, so a
  server that accepts and never speaks fails too) and BatchMode=yes (a prompt would hang a cron run);
- rsync gets `--timeout=<stall_timeout>`: no byte either way for that long ends it with exit 30 and
  "io timeout", words that say the server stopped answering;
- ssh's ServerAlive keepalives end a connection silent for about twice stall_timeout: the backstop for a
  connection rsync cannot see die. Not sooner, so that rsync's own timeout (which names the cause) comes
  first: ssh's "Timeout, server not responding" is hidden by a LogLevel=ERROR many ssh commands carry.

Each -o is added only when the user's ssh_command does not set that option itself.
"""

import math
import os
import re

from ...locations import is_remote_location

KEEPALIVES = 3  # ServerAliveCountMax
# ssh's words for a connection that never came about -> ours ("cannot reach <host>: <ours>").
CONNECT_FAILURES = (
    ("Connection refused", "connection refused"),
    ("Could not resolve hostname", "name not found"),
    ("Name or service not known", "name not found"),
    ("No address associated with hostname", "name not found"),
    ("Temporary failure in name resolution", "name not found"),
    ("timed out", "timed out"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
)
CONNECT_LINE = r"^(ssh: |kex_exchange_identification: |Connection (timed out|to \S+ port \d+ timed out))"
STALL_LINES = r"^(\[\w+\] io timeout after \d+ seconds|Timeout, server .* not responding)"
RSYNC_TIMEOUT = 30  # rsync's exit code for its --timeout


def is_daemon(target):
    """rsync://host/module or host::module: rsync's own daemon, no ssh."""
    return target.startswith("rsync://") or "::" in target.split("/", 1)[0]


def host_of(target):
    """The host of [user@]host:/path (or of an rsync daemon URL), as the config names it."""
    if target.startswith("rsync://"):
        return target[len("rsync://"):].split("/", 1)[0].rpartition("@")[2].split(":", 1)[0]
    return target.split(":", 1)[0].rpartition("@")[2]


def seconds(value):
    """A whole number of seconds for ssh and rsync, at least 1."""
    return max(1, math.ceil(value))


def rsh_options(job):
    """--rsh for a user@host:/path target: the user's ssh_command (plain ssh otherwise) with BatchMode=yes and our
    timeouts unless the command sets them itself. job.source may be None (a listing of the target only)."""
    ssh_command = list(job.destination.options.ssh_command or [])
    if not ssh_command and not is_remote_location(job.target):
        return []  # a plain local backup starts without shlex
    import shlex

    if not is_remote_location(job.target) or is_daemon(job.target):
        return ["--rsh=" + shlex.join(ssh_command)] if ssh_command else []
    command = ssh_command or ["ssh"]
    if os.path.basename(command[0]) == "ssh":
        said = " ".join(command).lower()
        command += [word for name, value in ssh_settings(job.destination) if name.lower() not in said
                    for word in ("-o", f"{name}={value}")]
    return ["--rsh=" + shlex.join(command)]


def ssh_settings(destination):
    """(option, value) for ssh: never prompt, give up connecting after connect_timeout, and drop a connection
    silent for about twice stall_timeout (rsync's own --timeout ends it at stall_timeout, with the cause)."""
    interval = seconds(2 * destination.stall_timeout / (KEEPALIVES + 1))  # gives up after KEEPALIVES + 1
    return (("BatchMode", "yes"), ("ConnectTimeout", seconds(destination.connect_timeout)),
            ("ServerAliveInterval", interval), ("ServerAliveCountMax", KEEPALIVES))


def timeout_options(job):
    """rsync's own timeouts for a remote target: --timeout (no I/O for stall_timeout), and --contimeout for an
    rsync daemon. A local copy gets none: both of its ends are on this machine."""
    if not is_remote_location(job.target):
        return []
    options = [f"--timeout={seconds(job.destination.stall_timeout)}"]
    if is_daemon(job.target):
        options.append(f"--contimeout={seconds(job.destination.connect_timeout)}")
    return options


def connect_failure(errors):
    """Why the connection never came about, in our words ("connection refused", "name not found", "timed out"),
    from ssh's complaints; None when ssh connected (or did not say)."""
    for line in errors:
        if re.match(CONNECT_LINE, line):
            for words, ours in CONNECT_FAILURES:
                if words in line:
                    return ours
    return None


def stalled(returncode, errors):
    """True when rsync or ssh gave up on a server that stopped answering midway."""
    return returncode == RSYNC_TIMEOUT or any(re.match(STALL_LINES, line) for line in errors)
