"""Less noise (issue 12, item 5), end to end through the real Bolt app: who is coached, when, and with which card."""
from __future__ import annotations

import json
import time

import pytest

from bot.slack.driver import buttons
from bot.slack.fake_api import Call
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, Bot

ANN, BOB = AGENTS


def settle(bot: Bot, message: dict, timeout: float = 10.0) -> None:
    """Wait until a worker has finished with this message: its inbox row is completed after its cards went out."""
    deadline = time.monotonic() + timeout
    while bot.services.store.inbox.unfinished(CHANNEL, message["ts"], ("message",)):
        assert time.monotonic() < deadline, "message still in the inbox"
        time.sleep(0.05)


def cards(bot: Bot, agent: str) -> list[Call]:
    """Every card (an ephemeral with blocks) `agent` was sent, oldest first; nudges and notes carry no blocks."""
    return [c for c in bot.fake.calls_of("chat.postEphemeral", user=agent) if c.args.get("blocks")]


def blocks_of(call: Call) -> list[dict]:
    blocks = call.args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def say(bot: Bot, user: str, text: str, thread: dict | None = None, event_id: str | None = None) -> dict:
    message, reply = bot.driver.message(user, text, CHANNEL, thread_ts=thread["ts"] if thread else None,
                                        event_id=event_id)
    assert reply.status == 200
    settle(bot, message)
    return message


def test_first_message_goes_to_every_agent_then_only_to_the_one_who_replied(bot):
    root = say(bot, CUSTOMER, "I was charged twice for my order!")
    assert len(cards(bot, ANN)) == len(cards(bot, BOB)) == 1      # nobody engaged yet, no on-duty list
    say(bot, ANN, "Thank you for telling us, I'm so sorry. Let me fix this now.", root)
    say(bot, CUSTOMER, "And my parcel is still not here either", root)
    assert len(cards(bot, ANN)) == 2 and len(cards(bot, BOB)) == 1   # Bob is not in this thread
    assert {c.args["user"] for c in bot.fake.calls_of("chat.postEphemeral")} <= set(AGENTS)  # never the customer
    assert bot.services.store.thread_cards.engaged("TOURS", CHANNEL, root["ts"]) == [ANN]


def test_thanks_sends_no_card_but_is_still_recorded(bot):
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    before = len(bot.fake.calls_of("chat.postEphemeral"))
    thanks = say(bot, CUSTOMER, "thanks!", root)
    assert len(bot.fake.calls_of("chat.postEphemeral")) == before
    assert bot.services.store.customer_message("TOURS", CHANNEL, thanks["ts"]) is not None
    incident = bot.services.store.incident_for_thread("TOURS", CHANNEL, root["ts"])
    assert incident is not None and incident.tone_last == "neutral"   # the thread's tone is still tracked
    fresh = say(bot, CUSTOMER, "Hi, what are your opening hours?")  # a new thread with nothing to fix: no card
    assert len(bot.fake.calls_of("chat.postEphemeral")) == before and fresh


def test_second_complaint_in_the_thread_is_a_compact_update_not_a_second_full_card(bot):
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    full = cards(bot, ANN)[0]
    assert "lifetime revenue" in full.blocks_text() and "Updated plan" not in full.blocks_text()
    say(bot, CUSTOMER, "And I was charged twice for it!", root)
    update = cards(bot, ANN)[-1]
    text = update.blocks_text()
    assert len(cards(bot, ANN)) == 2 and update.args["thread_ts"] == root["ts"]
    assert "Updated plan" in text and "supersedes your earlier card" in text
    assert "complaint product quality → billing" in text
    assert "lifetime revenue" not in text and "Customer memory" not in text and "Follow-ups" not in text
    assert "Complaint-is-a-gift steps" in text  # the checklist line stays: it tells what is left to do
    assert len(json.dumps(blocks_of(update))) < len(json.dumps(blocks_of(full)))
    assert set(buttons(update.args)) >= {"coach_send_apology", "coach_resolved"}  # still actionable
    assert "updated plan" in update.args["text"] and "charged" not in update.args["text"]  # labels only


def test_after_a_click_the_update_replaces_the_card_through_its_response_url(bot):
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    card = cards(bot, ANN)[0]
    click = bot.driver.click(ANN, buttons(card.args)["coach_send_apology"], CHANNEL, message_ts="1.1")
    assert click.status == 200
    told = bot.fake.wait_for("response_url", where=lambda c: "Sent in the thread" in str(c.args.get("text")))[0]
    say(bot, CUSTOMER, "And I was charged twice for it!", root)
    replaced = bot.fake.wait_for("response_url", where=lambda c: c.args.get("replace_original") is True)
    assert len(replaced) == 1 and replaced[0].args["url"] == told.args["url"]   # the card Ann clicked on
    assert "Updated for the customer's latest message" in replaced[0].blocks_text()
    assert "billing" in replaced[0].blocks_text()
    assert len(cards(bot, ANN)) == 1                 # no new ephemeral for her: the old one was replaced
    assert len(cards(bot, BOB)) == 1                 # Bob is not engaged (Ann sent the apology)
    row = bot.services.store.thread_cards.held("TOURS", CHANNEL, root["ts"], ANN)
    assert row.kind == "replaced" and row.response_url_uses == 2


