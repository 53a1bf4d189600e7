"""The rsync command we build and how we read rsync's answers: pure functions, no rsync run."""

from backup_system.log import Log
from backup_system.plan import Job, Source
from backup_system.transports.rsync.output import OutputReader, unescape
from backup_system.transports.rsync.partial import partial_dir
from backup_system.transports.rsync.transport import rsync_argv
from tests.unit.builders import destination as make_destination


def destination(**overrides):
    return make_destination("rsync", name="secured", base_path="/backup", **overrides)


def job(target="/backup/csvs", dry_run=False, exclude=("*.tmp", "-odd"), **overrides):
    return Job(destination(**overrides), Source("csvs", "/lab/data/csvs", exclude), target, dry_run)


def test_local_target_gets_update_mkpath_our_absolute_partial_and_temp_dir_and_trailing_slashes():
    assert rsync_argv(job(), temp_dir="/backup/csvs/.backup_system-partial") == [
        "rsync", "-a", "--update", "--mkpath", "--out-format=%i|%l|%b|%n", "--stats", "--no-h",
        "--partial-dir=/backup/csvs/.backup_system-partial/resume", "--temp-dir=/backup/csvs/.backup_system-partial",
        "--exclude=*.tmp", "--exclude=-odd", "/lab/data/csvs/", "/backup/csvs/"]


def test_a_piece_to_resume_turns_on_delta_transfer_even_locally():
    assert "--no-whole-file" in rsync_argv(job(), resume=True)
    assert "--no-whole-file" not in rsync_argv(job())


def test_remote_target_gets_an_absolute_partial_dir_so_rsync_hides_no_user_folder():
    argv = rsync_argv(job("ada@server:/srv/backup/csvs", ssh_command=("ssh", "-p", "2222", "-i", "/keys/my key")),
                      mkpath=False)
    assert "--partial-dir=/srv/backup/csvs/.backup_system-partial" in argv
    assert "--mkpath" not in argv and not [word for word in argv if word.startswith("--temp-dir")]
    assert "--rsh=ssh -p 2222 -i '/keys/my key' -o BatchMode=yes" in argv
    assert argv[-1] == "ada@server:/srv/backup/csvs/"


def test_ssh_gets_batch_mode_unless_the_users_command_sets_it_so_no_prompt_hangs_a_cron_run():
    assert "--rsh=ssh -o BatchMode=yes" in rsync_argv(job("ada@server:/srv/backup/csvs"))
    told = rsync_argv(job("ada@server:/srv/backup/csvs", ssh_command=("ssh", "-o", "batchmode=no")))
    assert "--rsh=ssh -o batchmode=no" in told
    assert "--rsh=sshpass -f /keys/pw ssh" in rsync_argv(job("ada@server:/srv/backup/csvs",
                                                            ssh_command=("sshpass", "-f", "/keys/pw", "ssh")))
    assert not [word for word in rsync_argv(job()) if word.startswith("--rsh")]  # a local target: no ssh

def test_dry_run_and_extra_options_and_no_partial():
    argv = rsync_argv(job(dry_run=True, rsync_options=("--bwlimit=20m",)))
    assert "--dry-run" in argv and "--bwlimit=20m" in argv
    assert not [word for word in argv if word.startswith("--partial-dir")]  # a dry run makes nothing
    assert not [word for word in rsync_argv(job(keep_partial=False)) if word.startswith("--partial-dir")]


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
