"""The rsync command we build and how we read rsync's answers: pure functions, no rsync run."""

from backup_system.log import Log
from backup_system.plan import Job, Source
from backup_system.transports.rsync.output import OutputReader, unescape
from backup_system.transports.rsync.partial import BIG, partial_dir
from backup_system.transports.rsync.ssh import connect_failure, stalled
from backup_system.transports.rsync.transport import rsync_argv
from tests.unit.builders import destination as make_destination


def destination(**overrides):
    return make_destination("rsync", name="secured", base_path="/backup", **overrides)


def job(target="/backup/csvs", dry_run=False, exclude=("*.tmp", "-odd"), **overrides):
    return Job(destination(**overrides), Source("csvs", "/lab/data/csvs", exclude), target, dry_run)


def test_a_local_first_pass_has_no_partial_dir_and_leaves_big_files_naming_them():
    assert rsync_argv(job(), temp_dir="/backup/csvs/.backup_system-partial", max_size=BIG) == [
        "rsync", "-a", "--update", "--mkpath", "--out-format=%i|%l|%b|%n", "--stats", "--no-h",
        "--no-inc-recursive", "--info=name1,progress1,skip1", f"--max-size={BIG}", "--temp-dir=/backup/csvs/.backup_system-partial",
        "--exclude=*.tmp", "--exclude=-odd", "/lab/data/csvs/", "/backup/csvs/"]


def test_the_resumable_pass_gets_our_absolute_partial_dir_and_delta_transfer_when_a_piece_waits():
    argv = rsync_argv(job(), partial_dir(job()), "/backup/csvs/.backup_system-partial", resume=True)
    assert "--partial-dir=/backup/csvs/.backup_system-partial/resume" in argv and "--no-whole-file" in argv
    assert "--no-whole-file" not in rsync_argv(job(), partial_dir(job()))
    assert not [word for word in argv if word.startswith("--max-size")]


def test_remote_target_gets_an_absolute_partial_dir_so_rsync_hides_no_user_folder():
    current = job("ada@server:/srv/backup/csvs", ssh_command=("ssh", "-p", "2222", "-i", "/keys/my key"))
    argv = rsync_argv(current, partial_dir(current), mkpath=False)
    assert "--partial-dir=/srv/backup/csvs/.backup_system-partial" in argv
    assert "--mkpath" not in argv and not [word for word in argv if word.startswith("--temp-dir")]
    assert "--rsh=ssh -p 2222 -i '/keys/my key' -o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=60 " \
           "-o ServerAliveCountMax=3" in argv
    assert argv[-1] == "ada@server:/srv/backup/csvs/"
    assert "--no-inc-recursive" not in argv  # over a link, rsync's per-folder lists let the two ends overlap


def test_ssh_gets_batch_mode_and_our_timeouts_unless_the_users_command_sets_them():
    argv = rsync_argv(job("ada@server:/srv/backup/csvs", connect_timeout=5, stall_timeout=3))
    assert "--rsh=ssh -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=2 -o ServerAliveCountMax=3" in argv
    assert "--timeout=3" in argv  # rsync's own: no byte either way for stall_timeout ends it, with the cause
    told = rsync_argv(job("ada@server:/srv/backup/csvs", ssh_command=("ssh", "-o", "batchmode=no", "-o",
                                                                      "ConnectTimeout=99")))
    assert "--rsh=ssh -o batchmode=no -o ConnectTimeout=99 -o ServerAliveInterval=60 -o ServerAliveCountMax=3" in told
    assert "--rsh=sshpass -f /keys/pw ssh" in rsync_argv(job("ada@server:/srv/backup/csvs",
                                                            ssh_command=("sshpass", "-f", "/keys/pw", "ssh")))
    local = rsync_argv(job())
    assert not [word for word in local if word.startswith(("--rsh", "--timeout", "--contimeout"))]


def test_an_rsync_daemon_gets_a_connect_timeout_and_no_ssh():
    argv = rsync_argv(job("rsync://server/lab/csvs", connect_timeout=7))
    assert "--contimeout=7" in argv and "--timeout=120" in argv
    assert not [word for word in argv if word.startswith("--rsh")]


