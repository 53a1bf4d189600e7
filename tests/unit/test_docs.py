"""The docs say what the code does: the option reference comes from the schema, every flag is on the card."""

from backup_system.cli import backup_parser
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
