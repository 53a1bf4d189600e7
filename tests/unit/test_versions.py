"""The one retention rule: which dated versions expire."""

from backup_system.versions import expired, versions_folder


def test_all_but_the_newest_keep_expire_oldest_first():
    stamps = ["20261203-000000", "20261201-000000", "20261202-000000", "20261204-000000"]
    assert expired(stamps, keep=2) == ["20261201-000000", "20261202-000000"]
    assert expired(stamps, keep=4) == [] and expired(stamps, keep=9) == []


def test_the_newest_is_always_kept():
    assert expired(["a", "b"], keep=0) == ["a"]
    assert expired([], keep=1) == []


def test_a_tie_within_a_second_is_broken_by_what_follows_the_stamp():
    assert expired([("20261201-000000", 2, "b.zip"), ("20261201-000000", 1, "a.7z")], keep=1) == [
        ("20261201-000000", 1, "a.7z")]


def test_a_versions_folder_sits_beside_the_backup():
    assert versions_folder("cloud:lab/csvs/", "2026-12-01-120000") == "cloud:lab/csvs-versions/2026-12-01-120000"
