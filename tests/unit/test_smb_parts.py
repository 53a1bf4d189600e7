"""The pure parts of the smb transport: locations, names, listings, markers, the --update rule."""

from backup_system.localtree import LocalFile, is_excluded
from backup_system.plan import needs_transfer
from backup_system.transports.smb.listing import RemoteFile, parse_listing
from backup_system.transports.smb.names import NameRules, refusal, refusals, run_token, temp_name
from backup_system.transports.smb.session import (
    SmbTarget,
    is_message,
    parse_target,
    problems_by_file,
    unfinished,
)
from backup_system.transports.smb.transport import mounted_at

LISTING = """\
Try "help" to get a list of possible commands.
  .                                   D        0  Tue Nov 24 23:23:55 2026
  ..                                  D        0  Tue Nov 24 23:23:55 2026
  top                                 D        0  Tue Nov 24 23:23:55 2026
  looks  D  0  like columns.csv       A       12  Mon Jan  1 00:00:05 2024

\\lab\\top
  .                                   D        0  Tue Nov 24 23:23:55 2026
  ..                                  D        0  Tue Nov 24 23:23:55 2026
  nested                              D        0  Tue Nov 24 23:23:55 2026
  a.txt                               A       10  Tue Nov 24 23:23:55 2026

\\lab\\top\\nested
  b with  spaces.txt                  A     2000  Tue Nov 24 23:23:56 2026

		264212084 blocks of size 1024. 81450544 blocks available
"""


def test_locations_name_server_share_and_folder():
    assert parse_target("smb://fileserver.local/share/lab/flyTrackingData") == SmbTarget(
        "fileserver.local", "share", "lab/flyTrackingData")
    assert parse_target("//host/share") == SmbTarget("host", "share", "")


def test_a_listing_is_read_from_the_right_so_names_with_column_lookalikes_survive():
    files, folders = parse_listing(LISTING.splitlines(), "lab")
    assert folders == {"top", "top/nested"}
    assert files == {
        "looks  D  0  like columns.csv": RemoteFile(12, 1704067205),
        "top/a.txt": RemoteFile(10, 1795562635),
        "top/nested/b with  spaces.txt": RemoteFile(2000, 1795562636),
    }


def test_names_smb_stores_pass_and_the_others_say_why():
    for name in ("a b.csv", "  x.csv", "it's.csv", "semi;colon", "日本.csv", "-dash", "folder/CONSOLE.txt"):
        assert refusal(name) is None, name
    assert refusal("a*b") == "SMB cannot store * in a name"
    assert refusal("bad:folder/x.csv") == "SMB cannot store : in a folder name"
    assert refusal("com1.log") == "name 'com1' is reserved on Windows (listed back mangled)"
    assert refusal("x.") == "name ends with a dot, which SMB lists back mangled"
    assert refusal("caf\udce9.csv") == "name is not valid UTF-8"


def test_names_that_differ_only_in_case_are_both_refused():
    local = {"Report.txt": None, "report.txt": None, "other.txt": None}
    assert dict(refusals(local)) == {
        "Report.txt": "differs only in letter case from report.txt; SMB would keep one file for both",
        "report.txt": "differs only in letter case from Report.txt; SMB would keep one file for both"}


def test_folders_that_differ_only_in_case_refuse_every_file_under_both():
    local = {"Data/a.csv": None, "data/b.csv": None, "data/sub/c.csv": None, "other.csv": None}
    assert dict(refusals(local)) == {
        "Data/a.csv": "its folder Data differs only in letter case from data; SMB would keep one folder for both",
        "data/b.csv": "its folder data differs only in letter case from Data; SMB would keep one folder for both",
        "data/sub/c.csv": "its folder data differs only in letter case from Data; SMB would keep one folder for both"}


def test_a_share_that_keeps_names_as_they_are_is_refused_only_what_it_cannot_store():
    exact = NameRules(case_sensitive=True, keeps_reserved=True, keeps_trailing_dot=True)
    local = {"Report.txt": None, "report.txt": None, "CON": None, "x.": None, "sp ": None, "a*b": None}
    assert dict(refusals(local, exact)) == {"sp ": "name ends with a space, which SMB lists back mangled",
                                            "a*b": "SMB cannot store * in a name"}


