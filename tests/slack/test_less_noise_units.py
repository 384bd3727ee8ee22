"""Fast checks of the per-thread card state (bot/storage/thread_cards.py) and its Slack helpers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from bot.coach.models import Classification, Prediction
from bot.render.blocks import CardContext
from bot.slack.thread_cards import MENTION, changes, coached_agents, compact_card, plan_summary
from bot.storage.store import SqlStore

WS, CH, THREAD = "TOURS", "CSUPPORT", "1700000000.000100"


def _clocked(database_url: str, now: list[datetime]) -> SqlStore:
    return SqlStore(database_url, clock=lambda: now[0])


def test_begin_card_first_full_then_held_never_older_and_retries_post_nothing(database_url):
    now = [datetime(2026, 12, 4, 12, tzinfo=timezone.utc)]
    cards = _clocked(database_url, now).thread_cards
    assert cards.begin_card(WS, CH, THREAD, "UA", "1700000001.000000", {"severity": "low"}) is None
    assert cards.begin_card(WS, CH, THREAD, "UA", "1700000001.000000", {}) is False          # a retry
    held = cards.begin_card(WS, CH, THREAD, "UA", "1700000001.000000", {"severity": "high"}, same_message=True)
    assert held and held.summary == {"severity": "low"}                                       # an edit
    held = cards.begin_card(WS, CH, THREAD, "UA", "1700000003.000000", {"severity": "medium"})
    assert held and held.message_ts == "1700000001.000000" and held.summary == {"severity": "high"}
    assert held.response_url is None
    assert cards.begin_card(WS, CH, THREAD, "UA", "1700000002.000000", {}) is False          # older: seen already
    assert cards.begin_card(WS, CH, THREAD, "UB", "1700000002.000000", {}) is None           # per agent


def test_response_url_is_offered_while_fresh_and_with_uses_left(database_url):
    now = [datetime(2026, 12, 4, 12, tzinfo=timezone.utc)]
    cards = _clocked(database_url, now).thread_cards
    assert cards.remember_click(WS, CH, THREAD, "UA", "https://hooks/1") is False  # no card held: nothing kept
    cards.begin_card(WS, CH, THREAD, "UA", "1.0", {})
    assert cards.remember_click(WS, CH, THREAD, "UA", "https://hooks/1", used=1)
    seen = [cards.begin_card(WS, CH, THREAD, "UA", f"{n}.0", {}) for n in range(2, 7)]
    assert [h.response_url for h in seen] == ["https://hooks/1"] * 4 + [None]   # 1 by the handler + 4 of ours = 5
    cards.remember_click(WS, CH, THREAD, "UA", "https://hooks/2")
    now[0] += timedelta(minutes=31)
    assert cards.begin_card(WS, CH, THREAD, "UA", "9.0", {}).response_url is None  # Slack's 30 minutes are over
    cards.remember_click(WS, CH, THREAD, "UA", "https://hooks/3")
    cards.card_posted(WS, CH, THREAD, "UA", "update")  # a new compact card: the click was on another card
    assert cards.held(WS, CH, THREAD, "UA").response_url is None


def test_engaged_and_on_duty_are_stored_per_thread_and_channel(store):
    cards = store.thread_cards
    cards.record_agent(WS, CH, THREAD, "UB")
    cards.record_agent(WS, CH, THREAD, "UA")
    cards.record_agent(WS, CH, THREAD, "UB")
    assert cards.engaged(WS, CH, THREAD) == ["UB", "UA"] and cards.engaged(WS, CH, "other") == []
    assert cards.on_duty(WS, CH) is None
    cards.set_on_duty(WS, CH, ["UA", "UA", "UC"], by="USUP")
    assert cards.on_duty(WS, CH) == ["UA", "UC"]
    cards.set_on_duty(WS, CH, [], by="USUP")
    assert cards.on_duty(WS, CH) is None


def test_coached_agents_prefers_engaged_then_on_duty_then_all_and_only_ever_eligible(store):
    services = SimpleNamespace(store=store)
    agents = ["UA", "UB", "UC"]
    assert coached_agents(services, WS, CH, THREAD, agents) == (agents, "channel")
    store.thread_cards.set_on_duty(WS, CH, ["UX", "UC"], by="USUP")
    assert coached_agents(services, WS, CH, THREAD, agents) == (["UC"], "on_duty")
    store.thread_cards.set_on_duty(WS, CH, ["UX"], by="USUP")       # nobody of the list in the channel
    assert coached_agents(services, WS, CH, THREAD, agents) == (agents, "channel")
    store.thread_cards.record_agent(WS, CH, THREAD, "UCUSTOMER")     # not an established agent: never
    store.thread_cards.record_agent(WS, CH, THREAD, "UB")
    assert coached_agents(services, WS, CH, THREAD, agents) == (["UB"], "engaged")


def test_mentions_as_slack_sends_them():
    text = "<@U0AGENT1|ann> <@W0AGENT2> U0AGENT3 hello"
    assert [a or b for a, b in MENTION.findall(text)] == ["U0AGENT1", "W0AGENT2", "U0AGENT3"]


def _plan(engine, tone: str, complaint: str):
    labels = Classification(language="en", tone=Prediction(label=tone, confidence=0.9),
                            complaint=Prediction(label=complaint, confidence=0.9))
    return engine.suggest("text", [], None, "agent", False, labels)


def test_compact_card_says_what_changed_and_keeps_the_buttons(playbook):
    from bot.engine import RecoveryEngine
    from bot.settings import Settings
    from tests.slack.conftest import FakeClassifier

    engine = RecoveryEngine(Settings(_env_file=None), classifier=FakeClassifier(), playbook=playbook)
    before, after = _plan(engine, "frustrated", "delivery"), _plan(engine, "angry", "billing")
    said = changes(plan_summary(before), after)
    assert "tone frustrated → angry" in said and "complaint delivery → billing" in said
    assert changes(plan_summary(after), after) == []
    blocks = compact_card(after, CardContext(1, CH, THREAD, "2.0"), plan_summary(before))
    assert "supersedes your earlier card" in blocks[0]["text"]["text"]
    assert any(b["type"] == "actions" for b in blocks)
    same = compact_card(after, CardContext(1, CH, THREAD, "2.0"), plan_summary(after))
    assert "Same plan" in same[1]["elements"][0]["text"]


def test_the_upgrade_keeps_agents_who_already_replied_engaged(tmp_path, playbook):
    from alembic import command
    from alembic.config import Config

    from bot.storage.store import MIGRATIONS_DIR
    from tests.storage import helpers

    store = SqlStore(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with store._writer.begin() as connection:  # the database as it was before migration 0005
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    helpers.record(store, playbook, THREAD, workspace=WS, channel=CH)
    store.record_agent_reply(WS, CH, THREAD, "UA", nudged=False)
    store.record_agent_reply(WS, CH, THREAD, "UA", nudged=True)
    store.record_agent_reply(WS, CH, "1.0", "UB", nudged=False)  # no incident: not a customer thread
    store.migrate()
    assert store.thread_cards.engaged(WS, CH, THREAD) == ["UA"]
    store.close()
