"""Threats of harm in the customer's words, from the labelled list `prompts/threats.yaml`.

The tone model learns 'abusive' from offensive-speech sets that hold almost no threats, so "I know where your
office is" reads as merely angry. A threat must never get an apology and an offer: the planner sends it down
the abusive/escalation path whatever the model says, and says why.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import RootModel

from bot.coach.signals import LanguageSignals, SignalMatcher
from bot.labels import Language

THREATS_PATH = Path(__file__).resolve().parents[2] / "prompts" / "threats.yaml"


class ThreatFile(RootModel[dict[Language, LanguageSignals]]):
    pass


@lru_cache(maxsize=4)
def load_threats(path: Path = THREATS_PATH) -> dict[str, LanguageSignals]:
    return ThreatFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).root


@lru_cache(maxsize=4)
def threat_matcher(path: Path = THREATS_PATH) -> SignalMatcher:
    return SignalMatcher(load_threats(path))


def mentions_threat(texts: Iterable[str]) -> bool:
    """The customer threatens harm to a person or a place ("I know where your office is", "урою", "弄死你")."""
    return threat_matcher().search(texts)
