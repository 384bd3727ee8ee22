"""The corpus keeps its held-out sources held out: no training row is a held-out row in another language."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.classify import datasets
from bot.classify.datasets import NOT_FOR_TRAINING, Example, build_corpus, read_corpus

ROOT = Path(__file__).resolve().parents[2]
RU_GOEMOTIONS = ROOT.parent / "shared" / "data" / "ru_goemotions" / "ru_goemotions.csv"


def test_rows_marked_not_for_training_reach_validation_but_never_training(monkeypatch, tmp_path):
    rows = [Example(f"reddit line {i}", "en", "neutral", None, NOT_FOR_TRAINING if i % 2 else "train", "goemotions")
            for i in range(40)]
    monkeypatch.setattr(datasets, "_public_examples", lambda shared, mappings: iter(rows))
    (tmp_path / "label_mappings.json").write_text("{}")
    corpus = build_corpus(tmp_path, tmp_path / "no-handwritten", seed=1)
    assert {e.split for e in corpus} <= {"train", "val"}
    assert [e for e in corpus if e.split == "val"]  # the slice still draws from every row
    assert all(int(e.text.split()[-1]) % 2 == 0 for e in corpus if e.split == "train")


@pytest.mark.skipif(not RU_GOEMOTIONS.is_file(), reason="needs ../shared/data beside the repository")
def test_no_training_row_is_the_english_original_of_a_held_out_russian_row():
    """ru_goemotions is GoEmotions' dev split translated; its originals in training would leak the held-out set."""
    with RU_GOEMOTIONS.open(encoding="utf-8") as handle:
        originals = {row["text_en"].strip().lower() for row in csv.DictReader(handle)}
    training = [e for e in read_corpus(ROOT / "data" / "corpus.jsonl.gz") if e.split == "train"]
    assert len(training) > 30_000
    assert not [e.text for e in training if e.text.strip().lower() in originals]


@pytest.mark.skipif(not RU_GOEMOTIONS.is_file(), reason="needs ../shared/data beside the repository")
def test_no_line_we_translated_comes_from_the_held_out_russian_set():
    """Our own ru/zh/et translations of GoEmotions lines must not include the held-out rows' originals either."""
    import json

    with RU_GOEMOTIONS.open(encoding="utf-8") as handle:
        originals = {row["text_en"].strip().lower() for row in csv.DictReader(handle)}
    folder = ROOT / "data" / "handwritten"
    sources = [json.loads(line) for path in folder.glob("translation_source*.jsonl")
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    held_out = {s["id"] for s in sources if s["text"].strip().lower() in originals}
    translated = [json.loads(line) for path in folder.glob("translated_*.jsonl")
                  for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(translated) > 2000
    assert not [t["text"] for t in translated if t.get("id") in held_out and "goemotions" in t.get("source", "")]


def test_a_line_may_set_its_own_weight_within_bounds(tmp_path):
    """A translation of a public row weighs what the row weighs (1), not what our own lines weigh."""
    import json

    lines = [{"text": "ma jumaldan seda", "lang": "et", "tone": "positive", "source": "translated:goemotions",
              "weight": 1.0},
             {"text": "arve on vale", "lang": "et", "complaint": "billing", "source": "translated:handwritten_en"},
             {"text": "pakk ei jõudnud kohale", "lang": "et", "complaint": "delivery"}]
    (tmp_path / "own.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    weights = [(e.tone_w, e.complaint_w) for e in datasets._handwritten(tmp_path)]
    assert weights == [(1.0, 0.0), (0.0, datasets.TRANSLATED_WEIGHT), (0.0, datasets.HANDWRITTEN_WEIGHT)]
    for bad in (0, -1, 7, "1", True):
        (tmp_path / "own.jsonl").write_text(json.dumps({**lines[0], "weight": bad}))
        with pytest.raises(ValueError, match="weight must be a number"):
            list(datasets._handwritten(tmp_path))
