"""A follow-up that complains only through the thread (issue 14), end to end through the real Bolt app in thread mode:
"hello?? any news" after "I was charged twice" gets the agent an updated billing card; thanks gets nothing."""
from __future__ import annotations

from bot.slack.driver import buttons
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER
from tests.slack.test_less_noise import cards, say

ANN, BOB = AGENTS
CARRIED = "Whole thread: the billing complaint comes from an earlier message; angry tone, the strongest in the thread."


def _opened(bot) -> dict:
    root = say(bot, CUSTOMER, "I was charged twice for order 1234")
    assert len(cards(bot, ANN)) == 1 and "billing" in cards(bot, ANN)[0].blocks_text()
    say(bot, ANN, "Thank you for telling us, I'm so sorry. Let me check the payment now.", root)
    return root


def test_a_chasing_follow_up_gets_the_engaged_agent_an_updated_billing_card(bot):
    root = _opened(bot)
    chase = say(bot, CUSTOMER, "hello?? any news", root)
    assert len(cards(bot, ANN)) == 2 and len(cards(bot, BOB)) == 1  # only the agent working the thread
    update = cards(bot, ANN)[-1]
    text = update.blocks_text()
    assert "Updated plan" in text and "*Complaint:* billing" in text and "*Tone:* angry" in text
    assert CARRIED in text  # the one line saying why
    assert set(buttons(update.args)) >= {"coach_send_apology", "coach_resolved"}
    stored = bot.services.store.customer_message("TOURS", CHANNEL, chase["ts"])
    assert stored is not None and (stored.model_tone, stored.model_complaint) == ("neutral", "none")  # its own labels
    assert bot.services.engine.classifier.calls == 2  # the earlier message was read from the store, not classified


def test_thanks_after_the_complaint_sends_no_card(bot):
    root = _opened(bot)
    before = len(bot.fake.calls_of("chat.postEphemeral"))
    say(bot, CUSTOMER, "thank you, all sorted!", root)
    assert len(bot.fake.calls_of("chat.postEphemeral")) == before


def _shown(bot) -> int:
    """Cards Ann saw: ephemerals, and replacements of a clicked card through its response_url."""
    replaced = [c for c in bot.fake.calls_of("response_url") if c.args.get("replace_original") and c.args.get("blocks")]
    return len(cards(bot, ANN)) + len(replaced)


def test_a_follow_up_after_the_agent_resolved_the_incident_does_not_reopen_coaching(bot):
    root = _opened(bot)
    bot.driver.click(ANN, buttons(cards(bot, ANN)[0].args)["coach_resolved"], CHANNEL, message_ts=root["ts"])
    bot.fake.wait_for("response_url")
    incident = bot.services.store.incident_for_thread("TOURS", CHANNEL, root["ts"])
    assert incident is not None and incident.status == "resolved"
    shown = _shown(bot)
    say(bot, CUSTOMER, "any news?", root)
    assert _shown(bot) == shown
    say(bot, CUSTOMER, "I was charged twice AGAIN", root)  # a complaint of its own still gets a card
    assert _shown(bot) == shown + 1
