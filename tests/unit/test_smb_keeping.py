"""The pure parts of versions and mirror through smbclient: which files a mirror moves away, the versions
folders and moves a session says, and an upload that moves the old copy away before replacing it."""

from types import SimpleNamespace

import pytest

from backup_system.config import load_config
from backup_system.errors import ConfigError
from backup_system.plan import Job, Source
from backup_system.transports.smb.keeping import Keeping, to_remove
from backup_system.transports.smb.temporaries import NOT_KEPT, Upload

STAMP = "2026-01-02-030405"


def answer(marker):
    return f"chdir to /nonexistent/__backup_system_mark_{marker}__ failed (No such file or directory)"


def keeping():
    job = Job(SimpleNamespace(versions=True, options=None), Source("csvs", "/data/csvs", ()),
              "smb://h/s/lab/csvs", False)
    return Keeping(job, "lab/csvs", STAMP)


def test_a_mirror_moves_away_what_the_source_lacks_and_never_ours_excluded_unreadable_or_case_twins():
    remote = {"a.csv": None, "gone.csv": None, "old/x y.csv": None, ".backup_system/MANIFEST": None,
              ".backup_system-0123abcd-ff/t": None, "sub/.backup_system-0123-aa": None, "notes.tmp": None,
              "cache/k.csv": None, "unreadable.csv": None, "Report.csv": None}
    local = {"a.csv": None, "report.csv": None}
    skipped = [("unreadable.csv", "permission denied")]
    assert to_remove(remote, local, skipped, ["*.tmp", "cache/"], case_sensitive=False) == ["gone.csv", "old/x y.csv"]
    assert "Report.csv" in to_remove(remote, local, skipped, ["*.tmp", "cache/"], case_sensitive=True)


def test_versions_folders_are_made_parents_first_and_once_per_session():
    kept = keeping()
    assert kept.kept_in == f"smb://h/s/lab/csvs-versions/{STAMP}"
    session = kept.for_session()
    folders, move = session.commands("n/d/a b.csv")
    assert folders == ['mkdir "lab\\csvs-versions"', f'mkdir "lab\\csvs-versions\\{STAMP}"',
                       f'mkdir "lab\\csvs-versions\\{STAMP}\\n"', f'mkdir "lab\\csvs-versions\\{STAMP}\\n\\d"']
    assert move == f'rename "lab\\csvs\\n\\d\\a b.csv" "lab\\csvs-versions\\{STAMP}\\n\\d\\a b.csv"'  # no -f
    assert session.commands("n/other.csv")[0] == []
    assert kept.for_session().commands("top.csv")[0] == ['mkdir "lab\\csvs-versions"',
                                                         f'mkdir "lab\\csvs-versions\\{STAMP}"']


def upload(replaced):
    return Upload(["a.csv", "b.csv"], lambda path: [f"put {path}"], lambda path: f"rename {path}",
                  lambda path: f"del {path}", keep=keeping().for_session(), replaces=replaced.__contains__)


def test_a_replaced_file_has_its_old_copy_moved_away_before_the_new_one_is_renamed_into_place():
    session = upload({"a.csv"})
    session.opening()
    session.hear(answer("start"))
    said = session.hear(answer("p0"))
    assert said[-2].startswith('rename "lab\\csvs\\a.csv" "lab\\csvs-versions') and said[-1].endswith("_v0__")
    session.hear("NT_STATUS_OBJECT_NAME_COLLISION making remote directory \\lab\\csvs-versions")
    assert session.hear(answer("k0")) == ()  # a folder that is there: no trouble
    assert session.hear(answer("v0"))[0] == "rename a.csv"
    assert session.hear(answer("p1"))[0] == "rename b.csv"  # a new file replaces nothing: nothing to keep
    session.hear(answer("r0"))
    assert session.hear(answer("r1")) == [None]
    assert session.renamed == {"a.csv", "b.csv"} and not session.problems


def test_a_file_whose_old_copy_cannot_be_moved_is_not_replaced():
    session = upload({"a.csv", "b.csv"})
    session.opening()
    session.hear(answer("p0"))
    session.hear(answer("k0"))
    session.hear("NT_STATUS_ACCESS_DENIED renaming files \\lab\\csvs\\a.csv -> \\lab\\csvs-versions\\x\\a.csv")
    assert session.hear(answer("v0"))[0] == "del a.csv"  # the new copy never takes the real name
    assert session.problems["a.csv"][0].startswith(NOT_KEPT)
    assert "permission denied" in session.problems["a.csv"][0]
    session.hear(answer("p1"))
    session.hear(answer("k1"))
    session.hear("NT_STATUS_OBJECT_NAME_NOT_FOUND renaming files \\lab\\csvs\\b.csv -> \\lab\\csvs-versions\\x\\b.csv")
    assert session.hear(answer("v1"))[0] == "rename b.csv"  # the old copy is gone already: nothing to keep


def test_a_versions_folder_the_server_refuses_is_named_as_the_reason():
    session = upload({"a.csv"})
    session.opening()
    session.hear(answer("p0"))
    session.hear("NT_STATUS_ACCESS_DENIED making remote directory \\lab\\csvs-versions")
    session.hear(answer("k0"))
    session.hear("NT_STATUS_OBJECT_PATH_NOT_FOUND renaming files \\lab\\csvs\\a.csv -> \\lab\\csvs-versions\\x\\a.csv")
    session.hear(answer("v0"))
    assert session.problems["a.csv"] == [f"{NOT_KEPT} (permission denied on the server (NT_STATUS_ACCESS_DENIED))"]


@pytest.mark.parametrize("settings, words", [
    ("mode: mirror\n      remove_from_local: true", "remove_from_local: remove_from_local with mode: mirror"),
    ("versions: true\n      csvs_path: smb://h/share", "csvs_path: versions and mode: mirror need a folder"),
])
def test_what_versions_or_a_mirror_cannot_do_on_smb_is_refused_in_one_line(tmp_path, settings, words):
    path = tmp_path / "config.yaml"
    path.write_text(f"backups:\n  destinations:\n    smb:\n      base_path: smb://h/share/lab\n      {settings}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert f"backups.destinations.smb.{words}" in str(caught.value) and "\n" not in str(caught.value)


def test_versions_and_a_mirror_through_smbclient_load(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("backups:\n  destinations:\n    smb:\n      base_path: smb://h/share/lab\n      mode: mirror\n"
                    "      versions: true\n      method: smbclient\n")
    smb = load_config(str(path)).destinations["smb"]
    assert (smb.options.mode, smb.versions) == ("mirror", True)
