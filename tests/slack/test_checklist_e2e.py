"""Issue 12 item 7 end to end through the real Bolt app (signed HTTP, recording fake Slack): the card's checklist
of "a complaint is a gift" follows what the agent wrote and clicked in the thread, and survives a restart."""
from __future__ import annotations

import json

from bot.slack.driver import buttons
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for, wait_for_value

AGENT = AGENTS[0]


def _cards(fake, agent: str = AGENT) -> list:
    """Every card `agent` holds, oldest first: ephemerals with blocks, and cards replaced through a click's
    response_url (one card per thread, issue 12 item 5)."""
    return [c for c in list(fake.calls) if c.status == 200 and c.args.get("blocks")
            and ((c.method == "chat.postEphemeral" and c.args.get("user") == agent) or c.method == "response_url")]


def _next_card(fake, before: int, timeout: float = 10.0):
    assert wait_for_value(lambda: len(_cards(fake)) > before, timeout), f"no card after the {before} already seen"
    return _cards(fake)[-1]


def _checklist_line(call) -> str:
    blocks = call.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    lines = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"] if "gift steps" in e["text"]]
    assert len(lines) == 1, lines
    return lines[0]


def _sources(store, incident_id: int) -> dict[str, str]:
    from sqlalchemy import select

    from bot.storage.tables import ChecklistStep

    with store.read_session() as s:
        return {r.step: r.source for r in s.scalars(select(ChecklistStep).where(ChecklistStep.incident_id == incident_id))}


def test_the_next_card_shows_the_steps_the_agent_did_in_the_thread(make_bot):
    bot = make_bot()
    first, _ = bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    card = card_for(bot.fake, AGENT)
    assert "steps 0/8" in _checklist_line(card)
    incident = wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, first["ts"]))

    # the agent thanks and apologises in the thread, in their own words (a qualified apology would not count)
    bot.driver.message(AGENT, "Thank you for letting us know, and I'm so sorry about the delay.", CHANNEL,
                       thread_ts=first["ts"])
    assert wait_for_value(lambda: {"thank", "explain", "apologise"} <= bot.services.store.checklist(incident.id))
    offer = buttons(card.args)["coach_offer"]
    assert json.loads(offer["value"])["o"]["authority"] == "agent"
    bot.driver.click(AGENT, offer, CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "Offer recorded" in (c.args.get("text") or ""))
    assert wait_for_value(lambda: "fix" in bot.services.store.checklist(incident.id))

    # a restart: a fresh worker on the same database coaches the customer's next message
    bot.server.stop()
    again = make_bot()
    seen = len(_cards(again.fake))
    again.driver.message(CUSTOMER, "It is still not here and I am losing patience", CHANNEL, thread_ts=first["ts"],
                         event_id="EvAfterRestart")  # the new driver's ids start again at 1
    line = _checklist_line(_next_card(again.fake, seen))
    assert "steps 4/8" in line
    for done in ("thank", "explain", "apologise", "fix"):
        assert f"✓ *{done}*" in line
    for todo in ("promise", "ask", "check satisfaction", "prevent"):
        assert f"✓ *{todo}*" not in line and todo in line

    # the full plan for the thread (/recover <link>, and the shortcut) shows the same steps
    link = f"<https://ours.slack.com/archives/{CHANNEL}/p{first['ts'].replace('.', '')}>"
    again.driver.command(SUPERVISOR, link, CHANNEL)
    plan = again.fake.wait_for("response_url", where=lambda c: "Recovery coach" in (c.args.get("text") or ""))[-1]
    assert "steps 4/8" in _checklist_line(plan)


