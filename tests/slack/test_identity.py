"""Fail closed on identity: when a side cannot be established, nobody gets coaching, nudges, DMs or App Home data.

Every Slack lookup the decision depends on (auth.test, users.info of the sender, users.info of a member,
conversations.members) is failed in turn; the customer must never receive anything private.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, card_for

ENVELOPES = json.loads((Path(__file__).parent / "fixtures" / "slack_connect_envelopes.json").read_text())
PRIVATE = ("chat.postEphemeral", "chat.postMessage", "conversations.open", "views.publish")


def sent_to_customer(fake) -> list:
    """Every private call that names the customer (a card, a nudge, a DM, an App Home view)."""
    return [c for method in PRIVATE for c in fake.calls_of(method, ok_only=False)
            if CUSTOMER in (c.args.get("user"), c.args.get("user_id"), c.args.get("users"), c.args.get("channel"))]


def warm_bolt(bot) -> None:
    """Bolt authorises (auth.test) on the first request and caches it; fail the bot's own lookups after that."""
    assert bot.driver.event({"type": "reaction_added", "user": AGENTS[0], "reaction": "eyes",
                             "item": {"type": "message", "channel": CHANNEL, "ts": "1.0"}}).status == 200
    time.sleep(0.2)


def test_auth_test_failing_after_start_up_coaches_nobody_and_never_the_customer(bot):
    bot.fake.add_user("UGUEST", is_restricted=True)  # a guest is a customer whatever auth.test says
    bot.fake.members[CHANNEL].append("UGUEST")
    warm_bolt(bot)
    bot.fake.fail_next("auth.test", status=503, times=50)
    root, _ = bot.driver.message("UGUEST", "I was charged twice for order 12345!", CHANNEL)
    bot.driver.message(CUSTOMER, "Sorry, but that is not my fault", CHANNEL, thread_ts=root["ts"])  # would be 'nudged'
    time.sleep(4)  # failed lookups back off and retry
    assert sent_to_customer(bot.fake) == []
    assert bot.fake.calls_of("chat.postEphemeral") == []  # not even agents: we could not tell who is who
    bot.fake.clear_failures()
    bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    time.sleep(0.3)
    assert sent_to_customer(bot.fake) == []


def test_sender_lookup_failing_gives_no_card(bot):
    warm_bolt(bot)
    bot.fake.fail_next("users.info", status=503, times=50)
    bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)
    time.sleep(1.5)
    assert bot.fake.calls_of("chat.postEphemeral") == []
    assert sent_to_customer(bot.fake) == []


def test_a_member_whose_lookup_fails_is_not_treated_as_an_agent(bot):
    bot.fake.add_user("UMYSTERY", team_id="TCUSTOMER")
    bot.fake.members[CHANNEL].append("UMYSTERY")
    bot.services.roles.user(CUSTOMER)  # the sender is known (cached) ...
    for agent in AGENTS:
        bot.services.roles.user(agent)
    bot.services.roles.identity()
    bot.fake.fail_next("users.info", status=503, times=50)  # ... the extra member's lookup fails
    bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    card_for(bot.fake, AGENTS[1])
    time.sleep(0.3)
    recipients = {c.args["user"] for c in bot.fake.calls_of("chat.postEphemeral")}
    assert recipients == set(AGENTS)


def test_members_lookup_failing_sends_no_card_to_anyone(bot):
    warm_bolt(bot)
    bot.fake.fail_next("conversations.members", status=503, times=50)
    bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)
    time.sleep(1.5)
    assert bot.fake.calls_of("chat.postEphemeral") == []
    assert sent_to_customer(bot.fake) == []


def test_agent_reply_gets_no_nudge_when_identity_is_unknown(bot):
    root, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345!", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    bot.services.roles._identity = None  # noqa: SLF001 (a restart, say)
    bot.services.roles._users.clear()  # noqa: SLF001
    bot.fake.fail_next("auth.test", status=503, times=50)
    bot.driver.message(AGENTS[0], "Sorry, but that is our policy", CHANNEL, thread_ts=root["ts"])
    time.sleep(1.5)
    nudges = [c for c in bot.fake.calls_of("chat.postEphemeral") if "Coach:" in (c.args.get("text") or "")]
    assert nudges == []
    assert sent_to_customer(bot.fake) == []


@pytest.mark.parametrize("who", ["customer", "guest", "unknown"])
def test_app_home_shows_no_internal_data_to_outsiders(bot, who):
    user = {"customer": CUSTOMER, "guest": "UGUEST", "unknown": "UAGENT1"}[who]
    bot.fake.add_user("UGUEST", is_restricted=True)
    bot.driver.message(CUSTOMER, "I was charged twice for order 12345!", CHANNEL)  # an incident exists today
    card_for(bot.fake, AGENTS[0])
    if who == "unknown":
        bot.services.roles._users.clear()  # noqa: SLF001
        bot.fake.fail_next("users.info", status=503, times=50)
    bot.driver.open_home(user)
    view = bot.fake.wait_for("views.publish", user_id=user)[0].args["view"]
    text = json.dumps(view)
    assert "billing" not in text and "nothing here for you" in text


def test_app_home_for_an_agent_still_lists_incidents(bot):
    bot.driver.message(CUSTOMER, "I was charged twice for order 12345!", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    bot.driver.open_home(AGENTS[0])
    view = bot.fake.wait_for("views.publish", user_id=AGENTS[0])[0].args["view"]
    assert "billing" in json.dumps(view)


@pytest.mark.parametrize("shape", ["slack_connect", "enterprise_grid"])
def test_incident_is_filed_under_the_installing_team_not_the_outer_team_id(bot, shape):
    """Real envelope shapes (bolt-python's own fixtures): the outer team_id is the other organisation's."""
    message = bot.fake.add_message(CHANNEL, CUSTOMER, "I was charged twice for order 12345!")
    event = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "team": "TCUSTOMER",
             "event_ts": message["ts"], **message}
    envelope = {k: v for k, v in ENVELOPES[shape].items()} | {"event": event, "event_id": f"Ev{shape}"}
    assert bot.driver.post_json(envelope).status == 200
    card_for(bot.fake, AGENTS[0])
    assert bot.services.store.incident_for_thread("TOURS", CHANNEL, message["ts"]) is not None
    assert bot.services.store.incident_for_thread(envelope["team_id"], CHANNEL, message["ts"]) is None
    # the agent's reply (delivered with our own team id) finds the same incident and is nudged
    bot.driver.message(AGENTS[0], "Sorry, but that is our policy", CHANNEL, thread_ts=message["ts"])
    bot.fake.wait_for("chat.postEphemeral", user=AGENTS[0], where=lambda c: "Coach:" in (c.args.get("text") or ""))
    assert sent_to_customer(bot.fake) == []
