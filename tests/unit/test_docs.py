"""The docs say what the code does: the option reference comes from the schema, every flag is on the card."""

import signal

import pytest

from backup_system.cli import backup_parser, main
from backup_system.config import REFERENCE_BEGIN, REFERENCE_END, reference_markdown
from tests.conftest import PROJECT


def test_the_configuration_reference_is_the_one_generated_from_the_schema():
    text = (PROJECT / "docs" / "CONFIGURATION.md").read_text()
    generated = text.split(REFERENCE_BEGIN, 1)[1].split(REFERENCE_END, 1)[0]
    assert generated == "\n" + reference_markdown(), (
        "docs/CONFIGURATION.md is stale: run .venv/bin/python -m backup_system.config --reference")


def test_the_quickstart_card_lists_every_command_line_flag():
    card = (PROJECT / "BACKUP_QUICKSTART.txt").read_text()
    flags = [flag for action in backup_parser()._actions for flag in action.option_strings]
    assert [flag for flag in flags if flag not in card] == []


def test_the_readme_shows_the_two_commands():
    readme = (PROJECT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


@pytest.fixture(autouse=True)
def sigterm_handler_restored():
    """main() makes SIGTERM act like Ctrl-C; the test process gets its own handler back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


# --- the guide's error examples are what the code prints ------------------------------------------------

GUIDE = PROJECT / "docs" / "BACKUP_SYSTEM_GUIDE.md"
GUIDE_CONFIG_HEAD = "# /tmp/lab/config/config.yaml\n"

SECURED_BASE = "      base_path: ../backups/secured\n"


def after_secured_base(line):
    """A key added to the example's `secured` destination, on the line after its base_path."""
    return {SECURED_BASE: f"{SECURED_BASE}      {line}\n"}


# (what the guide's example config gets wrong: {old text: new text}, the command line); the guide shows each line.
DOCUMENTED_MISTAKES = [
    (after_secured_base("keep_partail: false"), ["config", "validate"]),
    (after_secured_base("timeout: 6h"), ["config", "validate"]),
    (after_secured_base("sources: [csv]"), ["config", "validate"]),
    ({'      exclude: ["*.tmp", ".DS_Store"]\n': '      exclude: "*.tmp"\n'}, ["config", "validate"]),
    ({SECURED_BASE: "      base_path: ${LAB_BACKUP_DISK}/lab\n"}, ["config", "validate"]),
    ({"    smb:\n": "    box:\n      folder: Lab-Backups\n    smb:\n"}, ["config", "validate"]),
    ({"  workdir: ..\n": "  workdir: ..\n  command: python3 other.py\n"}, ["config", "validate"]),
    ({}, ["--only", "secure"]),
    ({}, ["--only", "secured,smb"]),
    ({}, ["--dryrun"]),
    ({'pipeline:\n  command: "python3 scripts/analyze.py --plates data/csvs"\n  workdir: ..\n': ""}, ["run"]),
]


def guide_config():
    """The example config the guide's listings come from (its first yaml block)."""
    text = GUIDE.read_text()
    block = text.split("```yaml\n" + GUIDE_CONFIG_HEAD, 1)[1].split("```", 1)[0]
    return GUIDE_CONFIG_HEAD + block


@pytest.mark.parametrize("changes, argv", DOCUMENTED_MISTAKES)
def test_each_error_line_the_guide_shows_is_the_one_the_code_prints(tmp_path, monkeypatch, capsys, changes, argv):
    config = guide_config()
    for old, new in changes.items():
        assert old in config, old
        config = config.replace(old, new, 1)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(config)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAB_BACKUP_DISK", raising=False)
    monkeypatch.delenv("BACKUP_SYSTEM_CONFIG", raising=False)
    assert main([*argv, "--config", "config/config.yaml"]) == 2
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and printed.strip() in GUIDE.read_text(), printed


def test_the_guide_shows_the_line_for_a_config_file_that_is_not_there(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--config", "config/nope.yaml"]) == 2
    printed = capsys.readouterr().err.strip().replace(str(tmp_path), "/tmp/lab")
    assert printed in GUIDE.read_text(), printed
