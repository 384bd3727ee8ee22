"""The labels of a whole thread, for plans that cover it (`/recover <link>`, the *Recovery plan* shortcut), and
for the live card of a follow-up in a thread (`follow_up_labels`).

Pure, like the planner: the Slack side reads the thread (or the labels stored for it), this decides which labels
the plan acts on.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from bot.coach.models import Classification
from bot.coach.planner import card_path, message_path
from bot.coach.signals import mentions_chase, mentions_repeat_contact

WHY_PREFIX = "Whole thread: "  # every line saying a label came from the thread starts so (the compact card shows them)


def thread_labels(latest: Classification, earlier: Sequence[Classification],
                  tone_points: Mapping[str, int]) -> tuple[Classification, list[str]]:
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
            why.append(f"{WHY_PREFIX}the {complaint.label.replace('_', ' ')} complaint comes from an earlier message.")
    tones = [c.tone for c in [*earlier, latest] if c.tone.label != "abusive" and not c.tone.unsure]
    tone = latest.tone
    if tones:
        strongest = max(reversed(tones), key=lambda t: tone_points.get(t.label, 0))  # ties: the latest
        if tone_points.get(strongest.label, 0) > tone_points.get(latest.tone.label, 0) or latest.tone.unsure:
            tone = strongest
            why.append(f"{WHY_PREFIX}{tone.label} tone, the strongest in the thread.")
    counts = Counter(c.language for c in [*earlier, latest])
    language = max(reversed(list(counts)), key=lambda lang: (counts[lang], lang == latest.language))
    return Classification(language=language, tone=tone, complaint=complaint), why


def follow_up_labels(text: str, latest: Classification, earlier: Sequence[Classification],
                     tone_points: Mapping[str, int], resolved: bool = False) -> tuple[Classification, str | None]:
    """The labels a live card acts on for a customer message in an existing thread, and one 'why' line when they
    come from the thread.

    "where is it??" after "I was charged twice" names no complaint of its own, yet complains through the thread.
    A message whose complaint is none or unsure carries the complaint of the latest earlier customer message that
    named one confidently, and the thread's tone (thread_labels), when it complains through the thread: it chases
    the problem (prompts/signals.yaml `chase` or `repeat_contact`: "any news?", "что дальше?", "还没到") or its own
    tone is a sure negative one. It stands on its own labels when it names its own complaint, when it is clearly
    positive (a sure positive tone: "thanks, it arrived!"), when it is abusive or a threat (message_path: the
    boundary answers what was said now), when it only acknowledges or asks about something new ("ok", "do you sell
    gift cards?": on the labelled threads, carrying those sent three times as many wrong cards as it fixed), and
    when the agent resolved the incident before it (`resolved`: a follow-up does not reopen coaching; a new
    complaint still does, by its own labels).
    """
    own, tone = latest.complaint, latest.tone
    if resolved or not earlier or message_path(text, latest) == "abusive":
        return latest, None
    if (own.label != "none" and not own.unsure) or (tone.label == "positive" and not tone.unsure):
        return latest, None
    if not any(c.complaint.label != "none" and not c.complaint.unsure for c in earlier):
        return latest, None
    upset = not tone.unsure and tone.label not in ("neutral", "positive")
    if not upset and not mentions_chase([text]) and not mentions_repeat_contact([text]):
        return latest, None
    labels, why = thread_labels(latest, earlier, tone_points)
    line = why[0] if why else None
    if len(why) > 1:  # one line on the card: "…comes from an earlier message; angry tone, the strongest…"
        line = why[0].rstrip(".") + "; " + why[1].removeprefix(WHY_PREFIX)
    return labels, line
