"""Finite, bounded numbers; bare placeholders; follow-ups within a year; banned phrases however spaced."""
from __future__ import annotations

import pytest
import yaml

from bot.playbook import PlaybookError, parse_playbook
from bot.playbook.text import first_banned, normalise_phrase, placeholder_problems
from bot.slack.nudges import find_faults


def _mutated(text: str, mutate) -> str:
    data = yaml.safe_load(text)
    mutate(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def _problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, "test.yaml")
    return [str(p) for p in info.value.problems]


def _set(path: tuple, value):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


@pytest.mark.parametrize("path, value, expected", [
    (("customer_value", "margin"), float("inf"), "finite number"),
    (("customer_value", "margin"), float("nan"), "finite number"),
    (("customer_value", "max_offer_share"), 1.5, "less than or equal to 1"),
    (("customer_value", "max_offer_share"), 0, "greater than 0"),
    (("customer_value", "high_value_threshold"), float("inf"), "finite number"),
    (("customer_value", "high_value_threshold"), 1e12, "less than or equal to"),
    (("customer_value", "average_order_value"), 1e9, "less than or equal to 100000"),
    (("customer_value", "years"), -1, "greater than 0"),
    (("compensation", "billing", 1, "value"), float("-inf"), "finite number"),
    (("compensation", "billing", 1, "value"), 1e7, "less than or equal to 100000"),
    (("compensation", "billing", 1, "value"), "10", "valid number"),
    (("compensation", "billing", 1, "value"), True, "valid number"),
    (("severity", "tone_points", "angry"), 10**6, "less than or equal to 100"),
    (("severity", "tone_points", "angry"), 2.5, "valid integer"),
    (("severity", "thresholds", "critical"), 10**9, "less than or equal to 1000"),
    (("severity", "repeat_contact_points"), -1, "greater than or equal to 0"),
])
def test_numbers_are_finite_typed_and_bounded(playbook_text, path, value, expected):
    problems = _problems(_mutated(playbook_text, _set(path, value)))
    field = ".".join(str(p) for p in path if not isinstance(p, int))
    assert any(p.startswith(field.split(".")[0]) and expected in p and "(line" in p for p in problems), problems


@pytest.mark.parametrize("placeholder", ["{issue:>999999999}", "{issue!r}", "{0}", "{}", "{issue.__class__}",
                                         "{issue[0]}", "{issue:{company}}", "{customer}", "{issue", "issue}"])
def test_placeholders_must_be_bare_and_known(playbook_text, placeholder):
    text = _mutated(playbook_text, lambda d: d["apologies"]["angry"].update(en=f"Sorry about {placeholder}."))
    problems = _problems(text)
    assert any(p.startswith("apologies.angry (line") and "[en]" in p for p in problems), problems


def test_placeholder_rules():
    assert placeholder_problems("I'm sorry about {issue} at {company}; {{literal}} braces are fine") == []
    assert "format spec" in placeholder_problems("{issue:>9}")[0]
    assert "unknown placeholder {0}" in placeholder_problems("{0}")[0]
    assert "malformed" in placeholder_problems("{issue")[0]


@pytest.mark.parametrize("when", ["+99999999999d", "+366d", "+0d", "-3d", "3d", "+3w", "+1.5d", "tomorrow",
                                  "+３d", " +3d", ""])
def test_follow_up_within_a_year(playbook_text, when):
    text = _mutated(playbook_text, lambda d: d["follow_up"]["default"][2].update(when=when))
    assert any(p.startswith("follow_up.default[2].when (line") for p in _problems(text))


def test_a_year_is_the_longest_follow_up(playbook_text):
    text = _mutated(playbook_text, lambda d: d["follow_up"]["default"][2].update(when="+365d"))
    assert parse_playbook(text).follow_up.default[2].delay_days == 365


@pytest.mark.parametrize("apology", [
    "I'm sorry,\u00a0but {issue} happens.",      # non-breaking space
    "I'm sorry,  but {issue} happens.",         # two spaces
    "I'm sorry,\tbut {issue} happens.",
    "I'm SORRY, BUT {issue} happens.",
    "I'm sorry,\u200b but {issue} happens.",    # zero-width space
    "I'm ｓｏｒｒｙ,\u3000ｂｕｔ {issue} happens.",  # full-width letters, ideographic space
    "I'm sorry,\nbut {issue} happens.",
])
def test_banned_phrases_match_after_normalisation(playbook_text, apology):
    text = _mutated(playbook_text, lambda d: d["apologies"]["neutral"].update(en=apology))
    assert any(p.startswith("apologies.neutral (line") and "banned phrase 'sorry, but'" in p for p in _problems(text))


def test_a_banned_phrase_written_oddly_in_the_list_still_bans(playbook_text):
    text = _mutated(playbook_text, lambda d: d["banned_phrases"]["en"].append("I'M\u00a0\u00a0SORRY ABOUT"))
    assert any("banned phrase" in p for p in _problems(text))


def test_an_issue_phrase_cannot_bring_a_banned_phrase_into_apologies(playbook_text):
    text = _mutated(playbook_text, lambda d: d["issue_phrases"]["wait_time"].update(ru="ожидание, извините,\u00a0но"))
    problems = _problems(text)
    assert any(p.startswith("issue_phrases.wait_time.ru (line") and "извините, но" in p for p in problems), problems


@pytest.mark.parametrize("phrase", ["   ", "\u00a0", "\u200b"])
def test_an_empty_banned_phrase_is_refused(playbook_text, phrase):
    text = _mutated(playbook_text, lambda d: d["banned_phrases"]["et"].append(phrase))
    assert any(p.startswith("banned_phrases (line") and "empty" in p for p in _problems(text))


def test_every_language_needs_a_banned_phrase_list(playbook_text):
    text = _mutated(playbook_text, lambda d: d["banned_phrases"].pop("zh"))
    assert any("banned_phrases" in p and "missing language(s): zh" in p for p in _problems(text))


def test_strings_are_bounded(playbook_text):
    text = _mutated(playbook_text, lambda d: d["apologies"]["angry"].update(en="Sorry about {issue}. " + "x" * 2000))
    assert any(p.startswith("apologies.angry.en (line") and "at most 1000" in p for p in _problems(text))


def test_normalise_phrase():
    assert normalise_phrase("  Sorry,\u00a0\u00a0 BUT\u200b\n") == "sorry, but"
    assert normalise_phrase("Straße") == "strasse"
    assert first_banned("Sorry,\u2003but", ["nope", "sorry, but"]) == "sorry, but"
    assert first_banned("anything", ["  "]) is None


@pytest.mark.parametrize("reply", ["Sorry,\u00a0but that is how it works.", "sorry,   but no", "SORRY, BUT no",
                                   "That's\u00a0our\u00a0policy", "Извините,\u00a0но так нельзя",
                                   "Vabandust,\u2009aga nii on", "nagu\u00a0ma juba ütlesin", "As I\u00a0 ALREADY said"])
def test_agent_replies_are_checked_after_normalisation(playbook, reply):
    assert find_faults(reply, playbook), reply


def test_a_clean_reply_is_not_nudged(playbook):
    assert find_faults("Thank you, I'm sorry about the delay; I'll fix it now.", playbook) == []
