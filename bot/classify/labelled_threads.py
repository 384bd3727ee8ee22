"""Product errors on labelled support threads: for every customer message, the card the product gives it.

The OOD suite judges the heads on single public sentences; these threads are whole conversations as agents
see them (short replies, thanks after a fix, sarcasm, threats), each customer message labelled with the card it
should get. They are hand-written (data/threads/README.md), so they are reported beside the public figures,
never used to pick a model or a threshold. Each customer message is scored as the live card takes it: with the
thread rule (follow_up_labels) fed the model's labels of the thread's earlier customer messages, never the gold ones.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, model_validator

from bot.coach.models import Classification
from bot.coach.planner import message_path
from bot.coach.thread_labels import follow_up_labels
from bot.labels import COMPLAINTS, TONES

CardPath = Literal["recovery", "nothing_to_fix", "abusive"]


class ThreadLine(BaseModel):
    text: str
    sender: Literal["customer", "agent"]
    expect: CardPath | None = None
    tone: str | None = None
    complaint: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_field(cls, data: dict) -> dict:
        if isinstance(data, dict) and "from" in data:
            data = {**data, "sender": data["from"]}
            data.pop("from")
        return data

    @model_validator(mode="after")
    def _customer_lines_are_labelled(self) -> "ThreadLine":
        if self.sender == "customer":
            if self.expect is None:
                raise ValueError("a customer message needs 'expect'")
            if self.tone is not None and self.tone not in TONES:
                raise ValueError(f"unknown tone {self.tone!r}")
            if self.complaint is not None and self.complaint not in COMPLAINTS:
                raise ValueError(f"unknown complaint {self.complaint!r}")
        return self


class LabelledThread(BaseModel):
    id: str
    lang: str
    messages: list[ThreadLine]


def load_threads(path: Path) -> list[LabelledThread]:
    """Every line validated; a bad line is an error naming its line number, never skipped."""
    threads = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                threads.append(LabelledThread.model_validate(json.loads(line)))
            except (ValueError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from exc
    return threads


def _rates(lines: Sequence[ThreadLine], paths: Sequence[str]) -> dict[str, float | int]:
    pairs = list(zip(lines, paths))
    non_abusive = [p for line, p in pairs if line.expect != "abusive"]
    positive = [p for line, p in pairs if line.tone == "positive" and line.complaint in (None, "none")
                and line.expect == "nothing_to_fix"]
    complaints = [p for line, p in pairs if line.expect == "recovery" and line.complaint not in (None, "none")]
    abusive = [p for line, p in pairs if line.expect == "abusive"]
    out: dict[str, float | int] = {"n": len(pairs),
                                   "path_accuracy": sum(line.expect == p for line, p in pairs) / max(1, len(pairs))}
    for name, count, group, wrong in (
            ("false_abusive_rate", "n_non_abusive", non_abusive, lambda p: p == "abusive"),
            ("positive_apologised_rate", "n_positive", positive, lambda p: p != "nothing_to_fix"),
            ("complaint_missed_rate", "n_complaints", complaints, lambda p: p == "nothing_to_fix"),
            ("abusive_missed_rate", "n_abusive", abusive, lambda p: p != "abusive")):
        if group:
            out |= {name: sum(map(wrong, group)) / len(group), count: len(group)}
    return out


def default_tone_points() -> dict[str, int]:
    """The shipped playbook's tone severity points (the thread rule's 'strongest tone')."""
    from bot.playbook import load_playbook
    from bot.settings import PROJECT_ROOT

    return dict(load_playbook(PROJECT_ROOT / "prompts" / "playbook.yaml").severity.tone_points)


def customer_lines(thread: LabelledThread) -> list[ThreadLine]:
    return [m for m in thread.messages if m.sender == "customer"]


def thread_paths(threads: Sequence[LabelledThread], classify: Callable[[list[str]], list[Classification]],
                 tone_points: Mapping[str, int] | None = None) -> list[list[str]]:
    """Per thread, the card path of each customer message as the product takes it: its labels after the thread
    rule (earlier customer messages as the model read them), then message_path."""
    points = default_tone_points() if tone_points is None else tone_points
    said = iter(classify([m.text for t in threads for m in customer_lines(t)]))
    out = []
    for thread in threads:
        earlier: list[Classification] = []
        paths = []
        for m in customer_lines(thread):
            own = next(said)
            labels, _ = follow_up_labels(m.text, own, earlier, points)
            paths.append(message_path(m.text, labels))
            earlier.append(own)  # the message's own labels, as the store keeps them
        out.append(paths)
    return out


def thread_rates(threads: Sequence[LabelledThread], paths: Sequence[Sequence[str]]) -> dict[str, dict]:
    """Rates per language and over all threads ('all') from each thread's card paths (thread_paths)."""
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(threads):
        by_lang[t.lang].append(i)

    def rates(idx: Sequence[int]) -> dict[str, float | int]:
        return _rates([line for i in idx for line in customer_lines(threads[i])], [p for i in idx for p in paths[i]])

    report = {lang: rates(idx) for lang, idx in sorted(by_lang.items())}
    report["all"] = rates(range(len(threads)))
    return report


def evaluate_threads(threads: Sequence[LabelledThread], classify: Callable[[list[str]], list[Classification]],
                     tone_points: Mapping[str, int] | None = None) -> dict[str, dict]:
    return thread_rates(threads, thread_paths(threads, classify, tone_points))
