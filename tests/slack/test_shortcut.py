"""The "Recovery plan" message shortcut (issue 12, item 3): the whole thread's plan, privately, for staff only.

Driven like Slack drives it: a signed `message_action` over loopback HTTP into the real Bolt app, whose Web
API calls go to the recording fake Slack (conversations.replies answers from the messages posted there).
"""
from __future__ import annotations

import json
import re
import time

import pytest

from bot.classify.decisions import Thresholds
from bot.coach.models import Classification
from bot.coach.thread_labels import thread_labels
from bot.engine import RecoveryEngine
from bot.slack.driver import buttons
from bot.slack.fake_api import Call
from bot.slack.recover import LATEST_OPEN, USE_SHORTCUT
from bot.slack.shortcuts import NOT_FOR_YOU
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for, classification

AGENT = AGENTS[0]
THREAD = ["I was charged twice for order 12345", "Hello?? Is anyone there?", "I won't order from you again"]
WHOLE_THREAD = "the billing complaint comes from an earlier message"


def post_thread(bot, texts: list[str] = THREAD, channel: str = CHANNEL, events: bool = True) -> list[dict]:
    """The customer's thread: the first text is the root, the others replies (with events, or stored only)."""
    root: dict | None = None
    posted: list[dict] = []
    for text in texts:
        thread_ts = root["ts"] if root else None
        if events:
            message, reply = bot.driver.message(CUSTOMER, text, channel, thread_ts=thread_ts)
            assert reply.status == 200
        else:
            message = bot.fake.add_message(channel, CUSTOMER, text, thread_ts=thread_ts)
        root = root or message
        posted.append(message)
    if events:
        card_for(bot.fake, AGENT)  # the live pipeline has seen the thread
    return posted


def plan_card(bot, user: str, method: str = "chat.postEphemeral", **match: object) -> Call:
    """The plan the shortcut sent `user`: a full card (with the planner's reasons), not a live card."""
    return bot.fake.wait_for(method, where=lambda c: "Severity" in c.blocks_text() and "Whole thread" in c.blocks_text()
                             and c.args.get("user", user) == user, **match)[-1]


def blocks_of(call: Call) -> list[dict]:
    blocks = call.args.get("blocks")
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def private_texts(bot, user: str) -> list[str]:
    """Everything sent to `user` in private (ephemeral in the channel, or their DM)."""
    return ([c.blocks_text() for c in bot.fake.calls_of("chat.postEphemeral", user=user)]
            + [c.blocks_text() for c in bot.fake.calls_of("chat.postMessage", channel=f"D{user}")])


def test_agent_gets_the_whole_threads_plan_privately_within_the_ack(bot):
    messages = post_thread(bot)
    started = time.monotonic()
    reply = bot.driver.message_shortcut(AGENT, messages[0], CHANNEL)  # clicked on the root: the whole thread
    assert reply.status == 200 and time.monotonic() - started < 3.0
    card = plan_card(bot, AGENT, channel=CHANNEL)
    text = card.blocks_text()
    assert WHOLE_THREAD in text and "*Complaint:* billing" in text  # the latest message names no complaint
    assert "may leave" in text  # churn from the last message, billing from the first: severity from the whole thread
    assert "Severity high" in text or "Severity critical" in text
    assert "coach_send_apology" in buttons(card.args)
    assert bot.fake.visible_posts(CHANNEL) == []  # nothing the customer can see
    assert not [t for t in private_texts(bot, CUSTOMER) if "Recovery coach" in t]


def test_the_shortcut_plan_equals_recover_with_a_link(bot):
    messages = post_thread(bot)
    bot.driver.message_shortcut(SUPERVISOR, messages[1], CHANNEL)  # any message of the thread plans all of it
    shortcut = plan_card(bot, SUPERVISOR, channel=CHANNEL)
    last = messages[-1]
    link = f"<https://ours.slack.com/archives/{CHANNEL}/p{last['ts'].replace('.', '')}?thread_ts={messages[0]['ts']}>"
    bot.driver.command(SUPERVISOR, link, CHANNEL)
    recovered = bot.fake.wait_for("response_url", where=lambda c: "Recovery coach" in (c.args.get("text") or ""))[-1]
    assert blocks_of(shortcut) == blocks_of(recovered) and shortcut.args["text"] == recovered.args["text"]
    assert WHOLE_THREAD in recovered.blocks_text()


