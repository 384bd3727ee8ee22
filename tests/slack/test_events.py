"""Customer messages -> private cards; dedup; signatures; ignored events; nudges; alerts; resilience."""
from __future__ import annotations

import json
import time

from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for


def test_customer_message_gives_each_agent_a_private_card_and_posts_nothing_visible(bot):
    message, reply = bot.driver.message(CUSTOMER, "I was charged twice for order 12345!", CHANNEL)
    assert reply.status == 200
    for agent in AGENTS:
        card = card_for(bot.fake, agent)
        assert card.args["channel"] == CHANNEL
        assert card.args["thread_ts"] == message["ts"]
        text = card.blocks_text()
        assert "angry 90%" in text and "billing 90%" in text
        assert "Send apology" in text and "Offer compensation" in text and "Resolved" in text
        assert "lifetime revenue" in text
    time.sleep(0.3)
    recipients = {c.args["user"] for c in bot.fake.calls_of("chat.postEphemeral")}
    assert recipients == set(AGENTS)  # never the customer, never the bot
    assert bot.fake.visible_posts(CHANNEL) == []
    incident = bot.services.store.incident_for_thread("TOURS", CHANNEL, message["ts"])
    assert incident is not None and incident.complaint == "billing"


def test_reply_in_a_thread_is_coached_in_that_thread(bot):
    root, _ = bot.driver.message(CUSTOMER, "Hello there", CHANNEL)  # nothing to fix: no card (issue 12 item 5)
    _stored_incident(bot, root["ts"])
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL, thread_ts=root["ts"])
    card = card_for(bot.fake, AGENTS[0])
    assert card.args["thread_ts"] == root["ts"]
    assert "delivery" in card.blocks_text()


def test_slack_retry_with_same_event_id_gives_no_second_card(bot):
    message, first = bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL, event_id="EvSAME")
    card_for(bot.fake, AGENTS[0])
    event = {"type": "message", "channel": CHANNEL, "team": "TOURS", **message}
    retry = bot.driver.event(event, event_id="EvSAME", retry_num=1)
    assert first.status == retry.status == 200
    time.sleep(0.5)
    assert len(bot.fake.calls_of("chat.postEphemeral", user=AGENTS[0])) == 1


def test_forged_and_stale_signatures_are_rejected(bot):
    event = {"type": "message", "channel": CHANNEL, "user": CUSTOMER, "text": "Item arrived broken", "ts": "1.000001"}
    forged = bot.driver.event(event, signature="v0=" + "0" * 64)
    stale = bot.driver.event(event, timestamp=int(time.time()) - 60 * 10)
    assert forged.status == 401 and stale.status == 401
    time.sleep(0.3)
    assert bot.fake.calls_of("chat.postEphemeral") == []


def test_events_not_acted_on_are_acked_with_200(bot):
    base = {"channel": CHANNEL, "ts": "1700000001.000100"}
    events = [
        {"type": "message", "subtype": "message_changed", "message": {"user": CUSTOMER, "text": "x broken"}, **base},
        {"type": "message", "subtype": "message_deleted", "previous_message": {"user": CUSTOMER}, **base},
        {"type": "message", "subtype": "channel_join", "user": CUSTOMER, "text": "joined", **base},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": "broken", **base},
        {"type": "message", "user": "UBOT", "bot_id": "BCOACH", "text": "broken", **base},
        {"type": "reaction_added", "user": CUSTOMER, "reaction": "+1", "item": {}},
        {"type": "member_joined_channel", "user": CUSTOMER, "channel": CHANNEL},
    ]
    for event in events:
        assert bot.driver.event(event).status == 200, event
    url_check = bot.driver.post_json({"type": "url_verification", "challenge": "abc", "token": "legacy"})
    assert url_check.status == 200 and "abc" in url_check.body
    time.sleep(0.3)
    assert bot.fake.calls_of("chat.postEphemeral") == []


def test_agent_qualified_apology_gets_a_private_nudge(bot):
    root, _ = bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    bot.driver.message(AGENTS[0], "Sorry, but our policy says refunds take 10 days.", CHANNEL, thread_ts=root["ts"])
    nudge = bot.fake.wait_for("chat.postEphemeral", user=AGENTS[0], where=lambda c: "Coach:" in (c.args.get("text") or ""))[0]
    assert nudge.args["thread_ts"] == root["ts"]
    assert "qualifies the apology" in nudge.args["text"] and "policy" in nudge.args["text"]
    bot.driver.message(AGENTS[1], "I'm so sorry, I'll fix this for you right now.", CHANNEL, thread_ts=root["ts"])
    time.sleep(0.5)
    assert not [c for c in bot.fake.calls_of("chat.postEphemeral", user=AGENTS[1]) if "Coach" in (c.args.get("text") or "")]
    assert bot.fake.visible_posts(CHANNEL) == []


