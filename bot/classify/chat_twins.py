"""Our English chat validation lines, translated: the chat-line language gap with the sentences held fixed.

`evaluate.language_gaps` compares chat lines written separately in each language, so a harder Estonian line counts
against Estonian. Here every English validation line is translated (`data/chat_twins/`, by AI assistants, never
trained on); each translation keeps its English original and labels, so parallel.py reads both and says how far
the translation trails, per head, on the same sentences. These rows are scored only beside their originals: they
are our own lines, so they never enter the suite-wide (pooled) figures.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.classify.datasets import Example, jsonl_objects, near_copies

SOURCE = "twin:chat"
GROUP = "twin:"  # evaluate.group_of: twin:<lang>
LANGUAGES = ("et", "ru", "zh")


def _lines(path: Path) -> list[tuple[str, dict]]:
    out = []
    for where, obj in jsonl_objects(path):
        if not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str):
            raise ValueError(f"{where}: needs string 'id' and 'text'")
        out.append((where, obj))
    return out


@dataclass(frozen=True)
class Twins:
    rows: list[Example]  # validation rows, group twin:<lang>, each with its English original
    stale: int = 0       # translations whose English source is no longer a chat validation line of the corpus
    copied: int = 0      # translations left out as near copies of a training line of their language


def load_twins(folder: Path, corpus: Sequence[Example]) -> Twins:
    """The translations as validation rows; none without a folder. A malformed file is an error naming the line.

    A translation whose English source is not a chat validation line of `corpus` with the same labels (another or a
    rebuilt corpus) is counted `stale`, never scored against labels that may have changed. One that nearly repeats
    a training line of its language is left out (`copied`), as the corpus leaves out a training line that nearly
    repeats a validation line (datasets.drop_near_copies_of_validation), so the gap is not flattered."""
    source_path = folder / "source_en.jsonl"
    if not source_path.is_file():
        return Twins([])
    english = {(e.text, e.tone, e.complaint) for e in corpus
               if e.split == "val" and e.source == "handwritten" and e.lang == "en"}
    sources: dict[str, dict] = {}
    for where, obj in _lines(source_path):
        if obj["id"] in sources:
            raise ValueError(f"{where}: id {obj['id']} repeated")
        sources[obj["id"]] = obj
    twins, stale = [], 0
    for lang in LANGUAGES:
        path = folder / f"{lang}.jsonl"
        if not path.is_file():
            continue
        seen: set[str] = set()
        for where, obj in _lines(path):
            if obj.get("lang") != lang or obj["id"] not in sources or obj["id"] in seen or not obj["text"].strip():
                raise ValueError(f"{where}: needs lang {lang!r}, a new id of source_en.jsonl and a text")
            seen.add(obj["id"])
            source = sources[obj["id"]]
            if (source["text"], source.get("tone"), source.get("complaint")) not in english:
                stale += 1
                continue
            twins.append(Example(obj["text"], lang, source["tone"], source["complaint"], "val", SOURCE,
                                 original=source["text"]))
    copied = {i for i, _ in near_copies(twins, [e for e in corpus if e.split == "train"])}
    return Twins([e for i, e in enumerate(twins) if i not in copied], stale, len(copied))