def test_why_ssh_could_not_connect_in_our_words():
    closed = "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"
    assert connect_failure(["ssh: connect to host 127.0.0.1 port 2222: Connection refused", closed]) == \
        "connection refused"
    assert connect_failure(["ssh: Could not resolve hostname nas.invalid: Name or service not known"]) == \
        "name not found"
    assert connect_failure(["Connection timed out during banner exchange",
                            "Connection to 127.0.0.1 port 2222 timed out", closed]) == "timed out"
    assert connect_failure(["ssh: connect to host 10.1.1.1 port 22: Connection timed out"]) == "timed out"
    assert connect_failure(["ada@server: Permission denied (publickey).", closed]) is None
    assert connect_failure(['rsync: [sender] read error: "x" Connection refused']) is None  # not ssh's


def test_a_server_that_stopped_answering_is_told_apart():
    assert stalled(30, ["[sender] io timeout after 3 seconds -- exiting"])
    assert stalled(255, ["Timeout, server 127.0.0.1 not responding."])
    assert not stalled(255, ["rsync: connection unexpectedly closed (9012 bytes received so far) [sender]"])


def test_the_file_on_its_way_is_what_a_stopped_run_was_doing(tmp_path):
    (tmp_path / "big.bin").write_bytes(b"x")
    reader = OutputReader(Job(destination(), Source("csvs", str(tmp_path), ()), "/backup/csvs", False), Log())
    assert reader.doing() == "listing files"
    reader.take_stdout("created directory /backup/csvs")
    assert reader.doing() == "listing files"  # rsync's chatter is no file of the source
    reader.take_stdout("big.bin")
    reader.take_stdout("\r      32768   0%    0.00kB/s    0:00:00")
    assert reader.doing() == "sending big.bin"
    reader.take_stdout(">f+++++++++|1|1|big.bin")
    reader.take_stdout("sub/huge.iso is over max-size")
    assert reader.doing() == "listing files" and reader.big == ["sub/huge.iso"]


def test_a_target_folder_nobody_may_write_in_is_refused_as_a_whole():
    reader = OutputReader(job(), Log())
    reader.take_stderr(['rsync: [Receiver] mkdir "/backup/csvs/" failed: Permission denied (13)'])
    assert reader.target_refused == "permission denied" and reader.other_errors == []
    inside = OutputReader(job(), Log())
    inside.take_stderr(['rsync: [receiver] mkstemp "/backup/csvs/.a.csv.uAGUv1" failed: Permission denied (13)',
                        'rsync: [generator] recv_generator: mkdir "/backup/csvs/sub/deeper" failed: Permission '
                        'denied (13)', "*** Skipping any contents from this failed directory ***"])
    assert inside.target_refused == "permission denied" and inside.other_errors == []
    assert inside.tally.failures == [("sub/deeper", "permission denied")]  # a folder deeper down: per file


def test_dry_run_and_extra_options_and_no_partial():
    argv = rsync_argv(job(dry_run=True, rsync_options=("--bwlimit=20m",)))
    assert "--dry-run" in argv and "--bwlimit=20m" in argv
    assert not [word for word in argv if word.startswith(("--partial-dir", "--info"))]  # a dry run makes nothing
    assert not [word for word in rsync_argv(job(), partial_dir="/x", temp_dir="/y") if word.startswith("--max-size")]


def test_our_partial_folder_never_takes_a_name_the_source_holds(tmp_path):
    source = tmp_path / "csvs"
    (source / ".backup_system-partial").mkdir(parents=True)
    (source / ".backup_system-partial2").write_text("mine")
    current = Job(destination(), Source("csvs", str(source), ()), "/backup/csvs", False)
    assert partial_dir(current) == "/backup/csvs/.backup_system-partial3/resume"
    assert partial_dir(current._replace(target="server:backup/csvs")) == ".backup_system-partial3"


def test_escaped_names_come_back_byte_for_byte():
    assert unescape("new\\#012line") == "new\nline"
    assert unescape("\\#346\\#227\\#245\\#346\\#234\\#254\\#303\\#251") == "日本é"
    assert unescape("back\\#134#012slash") == "back\\#012slash"
    assert unescape("plain name") == "plain name"