def test_a_qualified_apology_and_the_cards_apology_button(bot):
    first, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)
    card = card_for(bot.fake, AGENT)
    incident = wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, first["ts"]))
    bot.driver.message(AGENT, "Thanks for your patience. Sorry, but that was the bank's fault.", CHANNEL,
                       thread_ts=first["ts"])
    bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "Coach:" in (c.args.get("text") or ""))
    assert wait_for_value(lambda: "thank" in bot.services.store.checklist(incident.id))  # the reply's steps are stored
    assert bot.services.store.checklist(incident.id) == {"thank"}  # nudged, and the apology not counted

    bot.driver.click(AGENT, buttons(card.args)["coach_send_apology"], CHANNEL)
    bot.fake.wait_for("chat.postMessage", where=lambda c: c.args.get("thread_ts") == first["ts"])
    steps = wait_for_value(lambda: bot.services.store.checklist(incident.id) >= {"thank", "apologise", "promise"} and
                  bot.services.store.checklist(incident.id))
    assert {"thank", "apologise", "promise"} <= steps  # the card's angry apology: thanks, sorry, "I'm taking care"
    assert _sources(bot.services.store, incident.id) == {"thank": "reply", "apologise": "card", "explain": "card",
                                                         "promise": "card"}


def test_resolved_with_follow_ups_checks_satisfaction_and_prevents_recurrence(bot):
    first, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)
    card = card_for(bot.fake, AGENT)
    incident = wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, first["ts"]))
    follow_ups = json.loads(buttons(card.args)["coach_resolved"]["value"])["f"]
    assert any(when == "internal" for when, _ in follow_ups) and any(when != "internal" for when, _ in follow_ups)
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)
    assert wait_for_value(lambda: {"check", "prevent"} <= bot.services.store.checklist(incident.id))


def test_recover_stats_shows_offers_given_and_the_steps_by_outcome(bot):
    first, _ = bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    card = card_for(bot.fake, AGENT)
    incident = wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, first["ts"]))
    bot.driver.message(AGENT, "I'm so sorry about this.", CHANNEL, thread_ts=first["ts"])
    bot.driver.click(AGENT, buttons(card.args)["coach_offer"], CHANNEL)
    assert wait_for_value(lambda: {"apologise", "fix"} <= bot.services.store.checklist(incident.id))
    bot.driver.command(SUPERVISOR, "stats 7d", CHANNEL)
    text = bot.fake.wait_for("response_url", where=lambda c: "7 days" in (c.args.get("text") or ""))[-1].args["text"]
    assert "*Offers given:* 1 (given 1)" in text
    assert "*Complaint-is-a-gift steps, recovered (0) vs not (1):*" in text  # still frustrated: not recovered
    assert "apologise 0%/100%" in text and "fix 0%/100%" in text and "thank 0%/0%" in text


# ---------------------------------------------------------------------------- App Home: customer memory per thread
def test_app_home_shows_the_customer_memory_of_the_agents_open_threads_to_staff_only(bot):
    earlier, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)
    card = card_for(bot.fake, AGENT)
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)  # with the internal flag
    assert wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, earlier["ts"]).status == "resolved")
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)  # a new thread, open
    card_for(bot.fake, AGENT, count=2)

    bot.driver.open_home(AGENT)
    home = bot.fake.wait_for("views.publish", user_id=AGENT)[-1].blocks_text()
    threads = home.split("Your open threads", 1)[1]
    assert "delivery" in threads and "billing" not in threads.split("Customer memory")[0]  # only the open one
    assert "*Customer memory:* 1 earlier incident (last" in threads and "billing" in threads
    assert ":triangular_flag_on_post: flagged:" in threads and "open follow-up" in threads

    bot.driver.open_home(SUPERVISOR)  # staff, but no card of this thread was theirs
    assert "no open threads" in bot.fake.wait_for("views.publish", user_id=SUPERVISOR)[-1].blocks_text()
    bot.driver.open_home(CUSTOMER)  # fail closed: the customer sees nothing internal
    shown = bot.fake.wait_for("views.publish", user_id=CUSTOMER)[-1].blocks_text()
    assert "Customer memory" not in shown and "flagged" not in shown and "nothing here for you" in shown