def test_temporary_names_are_short_per_folder_unique_per_run_and_end_in_no_vetoed_extension():
    token = run_token()
    temp = temp_name("sub/" + "z" * 255, token)
    assert temp.startswith(f"sub/.backup_system-{token}-") and len(temp) == len("sub/") + 44
    assert "." not in temp.split("/")[-1][1:]  # no extension a share's `veto files` could match
    assert temp_name("a.csv", token) != temp_name("b.csv", token)
    assert run_token() != token  # another run (or host) never writes the same temporary name


def test_a_mounted_share_is_found_in_proc_mounts():
    mounts = ("//FileServer/Share /mnt/lab\\040share cifs rw,relatime 0 0\n"
              "/dev/vda / ext4 rw 0 0\n")
    assert mounted_at(SmbTarget("fileserver", "share", "lab"), mounts) == "/mnt/lab share"
    assert mounted_at(SmbTarget("fileserver", "other", ""), mounts) is None


def test_messages_between_markers_belong_to_their_file():
    lines = ["Anonymous login successful", 'Try "help" to get a list of possible commands.',
             "chdir to /nonexistent/__backup_system_mark_start__ failed (No such file or directory)",
             "putting file /l/a.csv as \\.bs~1.tmp (10 kb/s)",
             "chdir to /nonexistent/__backup_system_mark_0__ failed (No such file or directory)",
             "NT_STATUS_ACCESS_DENIED opening remote file \\.bs~2.tmp",
             "chdir to /nonexistent/__backup_system_mark_1__ failed (No such file or directory)"]
    assert problems_by_file(lines, ["a.csv", "b.csv"]) == {
        "b.csv": ["NT_STATUS_ACCESS_DENIED opening remote file \\.bs~2.tmp"]}


def test_a_session_that_broke_leaves_its_unfinished_files_for_a_retry():
    lines = ["chdir to /nonexistent/__backup_system_mark_start__ failed (No such file or directory)",
             "NT_STATUS_ACCESS_DENIED opening remote file \\a",
             "chdir to /nonexistent/__backup_system_mark_0__ failed (No such file or directory)",
             "chdir to /nonexistent/__backup_system_mark_1__ failed (No such file or directory)",
             "NT_STATUS_CONNECTION_DISCONNECTED opening remote file \\c",
             "chdir to /nonexistent/__backup_system_mark_2__ failed (No such file or directory)",
             "NT_STATUS_CONNECTION_DISCONNECTED opening remote file \\d"]
    assert unfinished(lines, ["a", "b", "c", "d", "e"]) == ["c", "d", "e"]


def test_the_update_rule_at_whole_second_precision():
    local = LocalFile("a", 10, 1000.7)
    assert needs_transfer(local, None)
    assert not needs_transfer(local, RemoteFile(10, 1000))
    assert needs_transfer(local, RemoteFile(11, 1000))
    assert needs_transfer(local, RemoteFile(10, 999))
    assert not needs_transfer(local, RemoteFile(99, 1001))  # newer at the destination: kept


def test_excludes_follow_rsync_rules_for_names_paths_anchors_and_folders():
    assert is_excluded("sub/x.tmp", "x.tmp", False, ["*.tmp"])
    assert is_excluded("a/cache/z", "z", False, ["cache/z"])
    assert not is_excluded("a/cache/z", "z", False, ["/cache/z"])
    assert is_excluded("cache", "cache", True, ["cache/"])
    assert not is_excluded("cache", "cache", False, ["cache/"])


def test_files_with_lower_case_attributes_are_listed_and_names_are_not_errors():
    listing = ("  deduplicated.csv                   Asr       12  Mon Jan  1 00:00:05 2024\n"
               "  NT_STATUS_ACCESS_DENIED.log         An        3  Mon Jan  1 00:00:05 2024\n"
               "  offline.bin                         Ao        4  Mon Jan  1 00:00:05 2024\n")
    files, _ = parse_listing(listing.splitlines(), "")
    assert sorted(files) == ["NT_STATUS_ACCESS_DENIED.log", "deduplicated.csv", "offline.bin"]
    assert [line for line in listing.splitlines() if is_message(line)] == []
    assert not is_message("putting file NT_STATUS_UNSUCCESSFUL.csv as \\lab\\x (1.0 kb/s)")
    assert is_message("NT_STATUS_ACCESS_DENIED opening remote file \\lab\\x")