def test_buttons_on_the_shortcut_card_work_once(bot):
    messages = post_thread(bot)
    bot.driver.message_shortcut(AGENT, messages[0], CHANNEL)
    apology = buttons(plan_card(bot, AGENT).args)["coach_send_apology"]
    for _ in range(2):
        assert bot.driver.click(AGENT, apology, CHANNEL, message_ts="1700000000.000900").status == 200
    sent = bot.fake.wait_for("chat.postMessage", channel=CHANNEL)
    time.sleep(0.5)
    assert len(bot.fake.calls_of("chat.postMessage", channel=CHANNEL)) == 1
    assert sent[0].args["thread_ts"] == messages[0]["ts"]


def test_a_replayed_shortcut_answers_once(bot):
    messages = post_thread(bot)
    for _ in range(3):  # Slack's retry of one click carries the same trigger_id
        assert bot.driver.message_shortcut(AGENT, messages[0], CHANNEL, trigger_id="trig.same").status == 200
    plan_card(bot, AGENT)
    time.sleep(0.5)
    assert len([t for t in private_texts(bot, AGENT) if "Whole thread" in t]) == 1


def test_a_customer_clicking_it_gets_no_coaching(bot):
    messages = post_thread(bot)
    assert bot.driver.message_shortcut(CUSTOMER, messages[0], CHANNEL).status == 200
    neutral = bot.fake.wait_for("chat.postEphemeral", user=CUSTOMER)[-1]
    assert neutral.args["text"] == NOT_FOR_YOU and not neutral.args.get("blocks")
    time.sleep(0.3)
    assert [t.strip() for t in private_texts(bot, CUSTOMER)] == [NOT_FOR_YOU]
    refused = [a for a in bot.services.store.audit_log() if not a.allowed]
    assert [(a.actor, a.action) for a in refused] == [(CUSTOMER, "recovery plan shortcut")]


def test_no_coaching_when_the_role_lookup_fails(bot):
    messages = post_thread(bot, events=False)  # nothing looked up yet: the clicker's role is not cached
    bot.fake.fail_for("users.info", seconds=60, status=500)
    bot.driver.message_shortcut(AGENT, messages[0], CHANNEL)
    neutral = bot.fake.wait_for("chat.postEphemeral", user=AGENT)[-1]
    assert neutral.args["text"] == NOT_FOR_YOU and not neutral.args.get("blocks")
    assert bot.fake.calls_of("conversations.replies") == []  # the thread was never even read


def test_unknown_message_or_channel_is_a_clear_answer(bot):
    post_thread(bot, events=False)
    gone = {"type": "message", "user": CUSTOMER, "text": "deleted since", "ts": "1600000000.000100"}
    assert bot.driver.message_shortcut(AGENT, gone, CHANNEL).status == 200
    answer = bot.fake.wait_for("chat.postEphemeral", user=AGENT)[-1].args["text"]
    assert answer == "I can't find that message: it may have been deleted."
    bot.driver.message_shortcut(AGENT, {**gone, "ts": "1600000000.000200"}, "CNOWHERE")
    answer = bot.fake.wait_for("chat.postEphemeral", user=AGENT, count=2)[-1].args["text"]
    assert "is the bot invited to the channel?" in answer and "Traceback" not in answer


def test_in_a_channel_without_the_bot_the_plan_goes_by_dm(bot):
    bot.fake.add_channel("CNOBOT", [AGENT, CUSTOMER])  # the bot can read (public) but not post there
    messages = post_thread(bot, channel="CNOBOT", events=False)
    bot.driver.message_shortcut(AGENT, messages[2], "CNOBOT")
    card = plan_card(bot, AGENT, method="chat.postMessage", channel=f"D{AGENT}")
    assert WHOLE_THREAD in card.blocks_text()
    assert bot.fake.calls_of("chat.postEphemeral", ok_only=False, channel="CNOBOT")[0].status == 400


def test_recover_in_a_thread_points_to_the_shortcut_and_its_other_forms_still_work(bot):
    bot.driver.command(SUPERVISOR, "", CHANNEL, thread_ts="1700000000.000100")
    assert bot.fake.wait_for("response_url")[-1].args["text"] == USE_SHORTCUT
    post_thread(bot)
    bot.driver.command(SUPERVISOR, "", CHANNEL)  # bare, in the channel: its latest open incident, and the hint
    bot.fake.wait_for("response_url", where=lambda c: c.args.get("text") == LATEST_OPEN)
    bot.fake.wait_for("response_url", where=lambda c: "Recovery coach" in (c.args.get("text") or ""))
    bot.driver.command(SUPERVISOR, "help", CHANNEL)
    assert "Recovery plan" in bot.fake.wait_for("response_url", where=lambda c: "`/recover help`" in
                                                (c.args.get("text") or ""))[-1].args["text"]


