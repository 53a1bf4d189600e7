"""The rsync command we build and how we read rsync's answers: pure functions, no rsync run."""

from backup_system.log import Log
from backup_system.plan import Job, Source
from backup_system.transports.rsync.transport import OutputReader, partial_dir, rsync_argv, unescape
from tests.unit.builders import destination as make_destination


def destination(**overrides):
    return make_destination("rsync", name="secured", base_path="/backup", **overrides)


def job(target="/backup/csvs", dry_run=False, exclude=("*.tmp", "-odd"), **overrides):
    return Job(destination(**overrides), Source("csvs", "/lab/data/csvs", exclude), target, dry_run)


def test_local_target_gets_update_mkpath_one_top_level_partial_dir_and_trailing_slashes():
    assert rsync_argv(job()) == [
        "rsync", "-a", "--update", "--mkpath", "--out-format=%i|%l|%b|%n", "--stats", "--no-h",
        "--partial-dir=/backup/csvs/.rsync-partial", "--exclude=*.tmp", "--exclude=-odd",
        "/lab/data/csvs/", "/backup/csvs/"]


def test_remote_target_uses_rsyncs_own_relative_partial_dir_and_the_configured_ssh():
    argv = rsync_argv(job("ada@server:/srv/backup/csvs", ssh_command=("ssh", "-p", "2222", "-i", "/keys/my key")))
    assert "--partial-dir=.rsync-partial" in argv
    assert "--rsh=ssh -p 2222 -i '/keys/my key'" in argv
    assert argv[-1] == "ada@server:/srv/backup/csvs/"


def test_dry_run_and_extra_options_and_no_partial():
    argv = rsync_argv(job(dry_run=True, keep_partial=False, rsync_options=("--bwlimit=20m",)))
    assert "--dry-run" in argv and "--bwlimit=20m" in argv
    assert not [word for word in argv if word.startswith("--partial-dir")]


def test_partial_dir_for_relative_remote_paths():
    assert partial_dir("server:backup/csvs") == ".rsync-partial"


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
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23)",
    ])
    outcome = reader.outcome()
    assert (len(outcome.sent), outcome.bytes_sent, outcome.unchanged) == (2, 107, 6)
    assert outcome.sent == ("a b.csv", "sub/new\nline.csv")
    assert outcome.failures == (("secret.csv", "Permission denied"), ("gone.csv", "vanished during the backup"))
    assert reader.other_errors == []


def test_a_disk_full_is_a_job_error_not_a_file_failure():
    current = job()
    reader = OutputReader(current, Log())
    reader.take_stderr(['rsync: [receiver] write failed on "/backup/csvs/big.bin": No space left on device (28)'])
    assert reader.outcome().failures == ()
    assert reader.other_errors == [
        'rsync: [receiver] write failed on "/backup/csvs/big.bin": No space left on device (28)']


def test_a_retry_sends_only_its_paths_read_from_stdin_nul_separated():
    from backup_system.transports.rsync.transport import paths_input

    argv = rsync_argv(job()._replace(only_paths=("a b.csv", "sub/new\nline.csv")))
    assert argv[argv.index("--exclude=-odd") + 1:argv.index("--exclude=-odd") + 3] == ["--files-from=-", "--from0"]
    assert paths_input(("a b.csv", "sub/new\nline.csv")) == b"a b.csv\0sub/new\nline.csv\0"
    assert paths_input(None) is None and "--files-from=-" not in rsync_argv(job())