def test_itemized_output_stats_and_errors_make_the_outcome():
    current = job()
    reader = OutputReader(current, Log())
    for line in [">f+++++++++|100|100|a b.csv", "cd+++++++++|4096|0|sub/", ">f.st......|7|3|sub/new\\#012line.csv",
                 ".f..t......|5|0|touched.csv", "", "Number of files: 12 (reg: 10, dir: 2)",
                 "Number of regular files transferred: 2"]:
        reader.take_stdout(line)
    reader.take_stderr([
        'rsync: [sender] send_files failed to open "/lab/data/csvs/secret.csv": Permission denied (13)',
        'file has vanished: "/lab/data/csvs/gone.csv"',
        "rsync warning: some files vanished before they could be transferred (code 24) at main.c(1889)",
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23)",
    ])
    outcome = reader.outcome()
    assert (len(outcome.sent), outcome.bytes_sent, outcome.unchanged) == (2, 107, 6)
    assert outcome.sent == ("a b.csv", "sub/new\nline.csv")
    assert outcome.failures == (("secret.csv", "Permission denied"),)  # the vanished file is a note, no failure
    assert reader.vanished == ["gone.csv"] and reader.other_errors == []


def test_a_receiver_that_cannot_write_names_the_users_file_never_rsyncs_temporary_one():
    reader = OutputReader(job(), Log())
    for line in [">f+++++++++|9|9|big.bin", ">f+++++++++|3|3|sub/a.csv", ">f+++++++++|1|1|b.csv"]:
        reader.take_stdout(line)
    reader.take_stderr([
        'rsync: [receiver] mkstemp "/backup/csvs/sub/.a.csv.uAGUv1" failed: Read-only file system (30)',
        'rsync: [receiver] write failed on "/backup/csvs/big.bin": No space left on device (28)',
        'rsync: [generator] recv_generator: mkdir "/backup/csvs/deep" failed: Read-only file system (30)'])
    reader.confirm(("big.bin", "sub/a.csv"))  # what the second look did not find
    outcome = reader.outcome()
    assert outcome.sent == ("b.csv",)
    assert outcome.failures == (("deep", "permission denied (read-only file system)"), ("big.bin", "disk full"),
                                ("sub/a.csv", "permission denied (read-only file system)"))
    assert reader.other_errors == []


def test_a_retry_sends_only_its_paths_read_from_stdin_nul_separated():
    from backup_system.transports.rsync.transport import paths_input

    argv = rsync_argv(job()._replace(only_paths=("a b.csv", "sub/new\nline.csv")))
    assert argv[argv.index("--exclude=-odd") + 1:argv.index("--exclude=-odd") + 3] == ["--files-from=-", "--from0"]
    assert paths_input(("a b.csv", "sub/new\nline.csv")) == b"a b.csv\0sub/new\nline.csv\0"
    assert paths_input(None) is None and "--files-from=-" not in rsync_argv(job())


def test_a_connection_lost_midway_is_not_called_a_failure_to_connect():
    from backup_system.transports.rsync.transport import explain

    closed = "rsync: connection unexpectedly closed ({} bytes received so far) [sender]"
    assert explain(255, [closed.format(9012)], host="server") == \
        "connection to server lost during the transfer (rsync exit 255)"
    assert explain(255, ["rsync: [sender] write error: Broken pipe (32)"], host="server", moved=True) == \
        "connection to server lost during the transfer (rsync exit 255)"
    refused = ["ssh: connect to host server port 22: Connection refused", closed.format(0)]
    assert explain(255, refused, host="server") == \
        "ssh: connect to host server port 22: Connection refused (rsync exit 255: ssh could not connect)"


def test_ssh_warnings_are_never_the_reason_shown():
    from backup_system.transports.rsync.transport import explain

    errors = ["Warning: Permanently added '[server]:2222' (ED25519) to the list of known hosts.",
              "ada@server: Permission denied (publickey).",
              "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"]
    assert explain(255, errors, host="server") == \
        "ada@server: Permission denied (publickey). (rsync exit 255: ssh could not connect)"


# --- versions: true and mode: mirror -----------------------------------------------------------------------

def test_versions_true_keeps_what_an_update_replaces_beside_the_target_and_deletes_nothing():
    argv = rsync_argv(job(versions=True), stamp="2026-03-01-120000")
    assert argv[argv.index("--backup"):argv.index("--backup") + 2] == [
        "--backup", "--backup-dir=/backup/csvs-versions/2026-03-01-120000"]
    assert "--delete" not in argv
    assert "--backup" not in rsync_argv(job(), stamp="2026-03-01-120000")  # a plain copy keeps nothing


