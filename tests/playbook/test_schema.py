from __future__ import annotations

import pytest
import yaml

from bot.playbook import PlaybookError, parse_playbook
from bot.labels import LANGUAGES


def _mutated(text: str, mutate) -> str:
    data = yaml.safe_load(text)
    mutate(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, "test.yaml")
    return [str(p) for p in info.value.problems]


def test_shipped_playbook_is_valid_and_complete(playbook):
    assert set(playbook.languages) == set(LANGUAGES)
    for tone, text in playbook.apologies.items():
        assert set(text.root) == set(LANGUAGES), tone
    assert playbook.compensation["billing"], "billing must have options"


def test_unknown_key_is_refused_with_field_and_line(playbook_text):
    text = playbook_text.replace("margin: 0.3", "margin: 0.3\n  discount_rate: 0.1", 1)
    problems = _problems(text)
    assert len(problems) == 1
    assert problems[0].startswith("customer_value.discount_rate (line ")
    line = int(problems[0].split("line ")[1].split(")")[0])
    assert "discount_rate" in text.splitlines()[line - 1]
    assert "unknown key" in problems[0]


def test_negative_value_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["compensation"]["billing"][1].update(value=-5))
    problems = _problems(text)
    assert any(p.startswith("compensation.billing[1].value") and "greater than or equal to 0" in p for p in problems)


def test_role_above_the_ladder_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["compensation"]["refund"][0].update(authority="ceo"))
    problems = _problems(text)
    assert any(p.startswith("compensation.refund[0].authority") for p in problems)


def test_missing_language_in_a_template_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["apologies"]["angry"].pop("et"))
    problems = _problems(text)
    assert any(p.startswith("apologies.angry") and "missing language(s): et" in p for p in problems)


def test_missing_language_in_a_question_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["questions"]["billing"][0]["text"].pop("zh"))
    assert any(p.startswith("questions.billing[0].text") and "zh" in p for p in _problems(text))


def test_qualified_apology_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["apologies"]["neutral"].update(
        en="We're sorry, but our policy does not allow this for {issue}."))
    assert any(p.startswith("apologies.neutral") and "banned phrase" in p for p in _problems(text))


def test_unknown_placeholder_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["acknowledgement"].update(en="Hi {customer_name}!"))
    assert any("unknown placeholder" in p for p in _problems(text))


def test_thresholds_must_increase(playbook_text):
    text = _mutated(playbook_text, lambda d: d["severity"]["thresholds"].update(high=9))
    assert any(p.startswith("severity.thresholds") for p in _problems(text))


def test_broken_yaml_reports_the_line():
    problems = _problems("company: Acme\ncurrency: [USD\nlanguages: [en]\n")
    assert "not valid YAML" in problems[0] and "(line" in problems[0]


def test_not_a_mapping():
    assert "must be a YAML mapping" in _problems("- just\n- a list\n")[0]