# 4 customer messages and an agent's reply per language: the complaint only in the first, the churn threat in the last
THREADS = {
    "en": ["I was charged twice for my order", "Hello?", "Let me check that for you.", "Any news?",
           "I won't order from you again"],
    "ru": ["С меня списали деньги дважды за заказ", "Алло?", "Сейчас проверю.", "Есть новости?",
           "Я больше не буду у вас заказывать."],
    "zh": ["我的订单被扣了两次钱", "有人吗？", "我马上查一下。", "有消息吗？", "再也不买了！"],
    "et": ["Tellimuse eest võeti raha kaks korda", "Halloo?", "Kohe vaatan.", "Kas on uudiseid?",
           "Ma ei telli teilt enam"],
}


class ThreadClassifier:
    """The model's part for the four-language threads: the language by script and word, billing in the first line."""

    BILLING = ("charged twice", "дважды", "两次", "kaks korda")
    thresholds = Thresholds()

    def classify(self, text: str) -> Classification:
        language = ("ru" if re.search("[а-яё]", text.lower()) else "zh" if re.search("[\u4e00-\u9fff]", text)
                    else "et" if re.search(r"\b(halloo|kas|ma|kohe|tellimuse)\b", text.lower()) else "en")
        if any(key in text for key in self.BILLING):
            return classification("angry", "billing", language)
        return classification("neutral", "none", language)

    def classify_many(self, texts: list[str]) -> list[Classification]:
        return [self.classify(t) for t in texts]


@pytest.mark.parametrize("language", sorted(THREADS))
def test_the_shortcut_plans_a_five_message_thread_in_each_language(make_bot, settings, playbook, language):
    bot = make_bot(engine=RecoveryEngine(settings, classifier=ThreadClassifier(), playbook=playbook))
    texts = THREADS[language]
    root = bot.fake.add_message(CHANNEL, CUSTOMER, texts[0])
    for i, text in enumerate(texts[1:], start=1):
        bot.fake.add_message(CHANNEL, AGENT if i == 2 else CUSTOMER, text, thread_ts=root["ts"])
    bot.driver.message_shortcut(AGENT, root, CHANNEL)
    text = plan_card(bot, AGENT).blocks_text()
    assert f"*Language:* {language}" in text and "*Complaint:* billing" in text and WHOLE_THREAD in text
    assert "may leave" in text  # the churn threat of the last line, in its language
    apology = playbook.apologies["angry"].get(language).format(company=playbook.company,
                                                                issue=playbook.issue_phrases["billing"].get(language),
                                                                days="")
    assert apology in text  # the apology of the thread's language and tone


# ---- thread_labels, fast ------------------------------------------------------------------------------
POINTS = {"abusive": 3, "angry": 2, "frustrated": 2, "anxious": 1, "neutral": 0, "positive": 0}


def _labels(latest: Classification, *earlier: Classification) -> tuple[str, str, str]:
    merged, _ = thread_labels(latest, list(earlier), POINTS)
    return merged.tone.label, merged.complaint.label, merged.language


def test_thread_labels_carry_the_complaint_and_the_strongest_tone():
    assert _labels(classification(), classification("angry", "billing")) == ("angry", "billing", "en")
    # the latest message's own complaint wins; the latest named complaint of the earlier ones otherwise
    assert _labels(classification("neutral", "delivery"), classification("angry", "billing"))[1] == "delivery"
    assert _labels(classification(), classification("angry", "billing"), classification("anxious", "refund"),
                   classification())[:2] == ("angry", "refund")
    # equally strong tones: the later one
    assert _labels(classification(), classification("angry"), classification("frustrated"))[0] == "frustrated"


def test_thread_labels_do_not_carry_abuse_or_guesses():
    assert _labels(classification(), classification("abusive", "staff_attitude")) == ("neutral", "staff_attitude", "en")
    assert _labels(classification("abusive", "staff_attitude"), classification("angry", "billing"))[:2] == (
        "abusive", "staff_attitude")
    guess = classification("angry", "billing", confidence=0.3).model_copy(deep=True)
    guess.complaint.unsure = guess.tone.unsure = True
    assert _labels(classification(), guess) == ("neutral", "none", "en")
    assert _labels(classification(language="en"), classification("angry", "delivery", "ru"),
                   classification(language="ru"))[2] == "ru"
    assert thread_labels(classification(), [], POINTS) == (classification(), [])
