"""The rclone command we build and how we read rclone's JSON log: pure functions, no rclone run."""

import json
import os

import pytest

from backup_system.log import Log
from backup_system.plan import Job, Source, start_line, target_for
from backup_system.transports.rclone.command import rclone_argv
from backup_system.transports.rclone.log_reader import (
    LogReader,
    bisync_listing,
    classify,
    go_unquote,
    unsettled_conflicts,
)
from backup_system.transports.rclone.transport import Rclone
from tests.unit.builders import destination as make_destination


def job(direction="push", mode="copy", folder="lab", dry_run=False, source="csvs", **options):
    destination = make_destination("rclone", name="box", remote="cloud", folder=folder, direction=direction,
                                   mode=mode, flags=("--bwlimit", "1M"), transfers=4, checkers=8, **options)
    spec = source.split("/")[0]
    item = Source(source, f"/data/{source}", ("*.tmp",))
    return Job(destination, item, target_for(destination, spec, item), dry_run)


def test_push_is_copy_update_of_the_folder_with_our_json_log_then_the_users_flags():
    argv = rclone_argv(job(), binary="rclone", report="/tmp/r.txt")
    assert argv[:7] == ["rclone", "copy", "/data/csvs", "cloud:lab/csvs/", "--update", "--combined", "/tmp/r.txt"]
    assert argv[argv.index("--use-json-log"):argv.index("--use-json-log") + 4] == ["--use-json-log", "-v", "--stats", "1s"]
    assert argv[-6:] == ["--exclude", "*.tmp", "--exclude", "*.tmp/**", "--bwlimit", "1M"]
    assert "--config" not in argv and "--dry-run" not in argv


def test_pull_mirror_dry_run_and_config_file_in_the_command():
    argv = rclone_argv(job("pull", "mirror", dry_run=True, rclone_config="/etc/r.conf"), stamp="2026-01-02-030405")
    assert argv[1:8] == ["--config", "/etc/r.conf", "sync", "cloud:lab/csvs/", "/data/csvs", "--update",
                         "--backup-dir"]
    assert argv[8] == "/data/csvs-versions/2026-01-02-030405"
    assert "--dry-run" in argv
    push = rclone_argv(job(mode="mirror"), stamp="2026-01-02-030405")
    assert push[push.index("--backup-dir") + 1] == "cloud:lab/csvs-versions/2026-01-02-030405"


def test_bisync_names_its_workdir_and_resyncs_only_the_first_time():
    first = rclone_argv(job("bisync"), workdir="/state/w", first_bisync=True, stamp="2026-01-02-030405")
    assert first[first.index("--backup-dir1"):first.index("--backup-dir1") + 4] == [
        "--backup-dir1", "/data/csvs-versions/2026-01-02-030405",
        "--backup-dir2", "cloud:lab/csvs-versions/2026-01-02-030405"]
    assert first[1:5] == ["bisync", "/data/csvs", "cloud:lab/csvs/", "--workdir"]
    assert "--resync-mode" in first and "--conflict-resolve" in first
    assert "--resync-mode" not in rclone_argv(job("bisync"), workdir="/state/w")


@pytest.mark.parametrize("folder, source, expected", [
    ("lab", "csvs", "cloud:lab/csvs"),
    ("lab-{source}", "csvs", "cloud:lab-csvs"),
    ("lab-{source}", "scans/run1", "cloud:lab-scans/run1"),
    ("{source}/{name}-copy", "scans/run1", "cloud:scans/run1-copy"),
    ("", "csvs", "cloud:csvs"),
])
def test_folder_templates(folder, source, expected):
    assert job(folder=folder, source=source).target == expected


def kind_and_line(error):
    return type(error).__name__, str(error)


def test_failures_are_sorted_into_what_a_user_can_act_on():
    kind, line = kind_and_line(classify("... api error InvalidAccessKeyId: The Access Key Id ...", "s3:b"))
    assert kind == "Refused" and line.startswith("authentication refused by 's3': api error InvalidAccessKeyId")
    assert kind_and_line(classify("Put \"http://x\": dial tcp 1.2.3.4:9: connect: connection refused", "s3:b")) == \
        ("Unreachable", "cannot reach 1.2.3.4:9: connection refused")
    kind, line = kind_and_line(classify("Failed to copy: storageQuotaExceeded", "drive:x"))
    assert kind == "DestinationFull" and line.startswith("'drive' is full")
    kind, line = kind_and_line(classify('Update Close failed: sftp: "write x.partial: no space left on device"',
                                        "nas:x"))
    assert kind == "DestinationFull" and line.startswith("'nas' is full (quota or disk): ")
    assert kind_and_line(classify("error reading source root directory: directory not found", "s3:b/c")) == \
        ("NotFound", "s3:b/c does not exist (error reading source root directory: directory not found)")
    assert kind_and_line(classify("something else broke", "s3:b")) == \
        ("TransportError", "rclone failed at 's3': something else broke")


