"""Button clicks on the card, the supervisor's approval flow, corrections and resolving."""
from __future__ import annotations

import json
import time

from sqlalchemy import select

from bot.slack.driver import buttons
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for

AGENT = AGENTS[0]


def _card(bot, text: str = "I was charged twice for order 12345"):
    message, _ = bot.driver.message(CUSTOMER, text, CHANNEL)
    return message, card_for(bot.fake, AGENT)


def test_send_apology_posts_in_the_thread_only_on_click(bot):
    message, card = _card(bot)
    assert bot.fake.visible_posts(CHANNEL) == []
    button = buttons(card.args)["coach_send_apology"]
    assert bot.driver.click(AGENT, button, CHANNEL).status == 200
    posted = bot.fake.wait_for("chat.postMessage", channel=CHANNEL)[0]
    assert posted.args["thread_ts"] == message["ts"]
    assert posted.args["text"] == json.loads(button["value"])["text"]
    assert "sorry" in posted.args["text"].lower()
    feedback = bot.fake.wait_for("response_url")[0]
    assert feedback.args["response_type"] == "ephemeral" and "Sent" in feedback.args["text"]


def _compensation_states(store) -> list[tuple[str, str]]:
    from bot.storage.tables import Compensation

    with store.read_session() as s:
        return [(c.option_id, c.state) for c in s.scalars(select(Compensation)).all()]


def test_offer_within_authority_is_recorded(bot):
    _, card = _card(bot)
    bot.driver.click(AGENT, buttons(card.args)["coach_offer"], CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "Offer recorded" in c.args.get("text", ""))
    # given, not merely 'offered': it is the agent's to give, and it counts in the stats' compensation cost
    assert _compensation_states(bot.services.store) == [(json.loads(buttons(card.args)["coach_offer"]["value"])["o"]["id"], "given")]


def test_offer_above_authority_asks_a_supervisor_who_approves(bot):
    # a supervisor-level option, forced onto the card: the agent may not give it
    from bot.coach.models import CompensationSuggestion
    from bot.render.blocks import CardContext

    _, card = _card(bot)
    ctx = json.loads(buttons(card.args)["coach_offer"]["value"])
    option = CompensationSuggestion(id="billing_month_free", offer="One month free", value=50, currency="USD",
                                    authority="supervisor", needs_approval=True)
    value = CardContext(ctx["i"], ctx["c"], ctx["t"], ctx["m"]).value(o=option.model_dump())
    bot.driver.click(AGENT, {"action_id": "coach_offer_above", "value": value}, CHANNEL)

    request = bot.fake.wait_for("chat.postMessage", channel=f"D{SUPERVISOR}")[0]
    assert "One month free" in request.blocks_text()
    assert _compensation_states(bot.services.store) == [("billing_month_free", "pending_approval")]
    bot.fake.wait_for("response_url", where=lambda c: "Asked" in c.args.get("text", ""))

    # the agent cannot approve their own request
    approve = buttons(request.args)["coach_approve"]
    bot.driver.click(AGENT, approve, f"D{SUPERVISOR}", message_ts="1700.000001", ephemeral=False)
    bot.fake.wait_for("response_url", where=lambda c: "Only a supervisor" in c.args.get("text", ""))
    assert _compensation_states(bot.services.store) == [("billing_month_free", "pending_approval")]

    bot.driver.click(SUPERVISOR, approve, f"D{SUPERVISOR}", message_ts="1700.000001", ephemeral=False)
    updated = bot.fake.wait_for("chat.update")[0]
    assert "Approved" in updated.blocks_text()
    told = bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "approved" in (c.args.get("text") or ""))[0]
    assert told.args["thread_ts"] == ctx["t"]
    assert _compensation_states(bot.services.store) == [("billing_month_free", "approved")]
    assert bot.fake.visible_posts(CHANNEL) == []


def test_wrong_tone_opens_a_modal_and_stores_the_correction(bot):
    message, card = _card(bot)
    bot.driver.click(AGENT, buttons(card.args)["coach_wrong_label"], CHANNEL)
    view = bot.fake.wait_for("views.open")[0].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "coach_correction"
    values = {"tone": {"value": {"type": "static_select", "selected_option": {"value": "frustrated"}}},
              "complaint": {"value": {"type": "static_select", "selected_option": {"value": "refund"}}}}
    reply = bot.driver.submit_view(AGENT, view, values)
    assert reply.status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not bot.services.store.corrections_for_training():
        time.sleep(0.05)
    [correction] = bot.services.store.corrections_for_training()
    assert correction["tone"] == "frustrated" and correction["complaint"] == "refund"


def test_resolved_schedules_the_follow_ups(bot):
    message, card = _card(bot, "My parcel is still not here")
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "resolved" in c.args.get("text", ""))
    incident = bot.services.store.incident_for_thread("TOURS", CHANNEL, message["ts"])
    assert incident.status == "resolved"
    due_now = bot.services.store.due_follow_ups(bot.services.now(), owner=AGENT)
    assert {f.when for f in due_now} >= {"now", "internal"}
    from datetime import timedelta

    later = bot.services.store.due_follow_ups(bot.services.now() + timedelta(days=4), owner=AGENT)
    assert {"+1d", "+3d"} <= {f.when for f in later}
