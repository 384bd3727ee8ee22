"""The same rows read in translation and in their original: what the language alone costs, paired."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot.classify.datasets import Example, parallel_pairs, read_corpus, write_corpus
from bot.classify.decisions import Thresholds
from bot.classify.parallel import Reading, behind, gap_figures, parallel_report, read_originals
from bot.classify.uncertainty import Verdicts, compare, intervals, lower_is_better
from bot.labels import COMPLAINTS, TONES

THRESHOLDS = Thresholds(unsure=0.45, abusive=0.7)


def _rows() -> list[Example]:
    """Held-out Russian rows with their English originals: 40 positive, 40 frustrated; and a row without one."""
    rows = [Example(f"спасибо, всё отлично {i}", "ru", "positive", None, "ood", "ru_goemotions",
                    original=f"thanks, all great {i}") for i in range(40)]
    rows += [Example(f"надоело ждать {i}", "ru", "frustrated", None, "ood", "ru_goemotions",
                     original=f"sick of waiting {i}") for i in range(40)]
    return rows + [Example("без оригинала", "ru", "neutral", None, "ood", "xed")]


def _reading(texts: list[str], misread: set[str]) -> dict[str, np.ndarray]:
    """Sure readings: praise as positive, the rest as frustrated; a text in `misread` as frustrated whatever it is."""
    tone = np.zeros((len(texts), len(TONES)), np.float32)
    complaint = np.zeros((len(texts), len(COMPLAINTS)), np.float32)
    complaint[:, COMPLAINTS.index("none")] = 1.0
    for i, text in enumerate(texts):
        happy = ("thanks" in text or "спасибо" in text) and text not in misread
        tone[i, TONES.index("positive" if happy else "frustrated")] = 1.0
    return {"tone": tone, "complaint": complaint}


def _report(rows: list[Example], misread: set[str], resamples: int) -> dict:
    translated = Reading.of(rows, _reading([e.text for e in rows], misread), THRESHOLDS)
    originals = read_originals(rows, THRESHOLDS, lambda texts: _reading(texts, set()))
    return parallel_report(translated, originals, resamples)


def _version(rows: list[Example], misread: set[str]) -> Verdicts:
    """A version that reads every English original right and misreads the Russian rows in `misread`."""
    return Verdicts.of(rows, _reading([e.text for e in rows], misread), THRESHOLDS,
                       originals=read_originals(rows, THRESHOLDS, lambda texts: _reading(texts, set())))


def test_a_translation_read_worse_trails_its_original_and_the_sign_says_worse():
    rows = _rows()
    misread = {e.text for e in rows[:10]}  # a quarter of the Russian praise read as upset: apologised to
    report = _report(rows, misread, resamples=200)
    assert list(report) == ["ood:ru_goemotions"]  # only groups whose rows keep an original
    pair = report["ood:ru_goemotions"]
    assert pair["n"] == 80 and pair["language"] == "ru"
    assert pair["original"]["positive_apologised_rate"] == 0.0
    assert pair["translated"]["positive_apologised_rate"] == 0.25
    assert pair["behind"]["positive_apologised_rate"] == 25.0  # more apologies in Russian: positive means worse
    assert pair["behind"]["tone_macro_f1"] > 0 and pair["behind"]["polarity_macro_f1"] > 0
    low, high = pair["interval"]["positive_apologised_rate"]
    assert 0 < low < 25.0 < high  # the misread rows are drawn more or less often, never away


def test_an_original_shared_by_several_groups_is_read_once():
    """The chat twins' three languages share their English lines: each is read once, and every group gets the
    reading it would get alone."""
    from bot.classify.chat_twins import SOURCE

    rows = _rows()
    rows += [Example(f"{lang} twin {i}", lang, "positive", "none", "val", SOURCE, original=f"thanks, twin {i}")
             for lang in ("et", "ru", "zh") for i in range(5)]
    asked: list[str] = []

    def predict(texts: list[str]) -> dict[str, np.ndarray]:
        asked.extend(texts)
        return _reading(texts, set())

    originals = read_originals(rows, THRESHOLDS, predict)
    assert sorted(originals) == ["ood:ru_goemotions", "twin:et", "twin:ru", "twin:zh"]
    assert len(asked) == len(set(asked)) == 80 + 5
    for group, orig in originals.items():
        alone = _reading([rows[i].original for i in orig.idx], set())
        assert all(np.array_equal(orig.reading.probs[h], alone[h]) for h in alone)


def test_the_same_reading_in_both_languages_costs_nothing():
    rows = _rows()
    report = _report(rows, set(), resamples=50)
    pair = report["ood:ru_goemotions"]
    assert all(v == 0 for v in pair["behind"].values())
    assert all(interval == [0.0, 0.0] for interval in pair["interval"].values())


def test_the_gap_on_a_draw_counts_the_drawn_rows_of_its_group_only():
    rows = _rows()
    verdicts = _version(rows, {rows[0].text})
    translated = verdicts.reading(rows)
    whole = gap_figures(translated, verdicts.originals)
    assert whole["parallel:ood:ru_goemotions:positive_apologised_rate"] == pytest.approx(100 / 40)
    # row 0 (misread) drawn twice beside one right praise row and one complaint; the row without an original is
    # not in the group and changes nothing
    draw = np.array([0, 0, 1, 40, len(rows) - 1])
    assert gap_figures(translated, verdicts.originals, draw)[
        "parallel:ood:ru_goemotions:positive_apologised_rate"] == pytest.approx(100 * 2 / 3)


def test_compare_pairs_two_versions_on_the_same_sentences_in_both_languages():
    rows = _rows()
    worse, better = _version(rows, {e.text for e in rows[:10]}), _version(rows, set())
    figure = "parallel:ood:ru_goemotions:positive_apologised_rate"
    assert lower_is_better(figure)
    by_figure = {d.figure: d for d in compare(rows, worse, better, resamples=200, tradeoff=False)}
    assert by_figure[figure].a == pytest.approx(25.0) and by_figure[figure].b == 0.0
    assert by_figure[figure].delta.high < 0 and by_figure[figure].verdict == "b better"
    assert by_figure["parallel:ood:ru_goemotions:tone_macro_f1"].verdict == "b better"
    itself = {d.figure: d for d in compare(rows, worse, worse, resamples=50, tradeoff=False)}
    assert itself[figure].delta.value == 0 and (itself[figure].delta.low, itself[figure].delta.high) == (0, 0)
    low = intervals(rows, worse, resamples=200)[figure]
    assert low.low < 25.0 < low.high  # one version's gap also has its interval
    plain = Verdicts.of(rows, worse.probs, THRESHOLDS)  # no originals read: no parallel figure, nothing fails
    assert not [d for d in compare(rows, plain, plain, resamples=20, tradeoff=False) if d.figure.startswith("par")]


def test_behind_flips_the_sign_of_error_rates_only():
    original = {"tone_macro_f1": 0.6, "positive_apologised_rate": 0.1, "false_abusive_rate": 0.01}
    translated = {"tone_macro_f1": 0.5, "positive_apologised_rate": 0.2, "false_abusive_rate": 0.03}
    gaps = behind(original, translated)
    assert gaps == pytest.approx({"tone_macro_f1": 10.0, "positive_apologised_rate": 10.0,
                                  "false_abusive_rate": 2.0})


def test_the_corpus_keeps_an_original_only_where_there_is_one(tmp_path):
    rows = _rows()
    write_corpus(rows, tmp_path / "corpus.jsonl.gz")
    back = read_corpus(tmp_path / "corpus.jsonl.gz")
    assert [e.original for e in back] == [e.original for e in rows]
    import gzip

    with gzip.open(tmp_path / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        last = json.loads(handle.readlines()[-1])
    assert "original" not in last  # rows without one stay as they were written before


def test_parallel_pairs_join_translations_to_their_originals_by_id(tmp_path):
    (tmp_path / "translation_source_en.jsonl").write_text(
        json.dumps({"id": "t1", "text": "the parcel is late"}) + "\n")
    lines = [{"id": "t1", "text": "посылка опаздывает", "lang": "ru"},
             {"text": "написано сразу по-русски", "lang": "ru"}]  # no id: written in Russian, no pair
    (tmp_path / "translated_ru.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    assert parallel_pairs(tmp_path) == [("the parcel is late", "посылка опаздывает", "ru")]
    (tmp_path / "translation_source_en.jsonl").write_text(
        json.dumps({"id": "t1", "text": "the parcel is late", "tone": "frustrated"}) + "\n")
    assert parallel_pairs(tmp_path, skip_tones=("angry",)) == [("the parcel is late", "посылка опаздывает", "ru")]
    assert parallel_pairs(tmp_path, skip_tones=("frustrated",)) == []  # an original of a skipped tone: no pair
    (tmp_path / "translated_zh.jsonl").write_text(json.dumps({"id": "t2", "text": "包裹迟到了", "lang": "zh"}))
    with pytest.raises(ValueError, match="no English original for id 't2'"):
        parallel_pairs(tmp_path)


def test_pairs_that_repeat_a_judged_line_are_not_trained_on():
    from bot.classify.datasets import pairs_clear_of_validation

    judged = [Example("my parcel is two weeks late and nobody answers", "en", "frustrated", "delivery", "val",
                      "handwritten"),
              Example("спасибо, всё пришло вовремя и целым", "ru", "positive", None, "ood", "ru_goemotions")]
    pairs = [("my parcel is two weeks late and nobody answers!", "посылка опаздывает на две недели", "ru"),
             ("thanks, all arrived on time", "спасибо, всё пришло вовремя и целым!", "ru"),
             ("the app logs me out", "приложение меня выкидывает", "ru")]
    assert pairs_clear_of_validation(pairs, judged) == [pairs[2]]
