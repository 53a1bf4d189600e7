"""SMB stories of the rule that nothing is lost and nothing is claimed, against a real Samba server:
temporary names that cannot collide with a user's files or another machine's, shares that veto names or keep
them exactly (names: server), case twins, a server copy edited during the run, a connection lost mid-session,
and `roots` children that are symbolic links.
"""

import os
import sys
import time

import pytest

from backup_system.transports.smb.temporaries import TemporaryRecord
from tests.conftest import job_of, report_of, tree
from tests.integration.smbd import SambaServer
from tests.integration.test_smb_backup import names_in, on_server, smb_config


@pytest.fixture
def samba(tmp_path):
    with SambaServer(tmp_path / "samba") as server:
        yield server


@pytest.fixture
def smb_lab(lab, samba):
    lab.write("data/csvs/a.csv", "1,2\n", mtime=time.time() - 100)
    lab.write("data/results/figure.svg", "<svg/>\n", mtime=time.time() - 100)
    smb_config(lab, samba)
    return lab


def test_temporary_files_an_interrupted_run_recorded_are_cleaned_up_and_nothing_else(smb_lab, samba):
    assert smb_lab.run().returncode == 0
    folder = on_server(samba, "csvs")
    ours = [f".backup_system-0123456789ab-{'0' * 16}", f"sub/.backup_system-0123456789ab-{'1' * 16}"]
    (folder / "sub").mkdir()
    for stray in ours:
        (folder / stray).write_bytes(b"half a file")  # as a cut-off upload leaves it, recorded before the put
    TemporaryRecord(str(smb_lab.path("state/smb")), samba.url("backup", "lab/csvs")).write(set(ours))
    # a user's files (or another machine's upload in progress) that only look like ours
    lookalikes = [".bs~0badf00d0badf00d.tmp", f".backup_system-ba5eba11ba5e-{'2' * 16}"]
    for name in lookalikes:
        (folder / name).write_text("the user's own file\n")
    result = smb_lab.run("-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removing 2 temporary files left by an interrupted run" in result.stderr
    assert [stray for stray in ours if (folder / stray).exists()] == []
    assert [(folder / name).read_text() for name in lookalikes] == ["the user's own file\n"] * 2
    assert list(smb_lab.path("state/smb").glob("smb-temporary-names-*")) == []  # nothing left to clean


def test_a_users_files_named_like_temporary_files_are_backed_up_and_never_deleted(smb_lab, samba):
    names = [".bs~0badf00d0badf00d.tmp", f".backup_system-0123456789ab-{'0' * 16}"]
    sources = {"csvs": {"path": "../data/csvs"}, "results": {"path": "../data/results"}}
    credentials = samba.write_credentials(smb_lab.root / "private" / "smbcredentials")
    smb_lab.write_backups({"smb": {"base_path": samba.url("backup", "lab"), "port": samba.port,
                                   "credentials_file": str(credentials), "remove_from_local": True}},
                          sources=sources)
    for name in names:
        smb_lab.write(f"data/csvs/{name}", "mine\n", mtime=time.time() - 100)
    first = smb_lab.run("--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(job_of(first, "smb", "csvs")["sent"]) == sorted([*names, "a.csv"])
    smb_lab.write("data/csvs/b.csv", "next run\n")
    assert smb_lab.run().returncode == 0
    assert names_in(on_server(samba, "csvs")) == sorted([*names, "a.csv", "b.csv"])
    assert [(on_server(samba, "csvs") / name).read_text() for name in names] == ["mine\n"] * 2


def test_temporary_names_do_not_end_in_an_extension_shares_veto(lab, samba):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/notes.tmp", "a user's .tmp file\n")
    lab.write("data/results/figure.svg", "<svg/>\n")
    smb_config(lab, samba, share="vetotmp")
    result = lab.run("--json")
    assert result.returncode == 1
    assert job_of(result, "smb", "results")["failures"] == [{"path": "notes.tmp", "reason":
        "the server refuses this name (does the share's `veto files` match it?) (NT_STATUS_OBJECT_NAME_NOT_FOUND)"}]
    assert names_in(on_server(samba, "results", share="vetotmp")) == ["figure.svg"]
    assert names_in(on_server(samba, "csvs", share="vetotmp")) == ["a.csv"]


def test_a_share_that_vetoes_the_temporary_names_fails_each_file_naming_the_setting(lab, samba):
    lab.write("data/csvs/a.csv", "1\n")
    lab.write("data/results/r.txt", "r\n")
    smb_config(lab, samba, share="vetodot")
    result = lab.run("--json")
    assert result.returncode == 1
    [failure] = job_of(result, "smb", "csvs")["failures"]
    assert failure["path"] == "a.csv"
    assert failure["reason"].startswith("the server refuses the temporary upload name .backup_system-")
    assert "the share's `veto files` setting probably matches it; allow names starting with .backup_system-" \
        in failure["reason"]
    assert names_in(on_server(samba, "csvs", share="vetodot")) == []


def test_folders_that_differ_only_in_case_are_refused_up_front_with_every_file_named(smb_lab, samba):
    smb_lab.write("data/csvs/Data/x.csv", "upper\n")
    smb_lab.write("data/csvs/data/y.csv", "lower\n")
    result = smb_lab.run("--json")
    assert result.returncode == 1
    failures = {item["path"]: item["reason"] for item in job_of(result, "smb", "csvs")["failures"]}
    assert failures == {
        "Data/x.csv": "its folder Data differs only in letter case from data; SMB would keep one folder for both",
        "data/y.csv": "its folder data differs only in letter case from Data; SMB would keep one folder for both"}
    assert tree(on_server(samba, "csvs")) == {"a.csv": b"1,2\n"}


EXACT_NAMES = {"Report.txt": "long\n", "report.txt": "short\n", "CON": "con\n", "aux.txt": "aux\n",
               "trailing dot.": "dot\n", "Data/x.csv": "upper\n", "data/x.csv": "lower\n"}


def test_names_server_sends_what_a_case_sensitive_unmangling_share_keeps(lab, samba):
    for name, content in EXACT_NAMES.items():
        lab.write(f"data/csvs/{name}", content, mtime=time.time() - 100)
    lab.write("data/csvs/trailing space ", "never: listings pad names with spaces\n")
    lab.write("data/results/r.txt", "r\n")
    smb_config(lab, samba, share="exact", names="server")
    first = lab.run("--json", "-v")
    csvs = job_of(first, "smb", "csvs")
    assert [item["path"] for item in csvs["failures"]] == ["trailing space "]
    assert sorted(csvs["sent"]) == sorted(EXACT_NAMES)
    assert "keeps as they are: names that differ only in case, reserved DOS names, a trailing dot" in first.stderr
    folder = on_server(samba, "csvs", share="exact")
    assert tree(folder) == {name: content.encode() for name, content in EXACT_NAMES.items()}  # each under its own name: no probe folder, no temporary file
    again = job_of(lab.run("--json"), "smb", "csvs")
    assert (again["sent"], again["files_unchanged"]) == ([], len(EXACT_NAMES))


def test_names_server_on_a_default_share_refuses_what_it_would_mangle_or_merge(lab, samba):
    for name, content in EXACT_NAMES.items():
        lab.write(f"data/csvs/{name}", content)
    lab.write("data/csvs/plain.csv", "plain\n")
    lab.write("data/results/r.txt", "r\n")
    smb_config(lab, samba, names="server")
    result = lab.run("--json")
    assert result.returncode == 1
    csvs = job_of(result, "smb", "csvs")
    assert sorted(item["path"] for item in csvs["failures"]) == sorted(EXACT_NAMES)
    assert tree(on_server(samba, "csvs")) == {"plain.csv": b"plain\n"}


WRAPPER = '''#!{python}
"""smbclient in front of the real one, passing its stdin and output through as they come, for a story that
needs something to happen at one moment of a run (the first session that uploads)."""
import os, signal, subprocess, sys, threading
REAL, MODE, FLAG = {real!r}, {mode!r}, {flag!r}
real = subprocess.Popen([REAL, *sys.argv[1:]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
first_upload = []

def forward_commands():
    for line in sys.stdin.buffer:
        if line.startswith(b"put ") and not first_upload:
            try:
                os.close(os.open(FLAG, os.O_CREAT | os.O_EXCL))
                first_upload.append(True)
            except FileExistsError:
                first_upload.append(False)
        real.stdin.write(line)
        real.stdin.flush()
    real.stdin.close()

threading.Thread(target=forward_commands, daemon=True).start()
for line in real.stdout:
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
    if MODE == "drop" and first_upload[:1] == [True] and b"__backup_system_mark_r0__" in line:
        real.kill()  # the connection breaks once the first file is in place
        os.kill(os.getpid(), signal.SIGKILL)
real.wait()
if first_upload[:1] == [True] and MODE.startswith("edit:"):  # someone edits the server's copy meanwhile
    path = MODE[len("edit:"):]
    with open(path, "w") as stream:
        stream.write("edited on the server during the run\\n")
    later = os.stat(path).st_mtime + 1000
    os.utime(path, (later, later))
sys.exit(real.returncode)
'''


def smbclient_wrapper(tmp_path, samba, mode):
    """A PATH (for lab.run's env) whose smbclient runs the real one and, at its first upload, does `mode`."""
    folder = tmp_path / "wrapper-bin"
    folder.mkdir()
    script = folder / "smbclient"
    script.write_text(WRAPPER.format(python=sys.executable, real=samba.smbclient, mode=mode,
                                     flag=str(tmp_path / "wrapper-done")))
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_file_edited_on_the_server_during_the_run_is_kept_not_overwritten(smb_lab, samba, tmp_path):
    assert smb_lab.run().returncode == 0
    smb_lab.write_newer("data/csvs/a.csv", "changed here\n")
    server_copy = on_server(samba, "csvs") / "a.csv"
    result = smb_lab.run("--json", env=smbclient_wrapper(tmp_path, samba, f"edit:{server_copy}"))
    # the upload session confirmed its file before the edit (it lists the folders it wrote): sent, then edited
    assert result.returncode == 0, result.stdout + result.stderr
    assert job_of(result, "smb", "csvs")["sent"] == ["a.csv"]
    assert server_copy.read_text() == "edited on the server during the run\n"
    assert names_in(on_server(samba, "csvs")) == ["a.csv"]  # our temporary copy is gone too
    again = job_of(smb_lab.run("--json"), "smb", "csvs")
    assert (again["sent"], again["failures"]) == ([], [])  # newer there: --update keeps it


def test_a_connection_lost_mid_session_is_retried_once_and_fails_no_file(smb_lab, samba, tmp_path):
    for name in ("b.csv", "c.csv", "d.csv"):
        smb_lab.write(f"data/csvs/{name}", f"{name}\n")
    result = smb_lab.run("--json", "-v", env=smbclient_wrapper(tmp_path, samba, "drop"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trying the 3 files that session did not finish once more" in result.stderr
    assert sorted(job_of(result, "smb", "csvs")["sent"]) == ["a.csv", "b.csv", "c.csv", "d.csv"]
    assert tree(on_server(samba, "csvs")) == {name: f"{name}\n".encode() for name in ("b.csv", "c.csv", "d.csv")} | {
        "a.csv": b"1,2\n"}


def test_roots_children_that_are_symlinks_are_followed_inside_the_root_and_named_outside_it(lab, samba, tmp_path):
    lab.write("scans/run1/x.csv", "1\n")
    lab.write("scans/run1/deep/y.csv", "2\n")
    lab.write("elsewhere/z.csv", "3\n")
    os.symlink(lab.path("scans/run1/deep"), lab.path("scans/latest"))
    os.symlink(lab.path("elsewhere"), lab.path("scans/outside"))
    credentials = samba.write_credentials(lab.root / "private" / "smbcredentials")
    lab.write_backups({"smb": {"base_path": samba.url("backup", "lab"), "port": samba.port,
                               "credentials_file": str(credentials)}}, sources={"scans": {"roots": ["../scans"]}})
    result = lab.run("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = report_of(result)
    assert [job["source"] for job in report["jobs"]] == ["scans/latest", "scans/run1"]
    assert report["notes"] == [f"source scans: {lab.path('scans/outside')} is a symbolic link to "
                               f"{lab.path('elsewhere')}, not to a folder below its root: not backed up (make "
                               f"that folder a source of its own to back it up)"]
    assert (on_server(samba, "scans") / "latest" / "y.csv").read_text() == "2\n"
    assert "outside" not in names_in(on_server(samba, "scans"))
