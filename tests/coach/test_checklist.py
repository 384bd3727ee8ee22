"""The 8 steps of "a complaint is a gift": which steps an agent's message performs, in en, ru, zh, et (labelled)."""
from __future__ import annotations

import json

import pytest

from bot.coach.checklist import STEPS, checklist_line, checklist_plain, detect_steps, ordered
from bot.slack.nudges import find_faults

# (language, agent message, steps it must show, steps it must not show)
LABELLED: list[tuple[str, str, set[str], set[str]]] = [
    # thank
    ("en", "Thanks for your patience.", {"thank"}, {"explain", "apologise", "promise"}),
    ("ru", "Спасибо за ваше терпение.", {"thank"}, {"explain", "apologise"}),
    ("zh", "感谢您的耐心。", {"thank"}, {"explain", "apologise"}),
    ("et", "Aitäh kannatlikkuse eest.", {"thank"}, {"explain", "apologise"}),
    # explain (implies thank)
    ("en", "Thank you for letting us know, this helps us fix it for everyone.", {"thank", "explain"}, {"apologise"}),
    ("ru", "Спасибо, что сообщили нам об этом: теперь я смогу помочь.", {"thank", "explain"}, {"apologise"}),
    ("zh", "谢谢您告诉我们，这样我们就能改进。", {"thank", "explain"}, {"apologise"}),
    ("et", "Aitäh, et andsite meile teada, see aitab meil asja parandada.", {"thank", "explain"}, {"apologise"}),
    # apologise
    ("en", "I'm so sorry this happened.", {"apologise"}, {"thank", "promise"}),
    ("ru", "Прошу прощения, мне очень жаль, что так вышло.", {"apologise"}, {"thank"}),
    ("zh", "非常抱歉给您带来不便。", {"apologise"}, {"thank"}),
    ("et", "Mul on väga kahju, et nii juhtus.", {"apologise"}, {"thank"}),
    # promise
    ("en", "I'll sort this out for you today.", {"promise"}, {"apologise", "ask"}),
    ("ru", "Я разберусь и исправлю это сегодня.", {"promise"}, {"apologise"}),
    ("zh", "我马上为您处理。", {"promise"}, {"apologise"}),
    ("zh", "我们会尽快处理，请您放心。", {"promise"}, {"apologise", "thank"}),
    ("et", "Lahendan selle täna ära.", {"promise"}, {"apologise"}),
    # ask
    ("en", "Could you send me the order number?", {"ask"}, {"check", "promise"}),
    ("ru", "Пришлите, пожалуйста, номер заказа.", {"ask"}, {"check"}),
    ("zh", "请提供一下订单号。", {"ask"}, {"check"}),
    ("et", "Palun saatke tellimuse number.", {"ask"}, {"check"}),
    # check satisfaction (not counted as an ask)
    ("en", "Does this work for you?", {"check"}, {"ask"}),
    ("ru", "Вас устраивает такое решение?", {"check"}, {"ask"}),
    ("zh", "您对这个处理满意吗？", {"check"}, {"ask"}),
    ("et", "Kas olete lahendusega rahul?", {"check"}, {"ask"}),
    # a check and a real question in one message: both
    ("en", "Is everything okay now? And which address should we use?", {"check", "ask"}, set()),
    # negatives: negated, qualified, blaming, refusing
    ("en", "I'm not sorry, that's how it works.", set(), {"apologise"}),
    ("en", "No thanks.", set(), {"thank"}),
    ("en", "Thanks for nothing.", set(), {"thank"}),
    ("en", "Sorry, but that was the courier's fault.", set(), {"apologise"}),
    ("en", "Sorry if you feel that way.", set(), {"apologise"}),
    ("en", "We will not refund this.", set(), {"promise"}),
    ("en", "I can't promise anything, there is nothing I can do.", set(), {"promise"}),
    ("ru", "Я не извиняюсь, это не наша вина.", set(), {"apologise"}),
    ("ru", "Извините, но курьер виноват.", set(), {"apologise"}),
    ("ru", "Я не обещаю, ничего не могу сделать.", set(), {"promise"}),
    ("zh", "不用谢。", set(), {"thank"}),
    ("zh", "抱歉，但是这是快递的问题。", set(), {"apologise"}),
    ("zh", "我不能保证。", set(), {"promise"}),
    ("et", "Ma ei vabanda.", set(), {"apologise"}),
    ("et", "Vabandust, aga see on kulleri süü.", set(), {"apologise"}),
    ("et", "Ma ei luba midagi.", set(), {"promise"}),
]


