"""The labels of a whole thread, for plans that cover it (`/recover <link>`, the *Recovery plan* shortcut).

Pure, like the planner: the Slack side reads the thread and classifies its messages, this decides which labels the
plan acts on.
"""
from __future__ import annotations

from collections import Counter

from bot.coach.models import Classification
from bot.coach.planner import card_path


def thread_labels(latest: Classification, earlier: list[Classification],
                  tone_points: dict[str, int]) -> tuple[Classification, list[str]]:
    """The labels of a whole thread, so that "where is it??" after "I was charged twice" is still billing.

    Complaint: the planned message's, else the latest earlier customer message's that names one (confidently).
    Tone: the strongest (by the playbook's severity points) confident one in the thread; abusive only when the
    planned message is, since a boundary answers what was said now. Language: the thread's most common.
    Returns the labels and a 'why' line for each thing taken from an earlier message.
    """
    if card_path(latest) == "abusive" or not earlier:
        return latest, []
    why: list[str] = []
    complaint = latest.complaint
    if complaint.label == "none" or complaint.unsure:
        named = [c.complaint for c in earlier if c.complaint.label != "none" and not c.complaint.unsure]
        if named:
            complaint = named[-1]
            why.append(f"Whole thread: the {complaint.label.replace('_', ' ')} complaint comes from an earlier message.")
    tones = [c.tone for c in [*earlier, latest] if c.tone.label != "abusive" and not c.tone.unsure]
    tone = latest.tone
    if tones:
        strongest = max(reversed(tones), key=lambda t: tone_points.get(t.label, 0))  # ties: the latest
        if tone_points.get(strongest.label, 0) > tone_points.get(latest.tone.label, 0) or latest.tone.unsure:
            tone = strongest
            why.append(f"Whole thread: {tone.label} tone, the strongest in the thread.")
    counts = Counter(c.language for c in [*earlier, latest])
    language = max(reversed(list(counts)), key=lambda lang: (counts[lang], lang == latest.language))
    return Classification(language=language, tone=tone, complaint=complaint), why
