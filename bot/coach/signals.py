"""Repeat contact, churn threat and chasing in the customer's words, from the labelled list `prompts/signals.yaml`.

Both raise a complaint's severity: a customer who has to come back about the same problem, or who says they
will leave, is the one the seeds say to count. The phrases live in a data file with positive and negative
lines per language (tested line by line) so that a support lead can read and extend them without reading
Python; the file ships with the code, so it is trusted input and read with `yaml.safe_load`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.labels import Language
from bot.playbook.text import normalise_phrase

SIGNALS_PATH = Path(__file__).resolve().parents[2] / "prompts" / "signals.yaml"
Signal = Literal["repeat_contact", "churn_threat", "chase"]


class LanguageSignals(BaseModel):
    """One signal in one language: what finds it, what only looks like it, and the lines that prove both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patterns: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    positive: list[str] = Field(min_length=1)
    negative: list[str] = Field(min_length=1)

    @field_validator("patterns", "exclude")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            re.compile(pattern)  # a typo in the data file fails at load, with the pattern in the error
        return value


class SignalFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repeat_contact: dict[Language, LanguageSignals]
    churn_threat: dict[Language, LanguageSignals]
    chase: dict[Language, LanguageSignals]


class SignalMatcher:
    """Compiled patterns of one signal over all languages (a customer may switch language mid-thread)."""

    def __init__(self, by_language: dict[str, LanguageSignals]) -> None:
        self._rules = [
            (lang, re.compile("|".join(f"(?:{p})" for p in rules.patterns), re.IGNORECASE),
             [re.compile(e, re.IGNORECASE) for e in rules.exclude])
            for lang, rules in by_language.items()
        ]

    def languages_found(self, text: str) -> list[str]:
        """Languages whose patterns match `text` outside every exclusion; empty when the signal is absent."""
        folded = normalise_phrase(text)
        found: list[str] = []
        for lang, pattern, excludes in self._rules:
            spans = [m.span() for e in excludes for m in e.finditer(folded)]
            for match in pattern.finditer(folded):
                if not any(start <= match.start() and match.end() <= end for start, end in spans):
                    found.append(lang)
                    break
        return found

    def search(self, texts: Iterable[str]) -> bool:
        return any(self.languages_found(text) for text in texts)


@lru_cache(maxsize=4)
def load_signals(path: Path = SIGNALS_PATH) -> SignalFile:
    return SignalFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=4)
def matcher(signal: Signal, path: Path = SIGNALS_PATH) -> SignalMatcher:
    return SignalMatcher(getattr(load_signals(path), signal))


def mentions_repeat_contact(texts: Iterable[str]) -> bool:
    """The customer says they have been here before about this ("again", "опять", "又没到", "jälle")."""
    return matcher("repeat_contact").search(texts)


def mentions_chase(texts: Iterable[str]) -> bool:
    """The customer chases the problem already raised ("any news?", "что дальше?", "还没到", "mis edasi saab?");
    not a severity signal: it tells a follow-up that complains through the thread (thread_labels.follow_up_labels)."""
    return matcher("chase").search(texts)


def mentions_churn_threat(texts: Iterable[str]) -> bool:
    """The customer says they may leave ("cancel my account", "ухожу к конкурентам", "再也不买了")."""
    return matcher("churn_threat").search(texts)
