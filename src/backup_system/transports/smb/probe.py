"""Asking the share without sending: reach() (does the server answer, is the folder there) and
names: server (which names the share keeps as they are).

reach() is one smbclient session that lists the target folder and writes nothing, bounded by the
destination's connect_timeout (with method: rclone, one rclone lookup); it raises the errors a run
raises (wrong password Refused, no such share NotFound, a dead server Unreachable).

names: server asks the share, once per job, which names it keeps as they are.

In a folder of its own (a recorded temporary name) the probe makes folders `a`, `A`, `AUX.x`
and `x.`, lists them and removes the folder with everything in it. A share that ignores case
refuses `A` (the name exists); one that mangles lists `AUX.x` and `x.` under 8.3 names.
Folders, not files: no local file is needed, and `deltree` removes them whatever the server
shows them as.
"""

from ...errors import NotFound, Refused, TimedOut, TransportError, Unreachable
from .listing import parse_listing
from .names import NameRules, probe_name
from .session import ABSENT, STATUS, Session, is_message, parse_target, quoted, smb_path

PROBES = {"lower": "a", "upper": "A", "reserved": "AUX.x", "trailing_dot": "x."}
REACHABLE = "reachable"
NOT_THERE_YET = "reachable; the folder is not there yet (a run makes it)"


def reach(destination, target, log):
    """One smbclient session that lists `target`'s folder, within the destination's connect_timeout: REACHABLE,
    or NOT_THERE_YET when the share answers but the folder is missing. Raises what a run would raise.
    With method: rclone, one rclone lookup instead, as its runs go (smbclient may not even be installed)."""
    if destination.options.method == "rclone":
        from .via_rclone import reach_via_rclone

        return REACHABLE if reach_via_rclone(destination, target, log) else NOT_THERE_YET
    where = parse_target(target)
    session = Session(destination._replace(timeout=destination.connect_timeout), where, log)
    try:
        lines = session.run([f"ls {quoted(smb_path(where.folder, '*'))}"], in_order=False)
    except TimedOut:
        raise Unreachable(f"cannot reach //{where.host}/{where.share} (port {destination.options.port}): "
                          f"no answer within {destination.connect_timeout:g} s (connect_timeout)") from None
    statuses = [match.group(0) for line in lines if is_message(line) for match in [STATUS.search(line)] if match]
    if not statuses:
        return REACHABLE
    if statuses[0] in ABSENT:
        return NOT_THERE_YET
    shown = f"//{where.host}/{where.share}/{where.folder}"
    if statuses[0] == "NT_STATUS_ACCESS_DENIED":
        raise Refused(f"permission denied listing {shown} for {session.user}")
    if statuses[0] == "NT_STATUS_NOT_A_DIRECTORY":
        raise NotFound(f"{shown} is a file on the server, not a folder")
    raise TransportError(f"cannot list {shown}: {statuses[0]}")


def name_rules(session, token, record, recorded):
    """The NameRules of the session's share, probed in the job's target folder (one smbclient session).

    The probe folder stays in the record until a listing shows it gone (see SmbJob.clean_up).
    """
    rules = probe(session, token, record, recorded)
    session.log.info(f"//{session.target.host}/{session.target.share} keeps as they are: {describe(rules)} "
                     f"(names: server)")
    return rules


def probe(session, token, record, recorded):
    folder = probe_name(token)
    recorded.add(folder)
    record.write(recorded)
    top = session.target.folder.split("/") if session.target.folder else []
    commands = [f"mkdir {quoted(smb_path('/'.join(top[:depth])))}" for depth in range(1, len(top) + 1)]
    commands.append(f"mkdir {quoted(smb_path(session.target.folder, folder))}")
    commands += [f"mkdir {quoted(smb_path(session.target.folder, f'{folder}/{name}'))}" for name in PROBES.values()]
    commands += [f"ls {quoted(smb_path(session.target.folder, f'{folder}/*'))}",
                 f"deltree {quoted(smb_path(session.target.folder, folder))}"]
    lines = session.run(commands, in_order=False)
    _, listed = parse_listing(lines, "")
    return NameRules(case_sensitive={PROBES["lower"], PROBES["upper"]} <= listed,
                     keeps_reserved=PROBES["reserved"] in listed, keeps_trailing_dot=PROBES["trailing_dot"] in listed)


def describe(rules):
    kept = [what for what, kept in (("names that differ only in case", rules.case_sensitive),
                                    ("reserved DOS names", rules.keeps_reserved),
                                    ("a trailing dot", rules.keeps_trailing_dot)) if kept]
    return ", ".join(kept) or "none of the names a strict check refuses"
