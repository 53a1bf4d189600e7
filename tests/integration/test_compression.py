"""The compression stage's engine on real trees: real zip and 7z archives, unpacked by unzip and 7zz."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from backup_system import compression
from backup_system.compression import (
    ARCHIVE_EXCLUDES,
    CompressionError,
    archive_folder,
    build_archive,
    list_archives,
)
from backup_system.log import Log
from backup_system.plan import Source
from tests import conftest
from tests.conftest import PROJECT, tree

NOW = 1_790_000_000  # names archives without waiting for the clock: NOW + n gives the n-th run its own name
ODD_SECOND = 1_600_000_001.75  # odd seconds: the zip header's 2-second time alone would lose them
AWKWARD_NAMES = [*conftest.AWKWARD_NAMES, 'double"quote.csv']


def numeric_csv(rows, seed=0):
    """Realistic numeric CSV text: deflates well, but not trivially."""
    generator = random.Random(seed)
    lines = ["t,x,y,count\n"] + [
        f"{index / 100:.2f},{generator.gauss(0, 1):.6f},{generator.uniform(-90, 90):.4f},{generator.randint(0, 9999)}\n"
        for index in range(rows)]
    return "".join(lines).encode()


@pytest.fixture
def log(tmp_path):
    return Log(str(tmp_path / "logs" / "backup.log"), console_level=100)


@pytest.fixture
def source(lab):
    """data/csvs: CSVs, binary results, awkward names, nested folders, each with its own mtime."""
    lab.write("data/csvs/run 1/measurements.csv", numeric_csv(2000), mtime=ODD_SECOND)
    lab.write("data/csvs/results/noise.bin", os.urandom(50_000), mtime=ODD_SECOND + 10)
    lab.write("data/csvs/results/figure.png", bytes(range(256)) * 64, mtime=ODD_SECOND + 20)
    lab.write("data/csvs/empty.csv", b"", mtime=ODD_SECOND + 30)
    for index, name in enumerate(AWKWARD_NAMES):
        lab.write(f"data/csvs/{name}", f"{index},{name}\n", mtime=ODD_SECOND + 40 + index)
    return Source("csvs", str(lab.path("data/csvs")), ())


def build(source, output, log, fmt="zip", keep=5, run=0, **options):
    return build_archive(source, str(output), fmt, options.pop("level", 6), keep, log, now=NOW + run, **options)


def final_names(folder):
    """Every file in an archive folder that is not a temporary one."""
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def extract(archive, target, fmt):
    """Unpack with the real tools a user would reach for: unzip, and 7zz (py7zr when 7zz is missing)."""
    target.mkdir()
    if fmt == "zip":
        argv = ["unzip", "-q", str(archive), "-d", str(target)]
    elif shutil.which("7zz"):
        argv = ["7zz", "x", "-bso0", "-bsp0", f"-o{target}", str(archive)]
    else:
        import py7zr

        with py7zr.SevenZipFile(archive) as unpacked:
            unpacked.extractall(target)
        return
    subprocess.run(argv, check=True, env={**os.environ, "LC_ALL": "C.UTF-8"})


def seconds_by_file(folder):
    folder = Path(folder)
    return {str(path.relative_to(folder)): int(path.stat().st_mtime)
            for path in folder.rglob("*") if path.is_file()}


# --- what goes in, and what comes back out --------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_archive_unpacks_to_the_same_bytes_names_and_mtimes(fmt, source, tmp_path, log):
    result = build(source, tmp_path / "out", log, fmt)
    assert not result.reused and result.skipped == []
    assert os.path.basename(result.path) == f"csvs-{time.strftime('%Y%m%d-%H%M%S', time.localtime(NOW))}.{fmt}"
    assert result.files_in == len(tree(source.path)) and result.bytes_in == sum(map(len, tree(source.path).values()))
    compression.test_archive(result.path)
    extract(result.path, tmp_path / "unpacked", fmt)
    assert tree(tmp_path / "unpacked") == tree(source.path)
    assert seconds_by_file(tmp_path / "unpacked") == seconds_by_file(source.path)


# Every other class of name a lab's files carry; each must come back out of both formats under its own name.
MORE_NAMES = ["back\\slash.csv", "folder\\with backslash/x.csv", "star*question?.csv", "<angle>|pipe:colon.csv",
              "trailing dot.", "trailing space ", "#hash %percent% ~tilde &amp;.csv", "emoji 😀.csv",
              "cafe\u0301 nfd.csv", "[bracket]{brace}.csv", ".hidden", "CON", "x" * 250 + ".csv"]
CONTROL = "no \t tabs or \n newlines \x07.csv"
NOT_UTF8 = os.fsdecode(b"latin-1 caf\xe9.csv")
REFUSED_BY_ANY = {CONTROL: "name holds a control character, which unzip and 7-Zip drop or change when unpacking",
                  NOT_UTF8: "name is not valid UTF-8, cannot be stored in an archive"}
REFUSED_BY_7Z = {name: "name holds '\\', which 7z takes for a folder separator; a zip archive can store it"
                 for name in MORE_NAMES if "\\" in name}


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_every_name_class_comes_back_byte_identical_and_each_refused_name_is_named(fmt, lab, tmp_path, log):
    for index, name in enumerate([*AWKWARD_NAMES, *MORE_NAMES, CONTROL, NOT_UTF8]):
        lab.write(f"data/names/{name}", f"{index},{name!r}\n", mtime=ODD_SECOND + index)
    source = Source("names", str(lab.path("data/names")), ())
    refused = {**REFUSED_BY_ANY, **(REFUSED_BY_7Z if fmt == "7z" else {})}
    result = build(source, tmp_path / "out", log, fmt)
    assert dict(result.skipped) == refused
    compression.test_archive(result.path)
    extract(result.path, tmp_path / "unpacked", fmt)
    expected = {name: data for name, data in tree(source.path).items() if name not in refused}
    assert tree(tmp_path / "unpacked") == expected and len(expected) == len(AWKWARD_NAMES) + len(MORE_NAMES) + 2 - len(refused)
    again = build(source, tmp_path / "out", log, fmt, run=60)
    assert again.reused and dict(again.skipped) == refused  # a refused name does not make every run a new archive


def test_manifest_lists_each_file_with_size_and_mtime(source, tmp_path, log):
    import json

    result = build(source, tmp_path / "out", log)
    manifest = json.loads(Path(result.path + ".manifest.json").read_text(encoding="utf-8"))
    assert [entry[0] for entry in manifest["entries"]] == sorted(tree(source.path))
    size, mtime_ns = {name: (size, mtime) for name, size, mtime in manifest["entries"]}["run 1/measurements.csv"]
    assert size == len(numeric_csv(2000))
    # ns derived from the scan's float st_mtime: within a microsecond of the true value
    assert abs(mtime_ns - os.stat(Path(source.path) / "run 1/measurements.csv").st_mtime_ns) < 1000
    assert manifest["files"] == result.files_in and manifest["bytes"] == result.bytes_in
    assert manifest["covers_from"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ODD_SECOND))


def test_incompressible_files_are_stored_and_text_deflated(source, tmp_path, log):
    result = build(source, tmp_path / "out", log)
    with zipfile.ZipFile(result.path) as archive:
        kinds = {member.filename: member.compress_type for member in archive.infolist()}
    assert kinds["results/noise.bin"] == zipfile.ZIP_STORED  # random bytes: the trial deflate saves nothing
    assert kinds["results/figure.png"] == zipfile.ZIP_STORED  # compressed already, by its extension
    assert kinds["run 1/measurements.csv"] == zipfile.ZIP_DEFLATED


def test_symlink_and_fifo_are_reported_and_left_out(source, tmp_path, log):
    os.symlink("/etc/passwd", Path(source.path) / "outside-link")
    os.mkfifo(Path(source.path) / "results" / "pipe")
    result = build(source, tmp_path / "out", log)
    assert dict(result.skipped) == {"outside-link": "symbolic link, not followed",
                                    "results/pipe": "special file (device, socket or pipe), not sent"}
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
    assert "outside-link" not in names and "results/pipe" not in names


def test_excludes_leave_files_and_folders_out(source, lab, tmp_path, log):
    lab.write("data/csvs/scratch.tmp", "x")
    lab.write("data/csvs/cache/big.csv", "1\n")
    result = build(source._replace(exclude=("*.tmp", "cache/")), tmp_path / "out", log)
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
    assert "scratch.tmp" not in names and "cache/big.csv" not in names and "empty.csv" in names


# --- incremental, retention, dry run ------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_unchanged_source_reuses_the_newest_archive(fmt, source, tmp_path, log):
    first = build(source, tmp_path / "out", log, fmt)
    again = build(source, tmp_path / "out", log, fmt, run=60)
    assert again.reused and again.path == first.path and again.bytes_out == first.bytes_out
    assert len(final_names(os.path.dirname(first.path))) == 2  # one archive, one manifest


def test_one_changed_file_gives_a_new_archive(source, lab, tmp_path, log):
    first = build(source, tmp_path / "out", log)
    lab.write_newer("data/csvs/semi;colon.csv", "changed\n")
    second = build(source, tmp_path / "out", log, run=60)
    assert not second.reused and second.path != first.path
    extract(second.path, tmp_path / "unpacked", "zip")
    assert (tmp_path / "unpacked" / "semi;colon.csv").read_text() == "changed\n"


def test_keep_two_leaves_the_two_newest_archives_and_their_manifests(source, lab, tmp_path, log):
    paths = []
    for run in range(4):
        lab.write_newer("data/csvs/with space.csv", f"version {run}\n")
        paths.append(build(source, tmp_path / "out", log, keep=2, run=run * 60).path)
    folder = os.path.dirname(paths[0])
    expected = sorted(os.path.basename(path) + suffix for path in paths[2:] for suffix in ("", ".manifest.json"))
    assert final_names(folder) == expected


def test_dry_run_builds_nothing_and_says_what_it_would(source, tmp_path, log):
    result = build(source, tmp_path / "out", log, dry_run=True)
    assert result.path is None and not result.reused and result.files_in == len(tree(source.path))
    assert not (tmp_path / "out").exists()
    build(source, tmp_path / "out", log)
    assert build(source, tmp_path / "out", log, run=60, dry_run=True).reused


def test_roots_child_goes_to_its_own_folder_named_by_its_last_part(source, tmp_path, log):
    child = source._replace(name="scans/run1")
    result = build(child, tmp_path / "out", log, fmt="7z")
    assert os.path.dirname(result.path) == archive_folder(str(tmp_path / "out"), "scans/run1")
    assert os.path.basename(result.path).startswith("run1-")
    [listed] = list_archives(str(tmp_path / "out"))
    assert listed["source"] == "scans/run1" and listed["path"] == result.path
    assert listed["files"] == result.files_in and listed["size"] == result.bytes_out
    assert listed["created"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW))


def test_switching_format_builds_a_new_archive_though_nothing_changed(source, tmp_path, log):
    first = build(source, tmp_path / "out", log, "zip")
    second = build(source, tmp_path / "out", log, "7z", run=60)
    assert not second.reused and second.path.endswith(".7z") and os.path.exists(first.path)


def test_list_archives_of_a_missing_folder_is_empty(tmp_path):
    assert list_archives(str(tmp_path / "nowhere")) == []


def test_archive_test_finds_an_archive_that_does_not_match_its_manifest(source, tmp_path, log):
    import json

    result = build(source, tmp_path / "out", log)
    manifest_path = Path(result.path + ".manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["entries"].append(["lost.csv", 3, 0])
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(CompressionError, match=r"failed its test: 1 listed files missing \(first: lost.csv\)$"):
        compression.test_archive(result.path)


def test_archive_excludes_match_manifests_and_temporary_files():
    from backup_system.localtree import is_excluded

    def left_out(name):
        return is_excluded(name, name, False, ARCHIVE_EXCLUDES)

    assert left_out("csvs-20261124-231500.zip.manifest.json") and left_out(".csvs-20261124-231500.zip.partial")
    assert not left_out("csvs-20261124-231500.zip")


# --- damage, interruption, full disks -----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_corrupted_archive_fails_its_test(fmt, lab, tmp_path, log):
    lab.write("data/big/table.csv", numeric_csv(20_000))
    result = build(Source("big", str(lab.path("data/big")), ()), tmp_path / "out", log, fmt)
    data = bytearray(Path(result.path).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(byte ^ 0xFF for byte in data[middle:middle + 16])
    Path(result.path).write_bytes(bytes(data))
    with pytest.raises(CompressionError) as error:
        compression.test_archive(result.path)
    assert str(error.value).startswith(f"{result.path} failed its test: ") and "\n" not in str(error.value)


def test_killed_build_leaves_no_final_file_and_the_next_build_cleans_up(lab, tmp_path, log):
    chunk = numeric_csv(30_000)
    for index in range(40):  # ~40 MB at level 9: seconds of work, killed within the first ones
        lab.write(f"data/big/part{index:02d}.csv", chunk)
    output = tmp_path / "out"
    script = ("import sys; sys.path.insert(0, sys.argv[1]);"
              "from backup_system.compression import build_archive; from backup_system.log import Log;"
              "from backup_system.plan import Source;"
              "build_archive(Source('big', sys.argv[2], ()), sys.argv[3], 'zip', 9, 5, Log(None, 100))")
    child = subprocess.Popen([sys.executable, "-c", script, str(PROJECT / "src"), str(lab.path("data/big")),
                              str(output)])
    folder = output / "big"
    try:
        deadline = time.monotonic() + 20
        while not any(path.name.endswith(".partial") and path.stat().st_size > 0
                      for path in (folder.glob(".*") if folder.exists() else ())):
            assert child.poll() is None, "the build finished before it could be killed: make the tree bigger"
            assert time.monotonic() < deadline, "no temporary archive appeared"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert final_names(folder) == [] and len(os.listdir(folder)) == 1  # only the temporary file
    shutil.rmtree(lab.path("data/big"))
    lab.write("data/big/small.csv", "1,2\n")
    result = build(Source("big", str(lab.path("data/big")), ()), output, log)
    assert sorted(os.listdir(folder)) == [os.path.basename(result.path), os.path.basename(result.path) +
                                          ".manifest.json"]


def test_leftover_temporary_files_are_removed_by_the_next_build(source, tmp_path, log):
    folder = Path(archive_folder(str(tmp_path / "out"), "csvs"))
    folder.mkdir(parents=True)
    (folder / ".csvs-20200101-000000.zip.partial").write_bytes(b"half an archive")
    result = build(source, tmp_path / "out", log)
    assert sorted(os.listdir(folder)) == [os.path.basename(result.path), os.path.basename(result.path) +
                                          ".manifest.json"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs root); skipped with the reason where mounting is not permitted."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True, text=True)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount_point)], check=True)
            raise AssertionError(f"a file on the full disk was left open: {unmounted.stderr.strip()}")


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_full_disk_is_one_line_naming_the_archive_and_leaves_nothing(fmt, tiny_disk, lab, log):
    lab.write("data/results/noise.bin", os.urandom(2 << 20))
    with pytest.raises(CompressionError) as error:
        build(Source("results", str(lab.path("data/results")), ()), tiny_disk, log, fmt)
    name = f"results-{time.strftime('%Y%m%d-%H%M%S', time.localtime(NOW))}.{fmt}"
    assert str(error.value) == f"cannot build {name}: No space left on device"
    assert os.listdir(tiny_disk / "results") == []


def test_unusable_output_folder_is_one_line(source, tmp_path, log):
    (tmp_path / "out").write_text("a file where the folder should be")
    with pytest.raises(CompressionError) as error:
        build(source, tmp_path / "out", log)
    assert str(error.value).startswith("cannot build csvs-") and str(error.value).endswith(": Not a directory")


def test_missing_source_folder_is_one_line(tmp_path, log):
    with pytest.raises(CompressionError, match=r"^cannot archive csvs: source folder .*/nowhere does not exist$"):
        build(Source("csvs", str(tmp_path / "nowhere"), ()), tmp_path / "out", log)


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_a_log_still_being_written_is_archived_as_it_was_read_and_the_rest_is_whole(fmt, lab, tmp_path, log):
    import threading

    lab.write("data/logs/big.csv", numeric_csv(200_000), mtime=ODD_SECOND)  # deflating it takes a while
    lab.write("data/logs/aa-growing.log", "start\n", mtime=ODD_SECOND)
    stop = threading.Event()

    def keep_writing():
        with open(lab.path("data/logs/aa-growing.log"), "a") as stream:
            while not stop.is_set():
                stream.write("another line of the pipeline's log\n" * 100)
                stream.flush()
                time.sleep(0.001)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = build(Source("logs", str(lab.path("data/logs")), ()), tmp_path / "out", log, fmt)
    finally:
        stop.set()
        writer.join()
    extract(result.path, tmp_path / "unpacked", fmt)
    assert (tmp_path / "unpacked" / "big.csv").read_bytes() == lab.path("data/logs/big.csv").read_bytes()
    assert (tmp_path / "unpacked" / "aa-growing.log").read_bytes().startswith(b"start\n")
    assert "aa-growing.log changed while it was archived" in (tmp_path / "logs" / "backup.log").read_text()
