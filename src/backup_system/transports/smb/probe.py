"""names: server — ask the share, once per job, which names it keeps as they are.

In a folder of its own (a recorded temporary name) the probe makes folders `a`, `A`, `AUX.x`
and `x.`, lists them and removes the folder with everything in it. A share that ignores case
refuses `A` (the name exists); one that mangles lists `AUX.x` and `x.` under 8.3 names.
Folders, not files: no local file is needed, and `deltree` removes them whatever the server
shows them as.
"""

from .listing import parse_listing
from .names import NameRules, probe_name
from .session import quoted, smb_path

PROBES = {"lower": "a", "upper": "A", "reserved": "AUX.x", "trailing_dot": "x."}


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
