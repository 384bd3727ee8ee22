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
