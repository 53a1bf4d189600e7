"""method: rclone — an smb destination sent through rclone's smb backend, with the pinned rclone.

The job goes to the rclone transport (its log reading, refused-name exclusion, accounting and
error sorting), with a remote made on the fly from the destination's host, share, port and
credentials file. The remote lives only in rclone's environment (RCLONE_CONFIG_<NAME>_...), with
rclone told to read no config file; the password goes there obscured (`rclone obscure -` reads it
on stdin), never in argv or the log. `--modify-window 1s`: smbclient keeps modification times to
the second and rclone to 100 ns, so without it a tree the smbclient method wrote would all be
sent again (and the other way round). Names SMB cannot keep are refused by the same strict rules
as the smbclient method, and rclone never sees them. Before the copy, one `rclone lsjson --stat`
without retries checks the login and the share: a copy would retry a wrong password for minutes.
"""

import hashlib
import json
import re

from ... import proc
from ...errors import NotFound, Refused, TransportError, Unreachable
from .. import entry
from ..rclone import names as rclone_names
from ..rclone.command import rclone_binary
from ..rclone.transport import Rclone
from . import names as smb_names
from .session import parse_target, read_credentials

REMOTE = "backup_system_smb"  # the remote's name, only ever in our rclone's environment
OBSCURE_TIMEOUT = 30
DIRECTORY_NOT_FOUND = 3  # rclone's exit status
_obscured = {}  # digest of a password -> the password obscured, for this process's jobs
LOGON_FAILED = ("logon is invalid", "logon_failure", "logon failure")
NO_SUCH_SHARE = ("network name not found", "bad_network_name")
LOOKUP_FAILED = re.compile(r"lookup (\S+?):? .*no such host")
UNREACHABLE_CAUSES = ("connection refused", "no answer within", "i/o timeout", "no route to host",
                      "network is unreachable", "connection reset")


def send_via_rclone(destination, job, log):
    """Smb.send through rclone's smb backend: the same job, the same Outcome, the same typed failures."""
    target = parse_target(job.target)
    problem = target.folder and smb_names.refusal(target.folder)
    if problem:
        raise TransportError(f"{job.target}: {problem}")
    transport, rclone_target, user = through_rclone(destination, target, log)
    try:
        check_login(transport, rclone_target)
        return transport.send(job._replace(destination=transport.destination, target=rclone_target))
    except TransportError as error:
        raise in_smb_words(error, destination, target, user) from None


def reach_via_rclone(destination, target, log):
    """reach() of a method: rclone destination, through rclone as its runs go: whether the target folder is
    there (one lookup, nothing written); raises what a run raises."""
    where = parse_target(target)
    transport, rclone_target, user = through_rclone(destination, where, log)
    try:
        return check_login(transport, rclone_target)
    except TransportError as error:
        raise in_smb_words(error, destination, where, user) from None


def through_rclone(destination, target, log):
    """(the rclone transport for this destination, the target as an rclone path, the user name for messages)."""
    user, password, domain = read_login(destination.options.credentials_file)
    obscured = obscure(password, log) if password else None
    through = rclone_destination(destination, target, user, obscured, domain)
    rclone_target = f"{REMOTE}:{'/'.join(part for part in (target.share, target.folder) if part)}"
    return SmbThroughRclone(through, log, [obscured]), rclone_target, user or "guest"


class SmbThroughRclone(Rclone):
    """The rclone transport, refusing the names SMB cannot keep besides those rclone would change."""

    def __init__(self, destination, log, secrets):
        super().__init__(destination, log)
        # only the obscured password: host, user and port are no secrets, and masking them would hide
        # the server's name from every message
        self.secrets = [secret for secret in secrets if secret]

    def refused_names(self, job):
        """(path, reason) per local file rclone would store changed or SMB cannot keep under its own name."""
        paths = rclone_names.local_names(job.source.path, job.source.exclude)
        found = {**dict(rclone_names.refusals(paths)), **dict(smb_names.refusals(paths))}
        return sorted(found.items())


