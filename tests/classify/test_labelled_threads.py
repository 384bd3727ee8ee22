"""Labelled threads: strict loading, and product error rates from the planner's own path for each message."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.classify.labelled_threads import evaluate_threads, load_threads
from bot.cli.common import DEFAULT_THREADS
from bot.coach.models import Classification, Prediction


def _thread(tid: str, lang: str, *messages: dict) -> str:
    return json.dumps({"id": tid, "lang": lang, "messages": list(messages)}, ensure_ascii=False)


def _said(tone: str, complaint: str) -> Classification:
    return Classification(language="en", tone=Prediction(label=tone, confidence=0.9),
                          complaint=Prediction(label=complaint, confidence=0.9))


def test_rates_follow_the_products_path(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([
        _thread("en-1", "en",
                {"from": "customer", "text": "my parcel is late", "expect": "recovery", "tone": "frustrated",
                 "complaint": "delivery"},
                {"from": "agent", "text": "sorry, checking"},
                {"from": "customer", "text": "got it, thank you!", "expect": "nothing_to_fix", "tone": "positive",
                 "complaint": "none"}),
        _thread("ru-1", "ru",
                {"from": "customer", "text": "я знаю, где ваш офис", "expect": "abusive", "tone": "abusive",
                 "complaint": "none"},
                {"from": "customer", "text": "спасибо", "expect": "nothing_to_fix", "tone": "positive",
                 "complaint": "none"}),
    ]) + "\n")
    threads = load_threads(path)
    # the model misreads the English thanks as a complaint and the Russian threat as neutral
    said = {"my parcel is late": _said("frustrated", "delivery"), "got it, thank you!": _said("positive", "delivery"),
            "я знаю, где ваш офис": _said("neutral", "none"), "спасибо": _said("positive", "none")}
    report = evaluate_threads(threads, lambda texts: [said[t] for t in texts])
    assert report["en"]["positive_apologised_rate"] == 1.0 and report["en"]["complaint_missed_rate"] == 0.0
    # the threat list overrides the model: the threat reaches the abusive path
    assert report["ru"]["abusive_missed_rate"] == 0.0 and report["ru"]["false_abusive_rate"] == 0.0
    assert report["all"]["n"] == 4 and report["all"]["path_accuracy"] == 0.75
    assert report["all"]["n_positive"] == 2 and report["all"]["positive_apologised_rate"] == 0.5


@pytest.mark.parametrize("message, error", [
    ({"from": "customer", "text": "hi"}, "needs 'expect'"),
    ({"from": "customer", "text": "hi", "expect": "apology"}, "expect"),
    ({"from": "customer", "text": "hi", "expect": "recovery", "tone": "furious"}, "unknown tone"),
])
def test_a_bad_line_names_its_line(tmp_path: Path, message: dict, error: str):
    path = tmp_path / "t.jsonl"
    path.write_text(_thread("ok", "en", {"from": "agent", "text": "hello"}) + "\n" + _thread("bad", "en", message))
    with pytest.raises(ValueError, match=r"(?s)t.jsonl:2:.*" + error):
        load_threads(path)


def test_the_shipped_threads_load_and_cover_four_languages():
    if not DEFAULT_THREADS.is_file():
        pytest.skip("no labelled threads in this checkout")
    threads = load_threads(DEFAULT_THREADS)
    assert {t.lang for t in threads} >= {"en", "ru", "zh", "et"}
    assert len({t.id for t in threads}) == len(threads)


def test_each_message_is_scored_with_the_thread_rule_on_the_models_earlier_labels(tmp_path: Path):
    """"where is it??" after a confident complaint is a recovery card, as the live path makes it; the earlier labels
    are the model's, not the gold ones: a complaint the model missed is not carried."""
    path = tmp_path / "t.jsonl"
    chase = {"from": "customer", "text": "where is it??", "expect": "recovery", "tone": "neutral",
             "complaint": "delivery"}
    path.write_text("\n".join([
        _thread("en-1", "en",
                {"from": "customer", "text": "my parcel is late", "expect": "recovery", "complaint": "delivery"},
                {"from": "agent", "text": "sorry, checking"}, chase,
                {"from": "customer", "text": "ok", "expect": "nothing_to_fix", "tone": "neutral", "complaint": "none"}),
        _thread("en-2", "en",
                {"from": "customer", "text": "my box is late", "expect": "recovery", "complaint": "delivery"}, chase),
    ]) + "\n")
    said = {"my parcel is late": _said("frustrated", "delivery"), "where is it??": _said("neutral", "none"),
            "ok": _said("neutral", "none"), "my box is late": _said("neutral", "none")}  # the model misses en-2's
    report = evaluate_threads(load_threads(path), lambda texts: [said[t] for t in texts], tone_points={})
    assert report["en"]["n"] == 5 and report["en"]["n_complaints"] == 4
    assert report["en"]["complaint_missed_rate"] == 0.5  # en-2's two messages; en-1's follow-up is carried
    assert report["en"]["path_accuracy"] == 0.6  # "ok" stays nothing to fix


def test_each_thread_is_read_on_its_own_even_when_two_share_an_id(tmp_path: Path):
    """A follow-up carries only its own thread's complaint: a second thread under a repeated id starts afresh."""
    from bot.classify.labelled_threads import thread_paths

    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([
        _thread("dup", "en", {"from": "customer", "text": "I was charged twice", "expect": "recovery",
                              "complaint": "billing"}),
        _thread("dup", "en", {"from": "customer", "text": "any news?", "expect": "nothing_to_fix",
                              "complaint": "none"}),
        _thread("one", "en", {"from": "customer", "text": "I was charged twice", "expect": "recovery",
                              "complaint": "billing"},
                {"from": "customer", "text": "any news?", "expect": "recovery", "complaint": "billing"}),
    ]) + "\n")
    said = {"I was charged twice": _said("frustrated", "billing"), "any news?": _said("neutral", "none")}
    paths = thread_paths(load_threads(path), lambda texts: [said[t] for t in texts], tone_points={})
    assert paths == [["recovery"], ["nothing_to_fix"], ["recovery", "recovery"]]