def test_nudge_comes_in_the_agents_language(bot):
    root, _ = bot.driver.message(CUSTOMER, "где мой заказ???", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    bot.driver.message(AGENTS[0], "Извините, но это вина другого отдела.", CHANNEL, thread_ts=root["ts"])
    nudge = bot.fake.wait_for("chat.postEphemeral", user=AGENTS[0], where=lambda c: "Коуч" in (c.args.get("text") or ""))[0]
    assert "извинение" in nudge.args["text"]


def test_abusive_customer_alerts_the_supervisor_by_dm(bot):
    bot.driver.message(CUSTOMER, "You idiot, fix it", CHANNEL)
    card = card_for(bot.fake, AGENTS[0])
    assert "Boundary" in card.blocks_text() and "Offer compensation" not in card.blocks_text()
    alert = bot.fake.wait_for("chat.postMessage", channel=f"D{SUPERVISOR}")[0]
    assert "Abusive customer" in alert.args["text"] and "idiot" not in alert.args["text"]


def _stored_incident(bot, thread_ts: str, timeout: float = 10.0):
    """The thread's incident once the worker has stored its first message (a message with nothing to fix
    sends no card, so there is no card to wait for)."""
    deadline = time.monotonic() + timeout
    while (incident := bot.services.store.incident_for_thread("TOURS", CHANNEL, thread_ts)) is None:
        assert time.monotonic() < deadline, "the message was never stored"
        time.sleep(0.05)
    return incident


def test_tone_worsening_over_the_thread_alerts_once(bot):
    root, _ = bot.driver.message(CUSTOMER, "Hi, a question about my order", CHANNEL)
    _stored_incident(bot, root["ts"])
    bot.driver.message(CUSTOMER, "It arrived broken!!", CHANNEL, thread_ts=root["ts"])
    alert = bot.fake.wait_for("chat.postMessage", channel=f"D{SUPERVISOR}")[0]
    assert "Tone worsening: neutral → angry" in alert.args["text"]


def test_rate_limited_call_is_retried_after_retry_after(bot):
    bot.fake.fail_next("chat.postEphemeral", status=429, times=1, retry_after=1)
    started = time.monotonic()
    bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)
    for agent in AGENTS:
        card_for(bot.fake, agent)
    assert time.monotonic() - started >= 1.0
    limited = [c for c in bot.fake.calls_of("chat.postEphemeral", ok_only=False) if c.status == 429]
    assert len(limited) == 1


def test_server_errors_are_retried_and_a_failing_call_does_not_kill_the_app(bot):
    bot.fake.fail_next("conversations.members", status=503, times=1)
    bot.driver.message(CUSTOMER, "Item arrived broken", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    attempts = 3  # one call and its 2 retries
    bot.fake.fail_next("chat.postEphemeral", status=500, times=attempts * len(AGENTS))  # every card of this message
    bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)

    def failed() -> int:
        return sum(1 for c in bot.fake.calls_of("chat.postEphemeral", ok_only=False) if c.status == 500)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and failed() < attempts * len(AGENTS):
        time.sleep(0.05)  # both cards of this message have used up their retries: logged and skipped
    assert failed() == attempts * len(AGENTS)
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    # the app still coaches; the queued billing cards may be re-delivered before or after this one
    bot.fake.wait_for("chat.postEphemeral", count=1, timeout=10, user=AGENTS[0],
                      where=lambda c: bool(c.args.get("blocks")) and "delivery" in c.blocks_text())


def test_customer_text_never_reaches_the_logs(bot, caplog):
    secret_words = "my card 4111 1111 1111 1111 was charged twice zebra-unicorn"
    with caplog.at_level("DEBUG"):
        bot.driver.message(CUSTOMER, secret_words, CHANNEL)
        card_for(bot.fake, AGENTS[0])
        time.sleep(0.3)
    from bot.slack.logging import JsonFormatter

    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert any("customer message coached" in line for line in lines)
    assert not any("zebra-unicorn" in line or "xoxb-test-token" in line for line in lines)


def test_healthz(bot):
    import urllib.request

    with urllib.request.urlopen(bot.server.url + "/healthz") as response:
        assert response.status == 200 and json.loads(response.read())["ok"] is True


def test_ack_comes_first_while_inference_is_slow(make_bot, playbook, settings):
    from bot.engine import RecoveryEngine
    from tests.slack.conftest import FakeClassifier

    class SlowClassifier(FakeClassifier):
        def classify(self, text):
            time.sleep(1.0)
            return super().classify(text)

    bot = make_bot(engine=RecoveryEngine(settings, classifier=SlowClassifier(), playbook=playbook))
    latencies = []
    for n in range(4):
        started = time.monotonic()
        _, reply = bot.driver.message(CUSTOMER, f"Item {n} arrived broken", CHANNEL)
        latencies.append(time.monotonic() - started)
        assert reply.status == 200
    assert max(latencies) < 0.5, latencies
    card_for(bot.fake, AGENTS[0], count=4, timeout=15)