def test_a_file_whose_commands_would_not_fit_one_smbclient_line_is_refused():
    from types import SimpleNamespace

    from backup_system.plan import Job, Source
    from backup_system.transports.smb.transport import SmbJob

    session = SimpleNamespace(target=SmbTarget("h", "s", "lab/" + "f" * 200), options=None)
    job = Job(SimpleNamespace(versions=False, options=None), Source("csvs", "/data/csvs", ()), "//h/s/lab", False)
    deep = "/".join(["d" * 250] * 16) + "/x.csv"  # about 4 KB: the rename line names it twice, past 8 KB
    local = {"short.csv": LocalFile("short.csv", 1, 0.0), deep: LocalFile(deep, 1, 0.0)}
    found = SmbJob(job, session, None).too_long(local)
    assert found == [(deep, "its path is too long for smbclient's command line (8000 bytes)")]


def test_a_host_is_an_address_or_a_name_to_look_up():
    from backup_system.transports.smb.session import is_address

    assert is_address("127.0.0.1") and is_address("::1") and is_address("[fe80::1]")
    assert not is_address("ramanfile.local") and not is_address("server")


def answer(marker):
    return f"chdir to /nonexistent/__backup_system_mark_{marker}__ failed (No such file or directory)"


def test_an_upload_renames_a_file_only_after_the_session_said_its_put_went_well():
    from backup_system.transports.smb.temporaries import Upload

    upload = Upload(["a.csv", "b.csv"], lambda path: [f"put {path}"], lambda path: f"rename {path}",
                    lambda path: f"del {path}")
    opening = upload.opening()
    assert [command for command in opening if not command.startswith("lcd")] == ["put a.csv", "put b.csv"]
    assert [c for c in upload.hear(answer("start")) if c] == []
    assert upload.hear("putting file a.csv as \\a.tmp (1.0 kb/s)") == ()
    assert upload.hear(answer("p0"))[0] == "rename a.csv"
    upload.hear("cli_push returned NT_STATUS_DISK_FULL")
    assert upload.hear(answer("p1"))[0] == "del b.csv"  # a truncated temporary file never gets the real name
    assert upload.hear(answer("r0")) == []
    assert upload.hear(answer("d1")) == [None]  # every file answered: the session may end
    assert (upload.renamed, set(upload.problems)) == ({"a.csv"}, {"b.csv"})
    assert upload.unfinished() == []


def test_a_broken_upload_session_leaves_unanswered_and_disconnected_files_to_try_again():
    from backup_system.transports.smb.temporaries import Upload

    upload = Upload(["a", "b", "c"], lambda path: [f"put {path}"], lambda path: f"rename {path}",
                    lambda path: f"del {path}")
    upload.opening()
    upload.hear(answer("p0"))
    upload.hear(answer("r0"))
    upload.hear("NT_STATUS_CONNECTION_DISCONNECTED opening remote file \\b")
    upload.hear(answer("p1"))
    assert upload.unfinished() == ["b", "c"]


def test_conversation_lines_are_padded_so_one_read_never_brings_two_whole_lines():
    from backup_system.transports.smb.watch import Conversation

    line = Conversation.line('put "/a b" "\\x"')
    assert len(line) == 4096 and line.endswith(b" \n") and line.startswith(b'put "/a b" "\\x"')
    long = "x" * 5000
    assert Conversation.line(long) == long.encode() + b"\n"


def test_listing_sections_are_split_at_our_markers_only():
    from backup_system.transports.smb.session import split_sections

    lines = ["  __backup_system_mark_0__        A   1  Mon Jan  1 00:00:05 2024", answer(0), "b", answer(1)]
    assert split_sections(lines, 3) == [[lines[0]], ["b"], []]


