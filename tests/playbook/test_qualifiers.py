"""A qualifier or blame anywhere in a text (issue 12, item 8): the shared rules, the validator, the nudges."""
from __future__ import annotations

import pytest
import yaml

from bot.labels import LANGUAGES
from bot.playbook import PlaybookError, parse_playbook
from bot.playbook.text import find_qualifiers
from bot.slack.nudges import NUDGES, find_faults, nudge_text

# (language, text, reason found, whether a contrast word leads to it)
FAULTS = [
    ("en", "I'm truly sorry about {issue}, but that was the courier's fault", "blame", True),
    ("en", "Apologies for the delay, however our terms do not allow a refund.", "policy", True),
    ("en", "I understand, but there is nothing I can do", "refusal", True),
    ("en", "Although I see your point, the warehouse made a mistake here.", "blame", True),
    ("en", "We are sorry. Though, to be fair, you didn't enter the right address.", "blame", True),
    ("en", "I hear you, but that's company policy.", "policy", True),
    ("en", "I get it. However, it's out of our hands.", "refusal", True),
    ("en", "Per our terms and conditions, refunds take 30 days.", "policy", False),
    ("en", "That is not our fault.", "blame", False),
    ("ru", "Извините, но это вина курьера.", "blame", True),
    ("ru", "Понимаю вас, однако по правилам мы не возвращаем деньги.", "policy", True),
    ("ru", "Сожалею, но я ничего не могу сделать.", "refusal", True),
    ("ru", "Хотя курьер ошибся, мы тут ни при чём.", "blame", True),
    ("ru", "Приносим извинения, но согласно условиям договора возврат невозможен.", "policy", True),
    ("ru", "Это ваша ошибка.", "blame", False),
    ("ru", "От нас ничего не зависит.", "refusal", False),
    ("zh", "很抱歉，但是这是快递的问题。", "blame", True),
    ("zh", "我理解您，不过公司规定不能退款。", "policy", True),
    ("zh", "对不起，可是我们也无能为力。", "refusal", True),
    ("zh", "虽然给您带来不便，但这是仓库的责任。", "blame", True),
    ("zh", "根据条款，无法退款。", "policy", False),
    ("zh", "这是您的错。", "blame", False),
    ("et", "Vabandust, aga see on kulleri süü.", "blame", True),
    ("et", "Saan aru, kuid meie tingimused seda ei luba.", "policy", True),
    ("et", "Kahju, aga ma ei saa midagi teha.", "refusal", True),
    ("et", "Vabandame, ent süü oli tarnija poolel.", "blame", True),
    ("et", "See pole meie süü.", "blame", False),
    ("et", "Midagi pole teha.", "refusal", False),
]
CLEAN = [
    ("en", "I'm so sorry about the delay. It's our mistake, not yours, and I'm fixing it now."),
    ("en", "It is not your fault at all; I'll sort it out."),
    ("en", "I want to help you and I will, but I need us to keep this conversation respectful."),
    ("en", "Our team will call you back within 24 hours."),
    ("ru", "Простите, пожалуйста, это наша ошибка, и я всё исправлю прямо сейчас."),
    ("ru", "Вы всё сделали правильно, это не ваша вина."),
    ("ru", "Я хочу помочь, но прошу говорить уважительно."),
    ("zh", "非常抱歉，这是我们的错，不是您的错，我马上处理。"),
    ("zh", "我已将您的问题转入优先处理队列。"),
    ("zh", "不但要道歉，我们还会补偿您。"),
    ("et", "Vabandan, see on meie viga ja ma parandan selle kohe."),
    ("et", "See pole teie süü, lahendan asja kohe."),
    ("et", "Soovin teid aidata, aga palun hoidkem vestlus lugupidav."),
]


@pytest.mark.parametrize("lang, text, reason, contrast", FAULTS, ids=[f[1][:40] for f in FAULTS])
def test_each_fault_phrase(lang, text, reason, contrast):
    found = find_qualifiers(text, [lang])
    assert any(q.reason == reason and q.contrast == contrast for q in found), found


@pytest.mark.parametrize("lang, text", CLEAN, ids=[c[1][:40] for c in CLEAN])
def test_clean_text_passes(lang, text):
    assert find_qualifiers(text) == []


