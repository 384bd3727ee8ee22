"""Our English chat lines translated: loaded strictly, read beside their originals, never pooled."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.classify.chat_twins import LANGUAGES, SOURCE, load_twins
from bot.classify.datasets import Example, read_corpus
from bot.classify.decisions import Thresholds
from bot.classify.evaluate import group_of, pick_settings, pooled, suite_report
from bot.classify.parallel import Reading, parallel_report, read_originals
from bot.classify.tradeoff import curve
from bot.labels import COMPLAINTS, TONES

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = Thresholds(unsure=0.45, abusive=0.7)
ENGLISH = [("my parcel is two weeks late", "frustrated", "delivery"),
           ("you charged me twice for one order", "angry", "billing"),
           ("thanks, the refund arrived", "positive", "none")]


def _corpus() -> list[Example]:
    chat = [Example(text, "en", tone, complaint, "val", "handwritten") for text, tone, complaint in ENGLISH]
    return chat + [Example("minu pakk on kaks nädalat hiljaks jäänud, kus see on", "et", "frustrated", "delivery",
                           "train", "handwritten")]


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _folder(tmp_path: Path) -> Path:
    _write(tmp_path, "source_en.jsonl", [{"id": f"tw{i}", "text": t, "tone": tone, "complaint": c}
                                        for i, (t, tone, c) in enumerate(ENGLISH)])
    _write(tmp_path, "ru.jsonl", [{"id": "tw0", "lang": "ru", "text": "моя посылка опаздывает на две недели"},
                                  {"id": "tw1", "lang": "ru", "text": "вы списали с меня дважды за один заказ"},
                                  {"id": "tw2", "lang": "ru", "text": "спасибо, возврат пришёл"}])
    return tmp_path


def test_translations_keep_their_originals_labels_and_get_their_own_group(tmp_path):
    twins = load_twins(_folder(tmp_path), _corpus())
    assert (twins.stale, twins.copied) == (0, 0)
    assert [(e.lang, e.tone, e.complaint, e.split) for e in twins.rows] == [
        ("ru", tone, complaint, "val") for _, tone, complaint in ENGLISH]
    assert [e.original for e in twins.rows] == [text for text, _, _ in ENGLISH]
    assert {group_of(e) for e in twins.rows} == {"twin:ru"}
    assert load_twins(tmp_path / "absent", _corpus()).rows == []


def test_a_stale_source_or_a_near_copy_of_training_is_left_out_and_counted(tmp_path):
    folder = _folder(tmp_path)
    _write(folder, "et.jsonl", [
        {"id": "tw0", "lang": "et", "text": "minu pakk on kaks nädalat hiljaks jäänud, kus see on?"},
        {"id": "tw1", "lang": "et", "text": "võtsite ühe tellimuse eest kaks korda raha"}])
    corpus = _corpus()
    corpus[2] = Example(ENGLISH[2][0], "en", "neutral", "none", "val", "handwritten")  # relabelled since translated
    twins = load_twins(folder, corpus)
    assert twins.stale == 1 and twins.copied == 1  # tw2 (ru) relabelled; et tw0 repeats a training line
    assert sorted((e.lang, e.original) for e in twins.rows) == [
        ("et", ENGLISH[1][0]), ("ru", ENGLISH[0][0]), ("ru", ENGLISH[1][0])]


@pytest.mark.parametrize("line, message", [
    ("{not json", "ru.jsonl line 1"),
    (json.dumps({"id": "tw9", "lang": "ru", "text": "нет такого"}), "a new id of source_en.jsonl"),
    (json.dumps({"id": "tw0", "lang": "et", "text": "vale keel"}), "needs lang 'ru'"),
    (json.dumps({"id": "tw0", "lang": "ru", "text": "  "}), "and a text"),
    (json.dumps({"id": "tw0", "lang": "ru", "text": "раз"}) + "\n"
     + json.dumps({"id": "tw0", "lang": "ru", "text": "два"}), "line 2"),
])
def test_a_malformed_translation_is_an_error_naming_its_line(tmp_path, line, message):
    folder = _folder(tmp_path)
    (folder / "ru.jsonl").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_twins(folder, _corpus())


def _probs(rows: list[Example], wrong: set[str], misread: str = "neutral") -> dict[str, np.ndarray]:
    """Sure readings of the gold labels, except rows in `wrong`: read with tone `misread` and no complaint."""
    tone = np.zeros((len(rows), len(TONES)), np.float32)
    complaint = np.zeros((len(rows), len(COMPLAINTS)), np.float32)
    for i, e in enumerate(rows):
        miss = e.text in wrong
        tone[i, TONES.index(misread if miss else e.tone)] = 1.0
        complaint[i, COMPLAINTS.index("none" if miss else e.complaint or "none")] = 1.0
    return {"tone": tone, "complaint": complaint}


def test_twins_are_read_beside_their_originals_and_never_pooled(tmp_path):
    real = [Example(f"thanks a lot {i}", "en", "positive", None, "ood", "xed") for i in range(4)]
    twins = load_twins(_folder(tmp_path), _corpus()).rows
    judged = real + twins
    assert pooled(judged) == [0, 1, 2, 3]
    missed = {twins[0].text}  # the Russian parcel complaint read as "nothing to fix"
    probs = _probs(judged, missed)
    report = suite_report(judged, probs, THRESHOLDS)
    assert report["groups"]["twin:ru"]["complaint_missed_rate"] == 0.5
    assert report["product"] == suite_report(real, _probs(real, set()), THRESHOLDS)["product"]  # no twin pooled
    assert curve(judged, probs, THRESHOLDS).as_dict() == curve(real, _probs(real, set()), THRESHOLDS).as_dict()
    pair = parallel_report(Reading.of(judged, probs, THRESHOLDS),
                           read_originals(judged, THRESHOLDS, lambda texts: _probs(
                               [next(e for e in _corpus() if e.text == t) for t in texts], set())))["twin:ru"]
    assert pair["n"] == 3 and pair["language"] == "ru"
    assert pair["behind"]["complaint_missed_rate"] == 50.0  # one of two complaints missed in Russian only
    assert pair["behind"]["complaint_macro_f1"] > 0 and pair["behind"]["is_complaint_f1"] > 0
    probs["tone"][len(real) + 2] = 0.0
    probs["tone"][len(real) + 2, [TONES.index("abusive"), TONES.index("positive")]] = 0.62, 0.38  # Russian thanks
    logits = {h: np.log(np.clip(p, 1e-6, 1)) for h, p in probs.items()}

    class Config:
        polarity_weight, temperatures, heads = 0.0, {}, {}

    # thresholds are picked on real text: a twin misread as abusive (0.62) must not move the abusive threshold
    assert pick_settings(judged, logits, Config(), 0.45)["abusive_threshold"] == 0.5
    twin_as_real = [Example(e.text, e.lang, e.tone, e.complaint, "ood", "xed") if e.source == SOURCE else e
                    for e in judged]
    assert pick_settings(twin_as_real, logits, Config(), 0.45)["abusive_threshold"] == 0.65  # counted, it would


def test_the_shipped_twins_translate_the_shipped_chat_lines():
    """Every shipped translation still matches an English chat line of the shipped corpus, in three languages."""
    corpus = read_corpus(ROOT / "data" / "corpus.jsonl.gz")
    twins = load_twins(ROOT / "data" / "chat_twins", corpus)
    english = [e for e in corpus if e.split == "val" and e.source == "handwritten" and e.lang == "en"]
    assert twins.stale == 0
    assert {e.lang for e in twins.rows} == set(LANGUAGES) and all(e.source == SOURCE for e in twins.rows)
    assert len(twins.rows) + twins.copied == len(LANGUAGES) * len(english)
    assert twins.copied <= 10  # the translations are not our training lines again


def test_adding_twins_leaves_every_other_figures_interval_as_it_was(tmp_path):
    from bot.classify.uncertainty import Verdicts, intervals

    real = [Example(f"thanks a lot {i}", "en", "positive", None, "ood", "xed") for i in range(30)]
    real += [Example(f"this is late again {i}", "en", "frustrated", None, "ood", "xed") for i in range(30)]
    wrong = {e.text for e in real[::7]}
    twins = load_twins(_folder(tmp_path), _corpus()).rows
    alone = intervals(real, Verdicts.of(real, _probs(real, wrong, "frustrated"), THRESHOLDS), resamples=200)
    judged = real + twins
    both = intervals(judged, Verdicts.of(judged, _probs(judged, wrong, "frustrated"), THRESHOLDS), resamples=200)
    assert alone["positive_apologised_rate"].low < alone["positive_apologised_rate"].high
    assert {k: v for k, v in both.items() if k in alone} == alone  # the same draws, to the last digit