@pytest.mark.parametrize("direction, dry_run, line", [
    ("push", False, "sending to cloud:lab/csvs"),
    ("pull", False, "pulling from cloud:lab/csvs"),
    ("bisync", False, "syncing with cloud:lab/csvs"),
    ("pull", True, "dry run, pulling from cloud:lab/csvs"),
])
def test_a_job_opens_with_what_it_does(direction, dry_run, line):
    assert start_line(job(direction, dry_run=dry_run)) == line


def entry(message, level="info", **fields):
    return json.dumps({"time": "2026-11-25T01:00:00Z", "level": level, "msg": message, **fields})


def test_the_log_reader_counts_only_the_last_attempts_failures_and_masks_secrets(tmp_path):
    log = Log(str(tmp_path / "log.txt"), console_level=50)
    reader = LogReader(log, secrets=["s3cr3t-key"])
    for line in [
        entry("Copied (new)", object="a.csv", objectType="*s3.Object", size=10),
        entry("Failed to copy: denied for s3cr3t-key", "error", object="b.csv", objectType="*local.Object"),
        entry("Attempt 1/3 failed with 1 errors and: denied", "error"),
        entry("Copied (replaced existing)", object="b.csv", objectType="*s3.Object", size=5),
        entry("Failed to copy: still denied for s3cr3t-key", "error", object="c.csv", objectType="*local.Object"),
        entry("Attempt 3/3 failed with 1 errors", "error"),
        "panic: not json at all",
    ]:
        reader.take(line)
    log.close()
    assert reader.sent == {"a.csv": 10, "b.csv": 5}
    assert reader.failures == {"c.csv": "still denied for ***"}
    assert list(reader.plain) == ["panic: not json at all"]
    assert "s3cr3t-key" not in (tmp_path / "log.txt").read_text()


def reader_after(tmp_path, *lines):
    log = Log(str(tmp_path / "log.txt"), console_level=50)
    reader = LogReader(log, secrets=[])
    for line in lines:
        reader.take(line)
    log.close()
    return reader


def test_a_root_error_that_a_retry_got_past_does_not_fail_the_job(tmp_path):
    reader = reader_after(tmp_path,
                          entry("error reading destination root directory: connection reset", "error"),
                          entry("Attempt 1/3 failed with 1 errors and: connection reset", "error"),
                          entry("Copied (new)", object="a.csv", objectType="*s3.Object", size=3))
    assert (reader.fatal, reader.errors, reader.sent) == (None, [], {"a.csv": 3})


def test_the_reason_shown_is_rclones_closing_cause_else_the_usage_error_not_the_help_text(tmp_path):
    rclone = Rclone(job().destination, Log(None, console_level=50))
    closing = reader_after(tmp_path, entry("Fatal error received - not attempting retries", "error"),
                           entry("Failed to sync: destination and parameter to --backup-dir mustn't overlap", "notice"))
    assert str(rclone.explain(closing, 7, "cloud:lab/csvs")) == \
        "rclone failed at 'cloud': destination and parameter to --backup-dir mustn't overlap"
    usage = reader_after(tmp_path, "Error: unknown flag: --tranfsers", "Usage:",
                         *[f"      --flag-{index} string   help" for index in range(100)])
    assert str(rclone.explain(usage, 2, "cloud:lab/csvs")) == "rclone: unknown flag: --tranfsers (rclone exit 2)"


def test_bisync_listings_and_conflict_copies_left_from_an_earlier_run(tmp_path):
    (tmp_path / "pair.path1.lst").write_text(
        "# bisync listing v1 from 2026-11-25T01:38:28.714847459+0000\n"
        '-        2 - - 2026-11-25T01:38:28.663932266+0000 "x \\"q\\".csv"\n'
        '-        2 - - 2026-11-25T01:38:28.663932266+0000 "a b.csv.conflict1"\n'
        '-        2 - - 2026-11-25T01:38:28.663932266+0000 "a b.csv.conflict2"\n'
        '-        2 - - 2026-11-25T01:38:28.663932266+0000 "lonely.csv.conflict1"\n')
    listed = bisync_listing(str(tmp_path))
    assert listed == ['x "q".csv', "a b.csv.conflict1", "a b.csv.conflict2", "lonely.csv.conflict1"]
    assert [path for path, _ in unsettled_conflicts(listed, found_now=[])] == ["a b.csv"]
    assert unsettled_conflicts(listed, found_now=["a b.csv"]) == []
    assert bisync_listing(str(tmp_path / "none")) is None
    assert go_unquote('"tab\\there"') == "tab\there" and go_unquote('plain "x"') == 'plain "x"'


