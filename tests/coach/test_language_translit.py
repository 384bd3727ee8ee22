"""Transliterated Russian is Russian (issue 12, item 8), and no English or Estonian line becomes Russian.

The labelled list is `fixtures/language_lines.jsonl` (hand-written Latin-script lines: Russian typed in Latin
letters in several spelling habits, English and Estonian, some Estonian without its letters õäöü); the corpus
adds every English and Estonian line we train on, and its Russian validation chat lines transliterated three
ways (as people do: ISO-like, casual, mixed).
"""
from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from bot.classify.language import LanguageDetector, translit_key
from bot.settings import PROJECT_ROOT

LINES = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "language_lines.jsonl").open(encoding="utf-8")]
CORPUS = PROJECT_ROOT / "data" / "corpus.jsonl.gz"
detector = LanguageDetector()

_BASE = dict(zip("абвгдезиклмнопрстуфэ", "abvgdeziklmnoprstufe"))
STYLES = {
    "iso": {"ё": "yo", "ж": "zh", "й": "y", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "",
            "ы": "y", "ь": "'", "ю": "yu", "я": "ya"},
    "casual": {"ё": "e", "ж": "zh", "й": "i", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "",
               "ы": "i", "ь": "", "ю": "ju", "я": "ja"},
    "mixed": {"ё": "e", "ж": "zh", "й": "j", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "",
              "ы": "y", "ь": "", "ю": "yu", "я": "ya"},
}


def transliterate(text: str, style: str) -> str:
    table = {**_BASE, **STYLES[style]}
    out = []
    for ch in text:
        latin = table.get(ch.lower())
        out.append(ch if latin is None else (latin.capitalize() if ch != ch.lower() else latin))
    return "".join(out)


def test_the_issues_example():
    assert detector.detect("zdravstvuite, mne ne prishel zakaz") == "ru"


@pytest.mark.parametrize("spelling", ["zdravstvuyte", "zdravstvujte", "zdravstvuite", "Zdravstvuite"])
def test_spellings_share_one_key(spelling):
    assert translit_key(spelling.lower()) == translit_key("zdravstvuite")


def test_labelled_list():
    """Per language: the share detected right. Measured: ru 69/70 (0/70 before), en 35/35, et 30/32 (as before)."""
    right, total = Counter(), Counter()
    for line in LINES:
        total[line["lang"]] += 1
        right[line["lang"]] += detector.detect(line["text"]) == line["lang"]
    assert right["ru"] / total["ru"] >= 0.95, right
    assert right["en"] == total["en"], right
    assert right["et"] >= total["et"] - 2, right


@pytest.mark.parametrize("line", [x for x in LINES if x["lang"] != "ru"], ids=lambda x: x["text"][:30])
def test_no_english_or_estonian_line_is_taken_for_russian(line):
    assert detector.detect(line["text"]) != "ru"


@pytest.mark.skipif(not CORPUS.exists(), reason="needs data/corpus.jsonl.gz")
def test_corpus_english_and_estonian_stay_and_russian_chat_transliterated_is_found():
    en_et, russian = [], []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as rows:
        for row in map(json.loads, rows):
            if row["lang"] in ("en", "et"):
                en_et.append((row["text"], row["lang"]))
            elif row["lang"] == "ru" and row["split"] == "val" and row.get("source", "").startswith("handwritten"):
                russian.append(row["text"])
    assert len(en_et) > 10_000 and len(russian) > 100
    # a line may become Russian only if English/Estonian detection had it wrong anyway (one Italian line has)
    taken = [(text, lang) for text, lang in en_et if detector.is_translit_russian(text)]
    assert len(taken) <= 2 and all(detector.english_or_estonian(text) != lang for text, lang in taken), taken
    for style in STYLES:
        found = sum(detector.detect(transliterate(text, style)) == "ru" for text in russian)
        assert found / len(russian) >= 0.95, (style, found, len(russian))