def test_a_mirror_deletes_keeps_and_protects_our_own_folders_at_the_top_of_the_target():
    argv = rsync_argv(job(mode="mirror"), stamp="2026-03-01-120000")
    assert {"--backup", "--backup-dir=/backup/csvs-versions/2026-03-01-120000", "--delete",
            "--filter=P /.backup_system/", "--filter=P /.backup_system-partial/"} <= set(argv)
    assert argv.index("--filter=P /.backup_system/") < argv.index("--exclude=*.tmp")


def test_over_ssh_the_versions_folder_is_given_relative_to_the_target_so_it_lands_beside_it():
    argv = rsync_argv(job("ada@server:/srv/backup/csvs", mode="mirror"), stamp="2026-03-01-120000")
    assert "--backup-dir=../csvs-versions/2026-03-01-120000" in argv
    home = rsync_argv(job("ada@server:backup/my csvs/", versions=True), stamp="2026-03-01-120000")
    assert "--backup-dir=../my csvs-versions/2026-03-01-120000" in home


def test_a_pass_over_a_list_of_paths_keeps_versions_but_deletes_nothing():
    argv = rsync_argv(job(mode="mirror")._replace(only_paths=("big.bin",)), stamp="2026-03-01-120000")
    assert "--backup" in argv and "--delete" not in argv  # rsync refuses --delete without recursion


def test_what_a_mirror_deleted_is_counted_per_file_with_the_folder_it_is_kept_in():
    reader = OutputReader(job(mode="mirror"), Log())
    reader.kept_in = "/backup/csvs-versions/2026-03-01-120000"
    for line in ["*deleting  |0|0|old/semi;colon.csv", "*deleting  |0|0|old/", "*deleting  |0|0|caf\\#303\\#251.csv",
                 ">f+++++++++|3|3|new.csv"]:
        reader.take_stdout(line)
    outcome = reader.outcome()
    assert outcome.removed == 2 and outcome.sent == ("new.csv",)
    assert outcome.removed_paths == (("old/semi;colon.csv", reader.kept_in), ("café.csv", reader.kept_in))


# --- mode: snapshot ------------------------------------------------------------------------------------------

def at(text):
    import time

    return time.mktime(time.strptime(text, "%Y-%m-%d %H:%M"))


def test_retention_keeps_the_newest_snapshot_of_each_kept_day_week_and_month():
    from backup_system.versions import snapshots_expired

    times = [at(text) for text in ("2026-01-05 10:00", "2026-02-20 10:00", "2026-03-02 10:00", "2026-03-09 10:00",
                                   "2026-03-10 09:00", "2026-03-10 18:00", "2026-03-11 08:00")]
    # daily 2: 03-11, 03-10 18:00; weekly 2: 03-11 (week 11), 03-02 (week 10: 03-09 is week 11);
    # monthly 2: 03-11, 02-20
    assert snapshots_expired(times, {"daily": 2, "weekly": 2, "monthly": 2}) == [
        at("2026-01-05 10:00"), at("2026-03-09 10:00"), at("2026-03-10 09:00")]
    assert snapshots_expired(times, {}) == sorted(times)[:-1]  # the newest is always kept
    assert snapshots_expired(times, {"monthly": 12}) == [at("2026-03-02 10:00"), at("2026-03-09 10:00"),
                                                         at("2026-03-10 09:00"), at("2026-03-10 18:00")]
    assert snapshots_expired([], {"daily": 7}) == []


def test_a_snapshot_links_unchanged_files_to_earlier_snapshots_and_keeps_no_versions():
    argv = rsync_argv(job("/backup/csvs/2026-03-01T120000", mode="snapshot"),
                      link_dest=("../2026-02-28T120000", "../2026-03-01T110000"))
    links = [word for word in argv if word.startswith("--link-dest=")]
    assert links == ["--link-dest=../2026-02-28T120000", "--link-dest=../2026-03-01T110000"]  # rsync tries in order
    assert argv[-1] == "/backup/csvs/2026-03-01T120000/"
    assert "--backup" not in rsync_argv(job(mode="snapshot"), stamp="2026-03-01-120000")
