"""The log file: every line tagged and kept, rotated by size with three old files kept."""

from backup_system.log import DEBUG, Log


def test_the_log_rotates_at_its_size_limit_and_keeps_three_old_files(tmp_path):
    path = tmp_path / "logs" / "backup.log"
    log = Log(str(path), console_level=100, max_bytes=1000)
    for number in range(200):
        log.prefix = "secured/csvs"
        log.debug(f"line {number:03d}")
    log.close()
    files = sorted(item.name for item in path.parent.iterdir())
    assert files == ["backup.log", "backup.log.1", "backup.log.2", "backup.log.3"]
    assert all(item.stat().st_size <= 1000 for item in path.parent.iterdir())
    assert path.read_text().splitlines()[-1].endswith("DEBUG   secured/csvs: line 199")
    older = (path.parent / "backup.log.1").read_text().splitlines()
    newest = path.read_text().splitlines()
    assert int(older[-1].split()[-1]) + 1 == int(newest[0].split()[-1])


def test_console_shows_its_level_and_up_the_file_gets_everything(tmp_path, capsys):
    path = tmp_path / "backup.log"
    log = Log(str(path), console_level=DEBUG + 10)
    log.debug("a command")
    log.warning("a warning")
    log.close()
    assert capsys.readouterr().err == "warning: a warning\n"
    assert ["DEBUG", "WARNING"] == [line.split()[2] for line in path.read_text().splitlines()]


def test_an_unwritable_log_file_is_said_once_and_the_run_goes_on(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = Log(str(blocker / "backup.log"))
    log.info("first")
    log.info("second")
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1
    assert "first" in err and "second" in err


def test_a_prefix_is_a_scope_that_gives_back_the_one_before(tmp_path):
    path = tmp_path / "backup.log"
    log = Log(str(path), console_level=100)
    with log.prefixed("secured/csvs"):
        log.info("inside")
        with log.prefixed("archive/csvs"):
            log.info("nested")
        log.info("back")
    log.info("outside")
    log.close()
    lines = [line.split(" ", 3)[-1].strip() for line in path.read_text().splitlines()]
    assert lines == ["secured/csvs: inside", "archive/csvs: nested", "secured/csvs: back", "outside"]


def test_lines_written_from_many_threads_arrive_whole(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "backup.log"
    log = Log(str(path), console_level=100)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda number: log.info(f"upload {number:04d} " + "x" * 50), range(2000)))
    log.close()
    lines = path.read_text().splitlines()
    assert all(line.endswith(" " + "x" * 50) and "INFO    upload " in line for line in lines)
    assert sorted(int(line.split()[4]) for line in lines) == list(range(2000))