def test_a_retry_names_its_list_of_paths_raw_before_the_users_flags():
    argv = rclone_argv(job(), binary="rclone", files_from="/state/rclone-retry-1.txt")
    at = argv.index("--files-from-raw")
    assert argv[at:at + 2] == ["--files-from-raw", "/state/rclone-retry-1.txt"] and argv[-2:] == ["--bwlimit", "1M"]
    assert "--files-from-raw" not in rclone_argv(job(), binary="rclone")


def config_error(tmp_path, *lines):
    from backup_system.config import load_config
    from backup_system.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text("backups:\n  sources:\n    csvs: {path: data}\n  destinations:\n    box:\n      remote: cloud\n"
                    + "".join(f"      {line}\n" for line in lines))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize("lines, where, storage_class", [
    (["flags: ['--s3-storage-class', 'DEEP_ARCHIVE']"], ":8: backups.destinations.box.flags.0", "DEEP_ARCHIVE"),
    (["flags: ['--bwlimit', '1M', '--s3-storage-class=GLACIER']"], ":8: backups.destinations.box.flags.2",
     "GLACIER"),
    (["rclone_env: {RCLONE_S3_STORAGE_CLASS: deep_archive}"],
     ":8: backups.destinations.box.rclone_env.RCLONE_S3_STORAGE_CLASS", "deep_archive"),
    (["rclone_env:", "  RCLONE_CONFIG_CLOUD_STORAGE_CLASS: GLACIER"],
     ":9: backups.destinations.box.rclone_env.RCLONE_CONFIG_CLOUD_STORAGE_CLASS", "GLACIER"),
])
def test_mirror_with_a_cold_storage_class_is_refused_at_load_with_what_works_instead(tmp_path, lines, where,
                                                                                      storage_class):
    message = config_error(tmp_path, "mode: mirror", *lines)
    assert f"{where}: mode: mirror does not work with the storage class {storage_class}: " in message
    assert message.endswith("use mode: copy (nothing is deleted), or versions: true (an S3 bucket then keeps "
                            "them itself)")


def test_a_cold_storage_class_is_fine_with_copy_and_a_warm_one_with_mirror(tmp_path):
    from backup_system.config import load_config

    path = tmp_path / "config.yaml"
    for mode, storage_class in (("copy", "DEEP_ARCHIVE"), ("mirror", "STANDARD_IA"), ("mirror", "GLACIER_IR")):
        path.write_text("backups:\n  sources:\n    csvs: {path: data}\n  destinations:\n    box:\n"
                        f"      remote: cloud\n      mode: {mode}\n      flags: ['--s3-storage-class={storage_class}']\n")
        assert load_config(path).destinations["box"].options.mode == mode


def test_refused_names_are_left_out_as_rclone_reads_them_escaped_and_anchored():
    from backup_system.transports.rclone.names import exclude_lines, refusals

    assert refusals(["a.csv", "sub/b c.csv"]) == []
    bad = os.fsdecode(b"caf\xe9 [1].csv")
    assert exclude_lines([bad, "tab\there*.csv", "sub/ends in space "]) == (
        "/caf\ufffd \\[1\\].csv\n/tab\u2409here\\*.csv\n/sub/ends in space[ ]\n")
    assert sorted(path for path, _ in refusals(["d/caf\u00e9.txt", "d/cafe\u0301.txt", "d/na\u00efve.txt"])) == [
        "d/cafe\u0301.txt", "d/caf\u00e9.txt"]
    rclone_argv_with = rclone_argv(job(), exclude_from="/state/refused.txt")
    assert rclone_argv_with[rclone_argv_with.index("--exclude-from") + 1] == "/state/refused.txt"


def test_the_log_reader_names_an_unreadable_folder_and_what_a_mirror_removed(tmp_path):
    reader = reader_after(
        tmp_path,
        entry('failed to open directory "locked": open /d/locked: permission denied', "error", object="locked",
              objectType="string"),
        entry("Failed to copy: failed to open source object: permission denied", "error", object="secret.csv",
              objectType="*local.Object"),
        entry("Deleted", object="edit.csv", objectType="*s3.Object"),
        entry("Copied (new)", object="edit.csv", objectType="*local.Object", size=3),
        entry("Deleted", object="gone.csv", objectType="*s3.Object"),
        entry("Moved into backup dir", object="gone.csv", objectType="*s3.Object"),
        entry("Deleted", object="plain.csv", objectType="*s3.Object"))
    assert reader.failures == {"locked": "cannot read folder: permission denied",
                               "secret.csv": "failed to open source object: permission denied"}
    assert reader.removed() == [("gone.csv", True), ("plain.csv", False)]