def test_an_expired_response_url_falls_back_to_the_compact_update(bot):
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    bot.driver.click(ANN, buttons(cards(bot, ANN)[0].args)["coach_resolved"], CHANNEL, message_ts="1.1")
    bot.fake.wait_for("response_url")
    store = bot.services.store.thread_cards
    from bot.storage.thread_cards import ThreadCard

    with store._write_sessions.begin() as s:  # 40 minutes later: Slack no longer honours the URL
        row = s.query(ThreadCard).filter_by(agent=ANN).one()
        row.response_url_at = row.response_url_at.replace(year=row.response_url_at.year - 1)
    say(bot, CUSTOMER, "And I was charged twice for it!", root)
    assert not bot.fake.calls_of("response_url", replace_original=True)
    assert "Updated plan" in cards(bot, ANN)[-1].blocks_text()


def test_on_duty_list_is_honoured_and_only_supervisors_set_it(bot):
    refused = bot.driver.command(ANN, f"on-duty <@{BOB}|bob>", CHANNEL)
    assert refused.status == 200
    assert "Only supervisors" in bot.fake.wait_for("response_url")[0].args["text"]
    bot.driver.command(SUPERVISOR, f"on-duty <@{CUSTOMER}|cust> <@{BOB}|bob>", CHANNEL)
    assert "Not set" in bot.fake.wait_for("response_url", count=2)[-1].args["text"]  # a customer: never on duty
    bot.driver.command(SUPERVISOR, f"on-duty <@{BOB}|bob>", CHANNEL)
    assert "On duty in" in bot.fake.wait_for("response_url", count=3)[-1].args["text"]
    assert bot.services.store.thread_cards.on_duty("TOURS", CHANNEL) == [BOB]
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    assert len(cards(bot, BOB)) == 1 and cards(bot, ANN) == []
    say(bot, ANN, "So sorry to hear that! I'll sort it out right away.", root)  # Ann takes the thread
    say(bot, CUSTOMER, "And I was charged twice for it!", root)
    assert len(cards(bot, ANN)) == 1 and len(cards(bot, BOB)) == 1  # engaged wins over on duty
    bot.driver.command(CUSTOMER, "on-duty", CHANNEL)  # a customer is told nothing of the rota
    shown = bot.fake.wait_for("response_url", count=4)[-1].args["text"]
    assert "Only our staff" in shown and BOB not in shown
    bot.driver.command(ANN, "on-duty", CHANNEL)
    assert f"<@{BOB}>" in bot.fake.wait_for("response_url", count=5)[-1].args["text"]
    bot.driver.command(SUPERVISOR, "on-duty off", CHANNEL)
    bot.fake.wait_for("response_url", count=6)
    say(bot, CUSTOMER, "My parcel is still not here")  # a new thread, no list: every agent
    assert len(cards(bot, ANN)) == 2 and len(cards(bot, BOB)) == 2


def test_engaged_agents_survive_a_restart_and_are_shared_by_workers(make_bot):
    first = make_bot()
    root = say(first, CUSTOMER, "The kettle arrived broken")
    say(first, BOB, "I'm sorry! Thank you for telling us, I'm on it.", root)
    first.app.close()  # its inbox worker stops: the next message can only be handled by the second worker
    second = make_bot()  # a new worker on the same database: nothing in process memory
    say(second, CUSTOMER, "And I was charged twice for it!", root, event_id="EvSecondWorker")  # its own ids
    assert len(cards(second, BOB)) == 2 and len(cards(second, ANN)) == 1
    assert "Updated plan" in cards(second, BOB)[-1].blocks_text()


def test_a_customer_recorded_as_engaged_still_gets_nothing(bot):
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    bot.services.store.thread_cards.record_agent("TOURS", CHANNEL, root["ts"], CUSTOMER)  # a poisoned row
    say(bot, CUSTOMER, "And I was charged twice for it!", root)
    assert cards(bot, CUSTOMER) == []
    assert len(cards(bot, ANN)) == len(cards(bot, BOB)) == 2  # nobody (of ours) engaged: every agent


@pytest.fixture
def old_mode(settings):
    return settings.model_copy(update={"coach_card_mode": "every_message"})


def test_every_message_mode_restores_a_full_card_per_message_to_every_agent(make_bot, old_mode):
    bot = make_bot(settings_=old_mode)
    root = say(bot, CUSTOMER, "The kettle arrived broken")
    say(bot, ANN, "So sorry! I'm on it.", root)
    say(bot, CUSTOMER, "And I was charged twice for it!", root)
    say(bot, CUSTOMER, "thanks!", root)
    for agent in AGENTS:
        sent = cards(bot, agent)
        assert len(sent) == 3 and not any("Updated plan" in c.blocks_text() for c in sent)
        assert all("lifetime revenue" in c.blocks_text() for c in sent[:2])


def test_an_edit_after_a_click_replaces_the_card_once_with_the_edit_note(bot):
    from tests.slack.test_message_shapes import _edit

    root = say(bot, CUSTOMER, "The kettle arrived broken")
    bot.driver.click(ANN, buttons(cards(bot, ANN)[0].args)["coach_resolved"], CHANNEL, message_ts="1.1")
    bot.fake.wait_for("response_url")
    _edit(bot, root, "Actually I was charged twice for the kettle", "EvEditAfterClick")
    replaced = bot.fake.wait_for("response_url", where=lambda c: c.args.get("replace_original") is True)[0]
    assert replaced.blocks_text().count("edited this message") == 1 and "billing" in replaced.blocks_text()
    assert len(cards(bot, ANN)) == 1 and len(cards(bot, BOB)) == 1  # Ann resolved from the card: engaged