def check_login(transport, rclone_target):
    """Look the target folder up once, without retries, before the copy: a copy retries a refused login or a dead
    server for minutes (rclone cannot tell them from a passing error once the copy has started), this fails
    within the destination's connect_timeout. Whether the folder is there; a missing one is fine: the copy makes
    it."""
    destination, lines = transport.destination, []
    seconds = f"{destination.connect_timeout:g}s"
    argv = [rclone_binary(transport.options), "lsjson", "--stat", "--use-json-log", "--retries", "1",
            "--low-level-retries", "1", "--contimeout", seconds, "--timeout", seconds, rclone_target]
    ran = proc.run(argv, timeout=destination.connect_timeout, log=transport.log, secrets=transport.secrets,
                   env=transport.env, on_line=lines.append, merge_stderr=True)
    if ran.timed_out:
        raise Unreachable(f"no answer within {destination.connect_timeout:g} s (connect_timeout)")
    if ran.returncode not in (0, DIRECTORY_NOT_FOUND):
        raise TransportError(proc.mask(first_error(lines) or f"rclone lsjson exit {ran.returncode}", transport.secrets))
    return ran.returncode == 0


def first_error(lines):
    """The first error of rclone's JSON log (or the notice it fails with: "Failed to lsjson: <cause>")."""
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        message = str(entry.get("msg", ""))
        if entry.get("level") in ("error", "critical") or message.startswith("Failed to"):
            return message
    return None


def read_login(credentials_file):
    """(user, password, domain) from a smbclient credentials file, after the checks the smbclient method makes
    (chmod 600, a password= line); all None for a guest session."""
    if not credentials_file:
        return None, None, None
    read_credentials(credentials_file)  # raises what a run of the smbclient method raises
    with open(credentials_file, encoding="utf-8") as stream:
        values = {key.strip(): value.strip() for key, value in
                  (line.split("=", 1) for line in stream.read().splitlines() if "=" in line)}
    return values.get("username") or None, values.get("password", ""), values.get("domain") or None


def obscure(password, log):
    """The password as rclone's config wants it, obscured by the pinned rclone itself (`rclone obscure -`
    reads the first line of its stdin), so the password is never in any argv; once per run (~0.1 s each)."""
    key = hashlib.blake2b(password.encode()).digest()  # a long-lived notebook kernel keeps no plain password
    if key in _obscured:
        return _obscured[key]
    lines = []
    ran = proc.run([rclone_binary(rclone_defaults()), "obscure", "-"], timeout=OBSCURE_TIMEOUT, log=log,
                   on_line=lines.append, input_bytes=f"{password}\n".encode())
    if ran.timed_out or ran.returncode != 0 or not lines:
        raise TransportError(f"rclone obscure failed (exit {ran.returncode}): cannot hand the password to rclone")
    _obscured[key] = lines[-1].strip()
    return _obscured[key]


def rclone_destination(destination, target, user, obscured, domain):
    """The smb destination as an rclone one: remote REMOTE defined in rclone's environment only."""
    options = destination.options
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    settings = {"TYPE": "smb", "HOST": target.host.strip("[]"), "PORT": str(options.port),
                "USER": user, "PASS": obscured, "DOMAIN": domain}
    environment = {"RCLONE_CONFIG": "",  # an in-memory config: the user's rclone.conf is neither read nor asked for
                   **{prefix + key: value for key, value in settings.items() if value}}
    flags = ["--modify-window", "1s", *(["--size-only"] if options.compare == "size" else [])]
    options = rclone_defaults()._replace(remote=REMOTE, rclone_env=environment, flags=flags,
                                         mode=destination.options.mode)
    return destination._replace(type="rclone", options=options)


def rclone_defaults():
    """The rclone transport's options, each at its default (the pinned rclone, 8 transfers, ...)."""
    rclone = entry("rclone")
    return rclone.options(**{spec.name: spec.default for spec in rclone.fields})


def in_smb_words(error, destination, target, user):
    """The rclone transport's failure said as the smbclient method says it, same kind, same outcome."""
    where = f"//{target.host}/{target.share}"
    message = str(error).replace(f"'{REMOTE}'", where).replace(f"{REMOTE}:", f"//{target.host}/")
    lowered = message.lower()
    if any(words in lowered for words in LOGON_FAILED):
        found = Refused(f"authentication failed for {user} at {where}")
    elif any(words in lowered for words in NO_SUCH_SHARE):
        found = NotFound(f"share '{target.share}' not found on {target.host}")
    elif LOOKUP_FAILED.search(lowered):
        found = Unreachable(f"host name {target.host} not found")
    elif isinstance(error, Unreachable) or any(cause in lowered for cause in UNREACHABLE_CAUSES):
        at = min((lowered.find(cause) for cause in UNREACHABLE_CAUSES if cause in lowered), default=0)
        cause = message[at:]  # "connection refused", not the Go call chain before it
        found = Unreachable(f"cannot reach {where} (port {destination.options.port}): {cause}")
    else:
        found = type(error)(message)
    found.outcome = error.outcome
    return found