def covered_by(masks, name):
    return any(name.casefold().startswith(mask[:-1].casefold()) if mask.endswith("*")
               else name.casefold() == mask.casefold() for mask in masks)


def test_listing_masks_cover_every_folder_once_with_few_masks_and_even_work():
    from backup_system.transports.smb.masks import sessions_plan

    names = [f"d{index:05d}" for index in range(1000)]
    plan = sessions_plan(dict.fromkeys(names, 1), 16)
    assert len(plan) == 16 and max(len(masks) for masks, _ in plan) <= 7, plan  # 100 masks of 10 folders
    for name in names:
        assert sum(covered_by(masks, name) for masks, _ in plan) == 1, name
    # a name that begins another's is matched whole; names differing in case stay in one session
    plan = sessions_plan({"ab": 5, "abc": 5, "Data": 1, "data2": 1, "DATA3": 1}, 2)
    assert sorted(mask for masks, _ in plan for mask in masks) == ["D*", "ab", "abc"]
    assert sessions_plan({"a*b": 1}, 4) == [([], ["a*b"])]  # a name a mask cannot hold is listed on its own


def test_listing_work_is_balanced_by_the_previous_runs_folder_counts():
    from backup_system.transports.smb.masks import sessions_plan

    counts = {"big": 64, **{f"s{index:02d}": 1 for index in range(64)}}
    plan = sessions_plan(counts, 2)
    assert sorted(plan) == [(["b*"], []), (["s*"], [])]  # the big tree alone, the 64 small ones together
    assert len(plan) == 2 and sessions_plan({"a": 1, "b": 1}, 1) == [(["a", "b"], [])]


def test_folder_counts_are_kept_per_target_and_a_bad_file_is_no_counts(tmp_path):
    from backup_system.transports.smb.listing import FolderCounts

    counts = FolderCounts(str(tmp_path), "smb://h/s/x")
    assert counts.read() is None
    counts.write({"a", "a/b", "a/b/c", "d"})
    assert counts.read() == {"a": 3, "d": 1}
    assert FolderCounts(str(tmp_path), "smb://h/s/y").read() is None
    with open(counts.path, "w") as stream:
        stream.write("{")
    assert counts.read() is None


def test_an_upload_session_makes_its_folders_first_and_lists_what_it_renamed_last():
    from backup_system.transports.smb.temporaries import Upload

    upload = Upload(["d/a.csv"], lambda path: [f"put {path}"], lambda path: f"rename {path}",
                    lambda path: f"del {path}", folders=["x\\d"], list_command=lambda folder: f"ls {folder}")
    opening = [command for command in upload.opening() if not command.startswith("lcd")]
    assert opening == ['mkdir "x\\d"', "put d/a.csv"]
    upload.hear(answer("start"))
    upload.hear("NT_STATUS_ACCESS_DENIED making remote directory \\x\\d")
    assert upload.hear(answer("m0")) == ()
    upload.hear(answer("p0"))
    closing = upload.hear(answer("r0"))
    assert closing[0] == "ls d" and closing[-1] is None
    line = "  a.csv                               A        4  Mon Jan  1 00:00:05 2024"
    upload.hear(line)
    upload.hear(answer("l0"))
    assert upload.listed == {"d": [line]}
    assert list(upload.folder_problems) == ["x\\d"]


def test_sessions_follow_the_measured_round_trip_up_to_the_setting():
    from backup_system.transports.smb.listing import sessions_for
    from backup_system.transports.smb.session import round_trip

    assert sessions_for(None, 16) == 16  # not measured: the setting
    assert sessions_for(0.00007, 16) == 2  # loopback: one per core
    assert sessions_for(0.0023, 16) == 16 and sessions_for(0.0012, 16) == 8 and sessions_for(0.0023, 4) == 4
    assert sessions_for(0.010, 16) == 16 and sessions_for(0.00007, 1) == 1
    marks = {"start": 1.0, **{f"e{index}": 1.01 + index * 0.003 for index in range(9)}}
    marks["e1"] = marks["e2"]  # an answer our reader saw late counts for little
    assert abs(round_trip(marks) - 0.003) < 1e-9
    assert round_trip({"start": 1.0, "e0": 1.01}) is None
