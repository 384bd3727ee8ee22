"""Bootstrap intervals and paired comparisons: what `coach eval` and `coach model compare` say about noise."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import bot.cli as cli
from bot.classify.datasets import Example
from bot.classify.decisions import Thresholds
from bot.classify.labelled_threads import LabelledThread
from bot.classify.uncertainty import Difference, Interval, Verdicts, _draws, compare, intervals, lower_is_better
from bot.labels import COMPLAINTS, TONES

THRESHOLDS = Thresholds(unsure=0.45, abusive=0.7)


def _probs(tones: list[str], complaints: list[str]) -> dict[str, np.ndarray]:
    tone = np.full((len(tones), len(TONES)), 0.01, np.float32)
    complaint = np.full((len(tones), len(COMPLAINTS)), 0.01, np.float32)
    for i, (t, c) in enumerate(zip(tones, complaints)):
        tone[i, TONES.index(t)] = 0.95
        complaint[i, COMPLAINTS.index(c)] = 0.95
    return {"tone": tone, "complaint": complaint}


def _suite(n_positive: int) -> list[Example]:
    """Positive public rows (each should get no apology), complaints, and chat lines in two languages."""
    rows = [Example(f"lovely, thanks {i}", "en", "positive", None, "val", "goemotions") for i in range(n_positive)]
    rows += [Example(f"charged twice {i}", "en", "angry", "billing", "val", "banking77") for i in range(40)]
    for lang in ("en", "et"):
        rows += [Example(f"{lang} chat {i}", lang, "angry", ("billing", "delivery")[i % 2], "val", "handwritten")
                 for i in range(20)]
    return rows


def _verdicts(rows: list[Example], wrong_positive: int, wrong_et: int = 0) -> Verdicts:
    """A version that apologises to the first `wrong_positive` positive rows and misreads `wrong_et` et lines."""
    tones, complaints, seen_pos, seen_et = [], [], 0, 0
    for e in rows:
        if e.tone == "positive":
            tones.append("angry" if seen_pos < wrong_positive else "positive")
            complaints.append("none")
            seen_pos += 1
        elif e.lang == "et":
            tones.append("angry")
            complaints.append(("delivery", "billing")[COMPLAINTS.index(e.complaint) % 2] if seen_et < wrong_et
                              else e.complaint)
            seen_et += 1
        else:
            tones.append(e.tone)
            complaints.append(e.complaint)
    return Verdicts.of(rows, _probs(tones, complaints), THRESHOLDS)


def test_an_interval_holds_its_figure_and_narrows_with_more_rows():
    small, large = _suite(40), _suite(1000)
    few = intervals(small, _verdicts(small, 4), resamples=300)["positive_apologised_rate"]
    many = intervals(large, _verdicts(large, 100), resamples=300)["positive_apologised_rate"]
    assert few.value == pytest.approx(0.1) and many.value == pytest.approx(0.1)
    assert few.low <= few.value <= few.high and many.low <= many.value <= many.high
    assert (many.high - many.low) < (few.high - few.low) / 2  # 25 times the rows: about a fifth of the width


def test_each_draw_keeps_every_group_its_size_and_threads_whole():
    rows = _suite(30)
    threads = [LabelledThread(id=f"t{i}", lang=lang, messages=[]) for i, lang in enumerate(["en", "en", "et"])]
    for draw in _draws(rows, threads, resamples=20, seed=1):
        drawn = [rows[i] for i in draw.rows]
        assert sum(e.source == "goemotions" for e in drawn) == 30
        assert sum(e.lang == "et" for e in drawn) == 20
        assert sorted(threads[i].lang for i in draw.threads) == ["en", "en", "et"]


def test_a_version_against_itself_is_noise_everywhere():
    rows = _suite(100)
    same = _verdicts(rows, 10, wrong_et=4)
    for d in compare(rows, same, same, resamples=100):
        assert d.delta.value == 0 and d.delta.low == 0 and d.delta.high == 0 and d.verdict == "noise"


def test_a_real_gain_is_called_and_a_small_one_is_noise():
    rows = _suite(400)
    a = _verdicts(rows, 80, wrong_et=6)    # 20 % of positive rows get an apology; Estonian trails English
    b = _verdicts(rows, 20, wrong_et=6)    # 5 %
    c = _verdicts(rows, 78, wrong_et=5)    # 19.5 %, one Estonian line better
    by_figure = {d.figure: d for d in compare(rows, a, b, resamples=300)}
    assert by_figure["positive_apologised_rate"].verdict == "b better"
    assert by_figure["positive_apologised_rate"].delta.value == pytest.approx(-0.15)
    assert by_figure["gap:et:complaint_macro_f1"].verdict == "noise"  # the same Estonian lines
    small = {d.figure: d for d in compare(rows, a, c, resamples=300)}
    assert small["positive_apologised_rate"].verdict == "noise"
    assert small["gap:et:complaint_macro_f1"].verdict == "noise"
    worse = {d.figure: d for d in compare(rows, b, a, resamples=300)}
    assert worse["positive_apologised_rate"].verdict == "a better"


def test_threads_are_figures_too():
    rows = _suite(20)
    thread = LabelledThread.model_validate({"id": "t1", "lang": "en", "messages": [
        {"text": "thanks!", "from": "customer", "expect": "nothing_to_fix", "tone": "positive", "complaint": "none"},
        {"text": "where is my parcel", "from": "customer", "expect": "recovery", "complaint": "delivery"}]})
    right = Verdicts.of(rows, _verdicts(rows, 0).probs, THRESHOLDS, [["nothing_to_fix", "recovery"]])
    wrong = Verdicts.of(rows, _verdicts(rows, 0).probs, THRESHOLDS, [["recovery", "nothing_to_fix"]])
    by_figure = {d.figure: d for d in compare(rows, right, wrong, [thread], resamples=50)}
    assert by_figure["threads:path_accuracy"].a == 1.0 and by_figure["threads:path_accuracy"].b == 0.0
    assert by_figure["threads:complaint_missed_rate"].b == 1.0


def test_the_cli_default_is_the_module_default():
    from bot.classify import uncertainty
    from bot.cli import model_cmds

    assert model_cmds.RESAMPLES == uncertainty.RESAMPLES


def test_which_way_is_better():
    assert lower_is_better("positive_apologised_rate") and lower_is_better("threads:complaint_missed_rate")
    assert lower_is_better("gap:et:complaint_macro_f1")
    assert not lower_is_better("ood_polarity_macro_f1") and not lower_is_better("threads:path_accuracy")
    gain = Difference("ood_polarity_macro_f1", 0.5, 0.6, Interval(0.1, 0.05, 0.15))
    fewer_errors = Difference("complaint_missed_rate", 0.2, 0.1, Interval(-0.1, -0.15, -0.05))
    assert gain.verdict == "b better" and fewer_errors.verdict == "b better"
    assert Difference("x_rate", 0.2, 0.1, Interval(-0.1, -0.2, 0.01)).verdict == "noise"


runner = CliRunner()


@pytest.mark.slow
def test_compare_command_end_to_end_on_the_shipped_model(engine, tmp_path):
    """The served version against itself, through the CLI, on a small suite and one labelled thread."""
    from bot.classify.datasets import write_corpus

    served = engine.classifier.version
    corpus = tmp_path / "corpus.jsonl.gz"
    translated = [Example(text, "ru", tone, None, "ood", "ru_goemotions", original=original)
                  for text, tone, original in (("спасибо, вы лучшие", "positive", "thanks, you are the best"),
                                               ("это позор, верните деньги", "angry", "this is a disgrace, refund me"))]
    write_corpus(_suite(10) + translated, corpus)
    threads = tmp_path / "threads.jsonl"
    threads.write_text(json.dumps({"id": "t1", "lang": "en", "messages": [
        {"text": "my parcel never came", "from": "customer", "expect": "recovery", "complaint": "delivery"}]}) + "\n")
    audit = tmp_path / "audit.jsonl"
    audit.write_text(json.dumps({"group": "ood:ru_goemotions", "text": "спасибо, вы лучшие", "clear": True},
                                ensure_ascii=False) + "\n")
    args = ["model", "compare", served, served, "--corpus", str(corpus), "--threads", str(threads),
            "--resamples", "50", "--json", "--audit", str(audit)]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    figures = {d["figure"]: d for d in report["differences"]}
    assert {"positive_apologised_rate", "gap:et:complaint_macro_f1", "threads:path_accuracy",
            "parallel:ood:ru_goemotions:tone_macro_f1"} <= figures.keys()  # the same sentences, in English too
    assert all(d["verdict"] == "noise" and d["delta"]["value"] == 0 for d in figures.values())
    clear = report["audited_clear"]  # the one audited row, read the same by both
    assert clear["n_clear"] == 1 and clear["a"] == clear["b"] and clear["only_a"] == clear["only_b"] == 0

    unknown = runner.invoke(cli.app, ["model", "compare", served, "v999", "--corpus", str(corpus)])
    assert unknown.exit_code == 1 and "no version 'v999'" in unknown.output
