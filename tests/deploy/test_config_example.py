"""`.env.example` and the README's settings table are what `Settings` says, and stay so."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import Field
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.config_cmds import (ENV_EXAMPLE, README, render_env_example, render_markdown, replace_block,
                                 setting_docs)
from bot.settings import Settings


def test_env_example_is_generated_from_settings():
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == render_env_example(setting_docs()), \
        "stale: run `coach config example --out .env.example --readme README.md`"


def test_readme_table_is_generated_from_settings():
    text = README.read_text(encoding="utf-8")
    assert replace_block(text, render_markdown(setting_docs())) == text, \
        "stale: run `coach config example --out .env.example --readme README.md`"


def test_every_setting_is_listed_with_default_and_meaning():
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name, info in Settings.model_fields.items():
        assert f"# {name.upper()}=" in example
        assert info.description and " ".join(info.description.split())[:40] in " ".join(
            line.lstrip("# ") for line in example.splitlines())
    assert "# COACH_INFERENCE_QUEUE=64\n" in example
    assert "# COACH_MODEL_DIR=models/current\n" in example  # relative to the checkout, not this machine's path
    assert str(Path.home()) not in example and "/work/" not in example


def test_a_new_setting_is_drift_and_one_without_meaning_is_refused():
    class WithNew(Settings):
        coach_new_knob: int = Field(3, description="a knob added later")

    class Undocumented(Settings):
        coach_silent: int = 1

    docs = setting_docs(WithNew)
    assert render_env_example(docs) != ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "# COACH_NEW_KNOB=3" in render_env_example(docs)
    with pytest.raises(ValueError, match="coach_silent"):
        setting_docs(Undocumented)


def test_uncommented_defaults_parse(tmp_path, monkeypatch):
    """Every non-empty default shown, uncommented, is a value Settings accepts and reads back the same."""
    lines = [line[2:] for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
             if line.startswith("# ") and "=" in line and line[2:].split("=")[0].isupper()
             and not line.endswith("=")]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.coach_inference_queue == 64 and settings.coach_alert_mode == "dm"
    assert settings.coach_database_url == "sqlite:///var/coach.sqlite"


def test_check_flag_fails_on_a_stale_copy(tmp_path):
    env, readme = tmp_path / ".env.example", tmp_path / "README.md"
    shutil.copy(ENV_EXAMPLE, env)
    shutil.copy(README, readme)
    runner = CliRunner()
    args = ["config", "example", "--out", str(env), "--readme", str(readme), "--check"]
    assert runner.invoke(app, args).exit_code == 0
    env.write_text(env.read_text().replace("COACH_INFERENCE_QUEUE=64", "COACH_INFERENCE_QUEUE=65"))
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and ".env.example" in result.output
    assert runner.invoke(app, args[:-1]).exit_code == 0  # regenerates
    assert runner.invoke(app, args).exit_code == 0 and "QUEUE=64" in env.read_text()
