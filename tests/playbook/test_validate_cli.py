from __future__ import annotations

from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import PLAYBOOK_PATH, write

runner = CliRunner()


def test_validate_good_playbook_exits_zero():
    result = runner.invoke(app, ["playbook", "validate", str(PLAYBOOK_PATH)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_validate_bad_playbook_exits_one_naming_field_and_line(tmp_path, playbook_text):
    bad = write(tmp_path, "bad.yaml", playbook_text.replace("authority: agent}", "authority: director}", 1))
    result = runner.invoke(app, ["playbook", "validate", str(bad)])
    assert result.exit_code == 1
    assert "compensation.billing[0].authority (line" in result.output


def test_validate_missing_file(tmp_path):
    result = runner.invoke(app, ["playbook", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read file" in result.output


def test_problems_print_literally_not_as_markup(tmp_path, playbook_text):
    """'[en]' in a problem is the language at fault; rich must not swallow it as a style tag."""
    text = playbook_text.replace("That is our mistake, not yours, and I'm taking care of it personally right now.",
                                 "But that was the courier's fault.", 1)
    result = runner.invoke(app, ["playbook", "validate", str(write(tmp_path, "bad.yaml", text))])
    assert result.exit_code == 1
    assert "[en] qualifies the apology" in result.output
