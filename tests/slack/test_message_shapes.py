"""Read what Slack sends (issue 13, 1b): text in blocks and attachments, edits and deletions.

Shapes come from tests/slack/fixtures/message_shapes.json (bolt-python's own message_changed and
message_deleted payloads, rich text and attachments as Slack documents them).
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.slack.messages import message_text
from bot.storage.api import DELETED_TEXT
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, card_for

SHAPES = json.loads((Path(__file__).parent / "fixtures" / "message_shapes.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("shape", ["rich_text_only", "ordered_list", "forwarded_attachment", "workflow_fields",
                                   "fallback_only"])
def test_message_text_reads_blocks_and_attachments_as_shown(shape):
    assert message_text(SHAPES[shape]) == SHAPES[f"{shape}_expected"]


def test_text_wins_when_slack_sends_it():
    message = copy.deepcopy(SHAPES["rich_text_only"]) | {"text": "the text field"}
    assert message_text(message) == "the text field"


def _send(bot, shape: str, ts: str | None = None) -> dict:
    """A message of this shape from the customer, stored in the fake (for conversations.replies) and sent."""
    event = copy.deepcopy(SHAPES[shape]) | {"ts": ts or bot.fake.next_ts(), "user": CUSTOMER, "channel": CHANNEL}
    with bot.fake._cond:  # noqa: SLF001 (what Slack stores before it sends the event)
        bot.fake.messages[CHANNEL].append({k: v for k, v in event.items() if k != "channel"})
    assert bot.driver.event(event).status == 200
    return event


def _wait_stored(bot, ts: str, timeout: float = 10.0):
    """The stored customer message once a worker has handled it (nothing to fix: no card to wait for)."""
    deadline = time.monotonic() + timeout
    while (stored := _stored(bot.services.store, ts)) is None:
        assert time.monotonic() < deadline, "the message was never stored"
        time.sleep(0.05)
    return stored


def _stored(store, ts: str):
    from bot.storage.tables import IncidentMessage

    with store.read_session() as s:
        return s.scalars(select(IncidentMessage).where(IncidentMessage.message_ts == ts)).one_or_none()


def test_a_complaint_written_only_in_rich_text_is_coached_as_such(bot):
    event = _send(bot, "rich_text_only")
    text = card_for(bot.fake, AGENTS[0]).blocks_text()
    assert "angry 90%" in text and "billing 90%" in text  # was neutral / none: the text field is empty
    assert bot.services.store.incident_for_thread("TOURS", CHANNEL, event["ts"]).complaint == "billing"


def test_a_forwarded_message_is_read_from_its_attachment(bot):
    _send(bot, "forwarded_attachment")
    assert "product quality 90%" in card_for(bot.fake, AGENTS[0]).blocks_text()


def _edit(bot, original: dict, new_text: str, event_id: str) -> None:
    envelope = copy.deepcopy(SHAPES["message_changed"])
    event = envelope["event"]
    event["message"].update(text=new_text, user=CUSTOMER, ts=original["ts"], blocks=[])
    event["previous_message"].update(text=original["text"], user=CUSTOMER, ts=original["ts"], blocks=[])
    event["ts"] = event["event_ts"] = bot.fake.next_ts()
    envelope["event_id"] = event_id
    assert bot.driver.post_json(envelope).status == 200


def test_an_edit_that_changes_the_complaint_updates_the_incident_and_re_coaches(bot):
    original, _ = bot.driver.message(CUSTOMER, "Hello, a question about my order", CHANNEL)
    _wait_stored(bot, original["ts"])  # nothing to fix: stored, no card (issue 12 item 5)
    assert bot.fake.calls_of("chat.postEphemeral") == []
    _edit(bot, original, "Actually I was charged twice for order 12345", "EvEdit1")
    second = card_for(bot.fake, AGENTS[0])
    assert "billing" in second.blocks_text() and "edited this message" in second.blocks_text()
    assert second.args["thread_ts"] == original["ts"]
    incident = bot.services.store.incident_for_thread("TOURS", CHANNEL, original["ts"])
    assert incident.complaint == "billing" and incident.tone_last == "angry"
    stored = _stored(bot.services.store, original["ts"])
    assert "charged twice" in stored.text and stored.model_complaint == "billing"


def test_an_edit_with_the_same_tone_and_complaint_only_updates_the_text(bot):
    original, _ = bot.driver.message(CUSTOMER, "The kettle arrived broken", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    _edit(bot, original, "The kettle arrived broken, the lid is cracked too", "EvEdit2")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "lid" not in (_stored(bot.services.store, original["ts"]).text or ""):
        time.sleep(0.05)
    assert "lid is cracked" in _stored(bot.services.store, original["ts"]).text
    time.sleep(0.3)
    assert len(bot.fake.calls_of("chat.postEphemeral", user=AGENTS[0])) == 1  # no second card


def test_bolts_message_changed_payload_updates_the_stored_text(bot):
    """bolt-python's fixture as is (no message.ts: previous_message.ts names the message)."""
    ts = SHAPES["message_changed"]["event"]["previous_message"]["ts"]
    bot.driver.event({"type": "message", "channel": CHANNEL, "user": CUSTOMER, "text": "original message", "ts": ts})
    _wait_stored(bot, ts)
    assert bot.driver.post_json(SHAPES["message_changed"]).status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _stored(bot.services.store, ts).text != "updated message":
        time.sleep(0.05)
    assert _stored(bot.services.store, ts).text == "updated message"