@pytest.mark.parametrize("pattern, rules", [
    ("ignore_please", ["ignore_please", "ignore_please/**"]),  # a file or a folder of that name, at any depth
    ("cache/", ["cache/**"]),  # folders only
    ("/top.txt", ["/top.txt", "/top.txt/**"]),  # anchored at the source folder
    ("sub/*.csv", ["sub/*.csv", "sub/*.csv/**"]),
])
def test_an_exclude_reads_as_rsync_reads_it(pattern, rules):
    from backup_system.transports.rclone.command import as_rclone_excludes

    assert as_rclone_excludes(pattern) == rules


# --- dead and hung servers ------------------------------------------------------------------------

S3_DEAD = ('operation error S3: ListObjectsV2, exceeded maximum number of attempts, 5, https response error '
           'StatusCode: 0, RequestID: , HostID: , request send failed, Get "http://127.0.0.1:38351/lab?prefix=csvs%2F": '
           'dial tcp 127.0.0.1:38351: connect: connection refused\n'
           'failed to get rate limit token, retry quota exceeded, 0 available, 5 requested')


@pytest.mark.parametrize("message, kind, line", [
    (S3_DEAD, "Unreachable", "cannot reach 127.0.0.1:38351: connection refused"),
    ('Propfind "http://[::1]:8080/lab/": dial tcp [::1]:8080: connect: connection refused', "Unreachable",
     "cannot reach [::1]:8080: connection refused"),
    ('Get "https://box.example/x": dial tcp: lookup box.example on 127.0.0.53:53: no such host', "Unreachable",
     "cannot reach box.example: name not found"),
    ("dial tcp: lookup box.example: no such host", "Unreachable", "cannot reach box.example: name not found"),
    ('Put "http://10.9.9.9:443/b": dial tcp 10.9.9.9:443: i/o timeout', "Unreachable",
     "cannot reach 10.9.9.9:443: timed out"),
    ('Put "http://h:9/b/x": write tcp 127.0.0.1:59942->127.0.0.1:9: i/o timeout', "Stalled",
     "the server stopped answering: write tcp 127.0.0.1:59942->127.0.0.1:9: i/o timeout"),
    ("couldn't list files: 401 Unauthorized: 401 Unauthorized", "Refused",
     "authentication refused by 'dav': couldn't list files: 401 Unauthorized"),
])
def test_a_server_that_cannot_be_reached_is_named_by_its_address_in_one_line(message, kind, line):
    assert kind_and_line(classify(message, "dav:lab")) == (kind, line)


def stats(bytes_by_file=(), **counters):
    transferring = [{"name": name, "bytes": sent, "size": 1 << 30} for name, sent in bytes_by_file]
    return json.dumps({"level": "info", "msg": "stats", "stats": {"checks": 0, "transfers": 0, "listed": 3,
                                                                  "transferring": transferring, **counters}})


def test_the_stall_watch_stops_rclone_when_nothing_moves_for_the_stall_timeout(tmp_path):
    from backup_system.errors import Stalled
    from backup_system.transports.rclone.log_reader import Stop

    reader = LogReader(Log(None, console_level=50), [], stall_timeout=5, where="cloud:lab/csvs")
    reader.take(stats())
    assert reader.activity() == "listing cloud:lab/csvs"
    reader.take(stats([("big.bin", 4 << 20)]))
    reader.moved_at -= 4
    reader.take(stats([("big.bin", 5 << 20)]))  # more of it left: the watch starts again
    reader.moved_at -= 4
    reader.take(stats([("big.bin", 1 << 20)]))  # rclone's retry sends its start again: nothing new
    reader.moved_at -= 2
    with pytest.raises(Stop) as stop:
        reader.take(stats([("big.bin", 2 << 20), ("b.csv", 0)]))
    assert isinstance(stop.value.error, Stalled) and reader.stopped is stop.value.error
    assert str(stop.value.error) == ("the server stopped answering: nothing moved for 5 s while uploading big.bin "
                                     "and 1 other file to cloud:lab/csvs")


def test_the_first_connection_that_cannot_be_made_stops_rclone_and_a_passing_error_does_not(tmp_path):
    from backup_system.transports.rclone.log_reader import Stop

    reader = LogReader(Log(None, console_level=50), [], stall_timeout=120)
    reader.take(entry("Failed to copy: 500 Internal Server Error", "error", object="a.csv",
                      objectType="*local.Object"))
    with pytest.raises(Stop) as stop:
        reader.take(entry(f"error reading destination root directory: {S3_DEAD}", "error"))
    assert str(stop.value.error) == "cannot reach 127.0.0.1:38351: connection refused"
    unwatched = LogReader(Log(None, console_level=50), [])  # a short command: rclone ends on its own
    unwatched.take(entry(f"error reading destination root directory: {S3_DEAD}", "error"))
    assert unwatched.stopped is None
