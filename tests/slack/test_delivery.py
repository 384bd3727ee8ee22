"""Follow-ups reach the agent by DM; the coach channel keeps a copy; alerts can be ephemeral."""
from __future__ import annotations

from datetime import timedelta

from bot.slack.driver import buttons
from bot.slack.followups import make_deliverer
from bot.storage.scheduler import FollowUpScheduler
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for

AGENT = AGENTS[0]


def test_due_follow_ups_are_delivered_once_by_dm(bot):
    _, card = bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)[0], card_for(bot.fake, AGENT)
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)
    bot.fake.wait_for("response_url")
    scheduler = FollowUpScheduler(bot.services.store, make_deliverer(bot.services), worker="w1")
    other = FollowUpScheduler(bot.services.store, make_deliverer(bot.services), worker="w2")
    now = bot.services.now()
    assert scheduler.run_once(now) == 2 and other.run_once(now) == 0        # 'now' and 'internal'
    dms = bot.fake.calls_of("chat.postMessage", channel=f"D{AGENT}")
    assert len(dms) == 2 and "Follow-up due" in dms[0].args["text"]
    assert scheduler.run_once(now + timedelta(days=3, minutes=1)) == 2       # '+1d' and '+3d'
    assert bot.fake.visible_posts(CHANNEL) == []


def test_failed_delivery_is_retried_later(bot):
    _, card = bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)[0], card_for(bot.fake, AGENT)
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)
    bot.fake.wait_for("response_url")
    bot.fake.fail_next("conversations.open", status=500, times=10)
    scheduler = FollowUpScheduler(bot.services.store, make_deliverer(bot.services), worker="w1")
    assert scheduler.run_once(bot.services.now()) == 0
    bot.fake.clear_failures()
    assert scheduler.run_once(bot.services.now()) == 2


def test_coach_channel_keeps_a_threaded_copy_without_buttons(make_bot, settings, fake):
    bot = make_bot(settings_=settings.model_copy(update={"coach_coach_channel": "CCOACH"}))
    root, _ = bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)
    card_for(fake, AGENT)
    bot.driver.message(CUSTOMER, "Still charged twice!!", CHANNEL, thread_ts=root["ts"])
    copies = fake.wait_for("chat.postMessage", count=2, channel="CCOACH")
    assert "thread_ts" not in copies[0].args or copies[0].args["thread_ts"] is None
    assert copies[1].args["thread_ts"]  # threaded under the first copy
    assert not buttons(copies[0].args)
    assert fake.visible_posts(CHANNEL) == []


def test_alerts_can_be_ephemeral_to_a_supervisor_in_the_channel(make_bot, settings, fake):
    fake.members[CHANNEL].append(SUPERVISOR)
    bot = make_bot(settings_=settings.model_copy(update={"coach_alert_mode": "ephemeral"}))
    root, _ = bot.driver.message(CUSTOMER, "You idiot", CHANNEL)
    alert = fake.wait_for("chat.postEphemeral", user=SUPERVISOR, where=lambda c: "Abusive" in (c.args.get("text") or ""))[0]
    assert alert.args["thread_ts"] == root["ts"]
    assert not fake.calls_of("chat.postMessage", channel=f"D{SUPERVISOR}")
