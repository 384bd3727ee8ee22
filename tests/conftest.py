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
def encoder():
    from bot.classify.encoder import SentenceEncoder

    return SentenceEncoder()


@pytest.fixture(scope="session")
def engine(encoder, playbook):
    """The shipped model and playbook (torch reference path), loaded once for the whole session."""
    from bot.classify.classifier import Classifier
    from bot.classify.encoder import SentenceEncoder
    from bot.classify.model import load_heads, resolve_model_dir
    from bot.engine import RecoveryEngine
    from bot.settings import Settings

    settings = Settings(_env_file=None)
    heads = load_heads(resolve_model_dir(settings.coach_model_dir))
    depth = heads.config.encoder_layers
    served_encoder = encoder if depth == encoder.layers else SentenceEncoder(layers=depth)
    classifier = Classifier(heads, served_encoder, settings.coach_unsure_threshold,
                            abusive_threshold=settings.coach_abusive_threshold)
    return RecoveryEngine(settings, classifier=classifier, playbook=playbook)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads the real model")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