def test_bolts_message_deleted_payload_redacts_the_stored_text_and_keeps_the_labels(bot):
    ts = SHAPES["message_deleted"]["event"]["deleted_ts"]
    bot.driver.event({"type": "message", "channel": CHANNEL, "user": CUSTOMER,
                      "text": "Delete this message: I was charged twice, card 4111 1111 1111 1111", "ts": ts})
    card_for(bot.fake, AGENTS[0])
    assert bot.driver.post_json(SHAPES["message_deleted"]).status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _stored(bot.services.store, ts).text != DELETED_TEXT:
        time.sleep(0.05)
    stored = _stored(bot.services.store, ts)
    assert stored.text == DELETED_TEXT and stored.complaint == "billing" and stored.tone == "angry"
    assert bot.services.store.incident_for_thread("TOURS", CHANNEL, ts).complaint == "billing"
    row = bot.services.store.inbox.item("Ev222")
    assert row["state"] == "done" and row["has_payload"] is False


def test_a_tombstoned_thread_parent_is_redacted_too(bot):
    event = SHAPES["tombstone"]
    ts = event["message"]["ts"]
    bot.driver.event({"type": "message", "channel": CHANNEL, "user": CUSTOMER, "text": "I was charged twice", "ts": ts})
    card_for(bot.fake, AGENTS[0])
    assert bot.driver.event(copy.deepcopy(event), event_id="EvTomb").status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _stored(bot.services.store, ts).text != DELETED_TEXT:
        time.sleep(0.05)
    assert _stored(bot.services.store, ts).text == DELETED_TEXT


def test_a_message_deleted_before_it_was_processed_is_never_coached_nor_stored(make_bot, settings, playbook):
    import threading

    from bot.engine import RecoveryEngine
    from tests.slack.conftest import FakeClassifier

    gate = threading.Event()

    class HeldClassifier(FakeClassifier):
        def classify(self, text):
            gate.wait(10)
            return super().classify(text)

    bot = make_bot(engine=RecoveryEngine(settings, classifier=HeldClassifier(), playbook=playbook),
                   settings_=settings.model_copy(update={"coach_inference_workers": 1, "coach_inference_queue": 1}))
    busy, _ = bot.driver.message(CUSTOMER, "The kettle arrived broken", CHANNEL)  # holds the only free slot
    doomed, _ = bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)  # waits in the inbox
    deleted = copy.deepcopy(SHAPES["message_deleted"])
    deleted["event"].update(deleted_ts=doomed["ts"], channel=CHANNEL)
    deleted["event"]["previous_message"].update(ts=doomed["ts"], text=doomed["text"])
    deleted["event_id"] = "EvDelEarly"
    assert bot.driver.post_json(deleted).status == 200
    time.sleep(0.3)
    gate.set()
    card_for(bot.fake, AGENTS[0])  # the first message's card
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and bot.services.store.inbox.item("EvDelEarly")["state"] != "done":
        time.sleep(0.05)
    time.sleep(0.5)
    assert len(bot.fake.calls_of("chat.postEphemeral", user=AGENTS[0])) == 1
    assert _stored(bot.services.store, doomed["ts"]) is None
    assert busy["ts"] != doomed["ts"]


def test_an_agents_edit_is_ignored(bot):
    original, _ = bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)
    card_for(bot.fake, AGENTS[0])
    reply, _ = bot.driver.message(AGENTS[0], "Looking into it", CHANNEL, thread_ts=original["ts"])
    envelope = copy.deepcopy(SHAPES["message_changed"])
    envelope["event"]["message"].update(user=AGENTS[0], ts=reply["ts"], text="Sorry, but it is our policy")
    envelope["event"]["previous_message"].update(user=AGENTS[0], ts=reply["ts"], text="Looking into it")
    envelope["event_id"] = "EvAgentEdit"
    assert bot.driver.post_json(envelope).status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and bot.services.store.inbox.item("EvAgentEdit")["state"] != "done":
        time.sleep(0.05)
    assert bot.services.store.inbox.item("EvAgentEdit")["state"] == "done"
    assert len(bot.fake.calls_of("chat.postEphemeral", user=AGENTS[0])) == 1