def test_every_language_has_each_kind():
    for lang in LANGUAGES:
        reasons = {(r, c) for l, _, r, c in FAULTS if l == lang}
        assert {("blame", True), ("policy", True), ("refusal", True)} <= reasons, lang
        assert any(not c for _, c in reasons), lang


@pytest.mark.parametrize("lang, text, reason, contrast", FAULTS, ids=[f[1][:40] for f in FAULTS])
def test_nudges_catch_each_phrase(lang, text, reason, contrast, playbook):
    findings = {f.reason for f in find_faults(text.replace("{issue}", "the delay"), playbook)}
    assert reason in findings
    if contrast:
        assert "qualified" in findings


def test_the_issues_nudge_examples(playbook):
    """"Apologies…, however our terms…" and "I understand, but there is nothing I can do" were missed."""
    terms = find_faults("Apologies for the wait, however our terms say refunds take 14 days.", playbook)
    assert {f.reason for f in terms} == {"qualified", "policy"}
    nothing = find_faults("I understand, but there is nothing I can do", playbook)
    assert {f.reason for f in nothing} == {"qualified", "refusal"}
    assert "tells the customer no" in nudge_text(nothing)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_refusal_nudge_in_each_language(lang):
    assert "{phrase}" in NUDGES[lang]["refusal"]


def _mutated(text: str, change) -> str:
    data = yaml.safe_load(text)
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _problems(text: str) -> list[str]:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text)
    return [str(p) for p in caught.value.problems]


def test_validator_refuses_the_issues_apology(playbook_text):
    text = _mutated(playbook_text, lambda d: d["apologies"]["angry"].update(
        en="I'm truly sorry about {issue}, but that was the courier's fault"))
    problems = _problems(text)
    assert any(p.startswith("apologies.angry") and "courier's fault" in p and "qualifies" in p for p in problems), problems


@pytest.mark.parametrize("lang, text", [
    ("ru", "Простите за {issue}, однако по правилам мы не можем вернуть деньги."),
    ("zh", "对于{issue}，我很抱歉，不过这是快递的问题。"),
    ("et", "Vabandan {issue} pärast, aga ma ei saa midagi teha."),
])
def test_validator_refuses_qualified_apologies_in_other_languages(playbook_text, lang, text):
    problems = _problems(_mutated(playbook_text, lambda d: d["apologies"]["neutral"].update({lang: text})))
    assert any(p.startswith("apologies.neutral") and f"[{lang}]" in p for p in problems), problems


def test_validator_refuses_an_issue_phrase_that_blames(playbook_text):
    text = _mutated(playbook_text, lambda d: d["issue_phrases"]["delivery"].update(
        en="the delay, although the courier made the mistake"))
    problems = _problems(text)
    assert any(p.startswith("issue_phrases") and "delivery.en" in p for p in problems), problems


def test_validator_refuses_a_customer_text_that_blames(playbook_text):
    text = _mutated(playbook_text, lambda d: d["compensation"]["delivery"][0]["customer_text"].update(
        et="Maksin saatmistasu tagasi, kuigi see oli kulleri süü."))
    problems = _problems(text)
    assert any(p.startswith("compensation.delivery[0].customer_text") for p in problems), problems


def test_every_offer_has_customer_words_in_every_language(playbook):
    for complaint, options in playbook.compensation.items():
        for option in options:
            assert option.customer_text is not None, option.id
            assert set(option.customer_text.root) == set(playbook.languages), option.id


def test_customer_text_missing_a_language_is_refused(playbook_text):
    text = _mutated(playbook_text, lambda d: d["compensation"]["billing"][0]["customer_text"].pop("zh"))
    assert any("customer_text" in p and "zh" in p for p in _problems(text))


def test_a_playbook_without_customer_texts_still_loads(playbook_text):
    """Versions saved before item 8 stay valid: the agent then gets the offer's own summary only."""
    def strip(d: dict) -> None:
        for options in d["compensation"].values():
            for option in options:
                option.pop("customer_text", None)
    playbook = parse_playbook(_mutated(playbook_text, strip))
    assert playbook.compensation["billing"][0].customer_text is None