@pytest.mark.parametrize(("language", "text", "present", "absent"), LABELLED,
                         ids=[f"{lang}-{i}" for i, (lang, *_rest) in enumerate(LABELLED)])
def test_labelled_agent_messages(language, text, present, absent, playbook):
    """As the Slack call site runs it: with the reply lint's findings (bot/slack/nudges.py)."""
    steps = detect_steps(text, [f.reason for f in find_faults(text, playbook)])
    assert present <= steps, f"missing {present - steps} in {text!r}"
    assert not (absent & steps), f"wrongly found {absent & steps} in {text!r}"


def test_every_language_covers_every_text_step():
    covered = {(lang, step) for lang, _, present, _ in LABELLED for step in present}
    for lang in ("en", "ru", "zh", "et"):
        for step in ("thank", "explain", "apologise", "promise", "ask", "check"):
            assert (lang, step) in covered, (lang, step)


def test_the_nudges_findings_void_an_apology(playbook):
    """What the reply lint found is passed in by the call site; the "but"-to-blame shape is caught on its own."""
    text = "Sorry if you feel that way."  # the nudges' conditional apology, not a find_qualifiers shape
    assert "apologise" in detect_steps(text)
    assert "apologise" not in detect_steps(text, [f.reason for f in find_faults(text, playbook)])
    assert "apologise" not in detect_steps("Sorry, but that was the courier's fault.")  # no findings needed
    assert "apologise" not in detect_steps("Sorry about that.", ["qualified"])
    assert "promise" not in detect_steps("I'll check it.", ["refusal"])


@pytest.mark.parametrize("language", ["en", "ru", "zh", "et"])
@pytest.mark.parametrize("tone", ["angry", "frustrated", "anxious", "neutral", "positive"])
def test_every_playbook_apology_thanks_apologises_and_promises(playbook, language, tone):
    """The card's apologies (sent with *Send apology*) perform steps 1, 3 and 4 in every language."""
    text = playbook.apologies[tone].root[language].format(issue="X", company="Acme", days=3)
    steps = detect_steps(text, [f.reason for f in find_faults(text, playbook)])
    assert {"thank", "apologise", "promise"} <= steps, (tone, language, text)


def test_playbook_questions_are_asks(playbook):
    texts = [t for questions in playbook.questions.values() for q in questions for t in q.text.root.values()]
    assert texts
    missed = [t for t in texts if "ask" not in detect_steps(t)]
    assert missed == []


def test_line_and_order():
    assert ordered(["prevent", "thank", "nonsense", "apologise"]) == ["thank", "apologise", "prevent"]
    line = checklist_line({"thank", "apologise", "fix"})
    assert line.startswith(":gift: *Complaint-is-a-gift steps 3/8:*")
    assert "✓ *thank* · explain · ✓ *apologise* · promise · ask · ✓ *fix* · check satisfaction · prevent" in line
    assert checklist_plain(set()) .startswith("0/8")
    assert len(STEPS) == 8


def test_the_card_and_the_terminal_show_the_line_only_when_looked_up(playbook):
    from rich.console import Console

    from bot.render.blocks import CardContext, coaching_card
    from bot.render.terminal import render_card
    from tests.storage.helpers import classification, plan_for

    plan = plan_for("My parcel is late", classification("angry", "delivery"), playbook)
    ctx = CardContext(1, "C1", "1.0", "1.0")
    assert not any("gift steps" in json.dumps(b) for b in coaching_card(plan, ctx))  # `coach suggest`: no thread
    done = plan.model_copy(update={"checklist": ["thank", "fix"]})
    lines = [e["text"] for b in coaching_card(done, ctx) if b["type"] == "context" for e in b["elements"]]
    assert [line for line in lines if "gift steps" in line] == [checklist_line(["thank", "fix"])]
    console = Console(record=True, width=200)
    console.print(render_card(done))
    assert "2/8  ✓ thank  · explain  · apologise  · promise  · ask  ✓ fix" in console.export_text()
