"""Which copy a restore brings back for a time, and which names it refuses, without a server."""

import time

from backup_system.restoring import Copy, as_of, kept_copies, unsafe_name
from backup_system.times import parse_at
from backup_system.transports import Listed

RUN1, RUN2, RUN3 = 1_000_000, 2_000_000, 3_000_000


def versions_of_three_runs():
    """v1 sent at run 1, replaced by v2 at run 2 (v1 kept), v2 replaced by v3 at run 3 (v2 kept)."""
    live = [Copy("a.csv", 3, RUN3 - 10, "target", None)]
    kept = [Copy("a.csv", 1, RUN1 - 10, "target-versions/2", RUN2),
            Copy("a.csv", 2, RUN2 - 10, "target-versions/3", RUN3)]
    return live, kept


def test_between_runs_two_and_three_the_copy_of_run_two_comes_back():
    live, kept = versions_of_three_runs()
    assert as_of(live, kept, RUN2 + 100)["a.csv"].size == 2
    assert as_of(live, kept, RUN1 + 100)["a.csv"].size == 1
    assert as_of(live, kept, RUN3 + 100)["a.csv"].size == 3
    assert as_of(live, kept, RUN1 - 100) == {}


def test_a_file_deleted_at_a_run_is_back_before_that_run_and_gone_after_it():
    kept = [Copy("gone.csv", 5, RUN1 - 10, "target-versions/2", RUN2)]
    assert as_of([], kept, RUN2 - 1)["gone.csv"].folder == "target-versions/2"
    assert as_of([], kept, RUN2 + 1) == {}


def test_a_versions_listing_is_read_by_its_stamps_and_anything_else_there_is_ignored():
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.localtime(RUN2))
    listed = [Listed(f"{stamp}/sub/a.csv", 1, RUN1), Listed("notes.txt", 1, RUN1), Listed("2026-99-99-999999/x", 1, 1)]
    assert kept_copies(listed, "t-versions") == [Copy("sub/a.csv", 1, RUN1, f"t-versions/{stamp}", RUN2)]


def test_names_that_would_leave_the_restore_folder_are_refused():
    for name in ("../../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a", "a\0b"):
        assert unsafe_name(name), name
    for name in ("a.csv", "back\\slash.csv", "..hidden", "-dash", "日本語/x.csv"):
        assert unsafe_name(name) is None, name


def test_restore_times_are_written_as_people_say_them():
    now = 1_800_000_000
    assert parse_at("3d", now) == now - 3 * 86400
    assert parse_at("yesterday", now) == now - 86400
    assert parse_at("12h", now) == now - 12 * 3600
    assert parse_at("2026-11-30T14:00", now) == time.mktime((2026, 11, 30, 14, 0, 0, 0, 0, -1))
    assert parse_at("last tuesday", now) is None
