"""Small pieces: who is a customer, what a nudge catches, the card, the executor, log scrubbing."""
from __future__ import annotations

import json
import logging
import threading

import pytest

from bot.coach.planner import plan_recovery
from bot.render.blocks import CardContext, card_text, coaching_card, parse_value
from bot.settings import Settings
from bot.slack.fake_api import FakeSlack
from bot.slack.logging import JsonFormatter, fingerprint
from bot.slack.nudges import find_faults, nudge_text
from bot.slack.resilience import build_web_client
from bot.slack.roles import RoleResolver
from bot.slack.services import BoundedExecutor
from tests.slack.conftest import classification


@pytest.fixture
def slack():
    fake = FakeSlack(team_id="TOURS", enterprise_id="EOURS")
    fake.add_user("UAGENT")
    fake.add_user("UCONNECT", team_id="TOTHER")
    fake.add_user("UGUEST", is_restricted=True)
    fake.add_user("USINGLE", is_ultra_restricted=True)
    fake.add_user("UGRIDSAME", team_id="TSISTER", enterprise_id="EOURS")
    fake.add_user("UGRIDOTHER", team_id="TSISTER2", enterprise_id="EOTHER")
    fake.add_user("UBOT2", is_bot=True)
    with fake:
        yield fake


def _roles(fake: FakeSlack, **settings) -> RoleResolver:
    return RoleResolver(build_web_client("xoxb-t", fake.api_url), Settings(_env_file=None, **settings))


def test_customers_agents_and_others(slack):
    roles = _roles(slack, coach_customers=["ULISTED"])
    slack.add_user("ULISTED")
    assert roles.kind("UAGENT") == "agent"
    assert roles.kind("UCONNECT") == "customer"           # Slack Connect: another workspace
    assert roles.kind("UGUEST") == roles.kind("USINGLE") == "customer"
    assert roles.kind("UGRIDSAME") == "agent"             # same Enterprise Grid org, other workspace
    assert roles.kind("UGRIDOTHER") == "customer"
    assert roles.kind("ULISTED") == "customer"
    assert roles.kind("UBOT2") == roles.kind(None) == "other"
    assert roles.kind("UNKNOWN") == "unknown" and not roles.is_agent("UNKNOWN")  # lookup failed: fail closed


def test_agents_limited_to_the_list_and_lookups_cached(slack):
    roles = _roles(slack, coach_agents=["UAGENT"])
    slack.add_user("UOTHERSTAFF")
    assert roles.is_agent("UAGENT") and not roles.is_agent("UOTHERSTAFF")
    for _ in range(3):
        roles.kind("UAGENT")
    assert len(slack.calls_of("users.info", user="UAGENT")) == 1
    assert len(slack.calls_of("auth.test")) <= 1


@pytest.mark.parametrize("text, language, reasons", [
    ("Sorry, but that's how it works.", "en", {"qualified"}),
    ("I'm sorry if you feel that way.", "en", {"qualified"}),
    ("Our policy does not allow that.", "en", {"policy"}),
    ("That's the warehouse's fault, not ours.", "en", {"blame"}),
    ("You should have read the terms.", "en", {"blame"}),
    ("Простите, но по правилам мы не можем.", "ru", {"qualified", "policy"}),
    ("对不起，但是这是其他部门的问题。", "zh", {"qualified", "blame"}),
    ("Vabandust, aga see pole meie süü.", "et", {"qualified", "blame"}),
])
def test_faults_found_in_four_languages(text, language, reasons, playbook):
    found = find_faults(text, playbook)
    assert {f.reason for f in found} == reasons
    assert {f.language for f in found} == {language}
    assert nudge_text(found)


@pytest.mark.parametrize("text", [
    "I'm so sorry, I'll fix this for you right now.",
    "Простите, пожалуйста, я всё исправлю.",
    "非常抱歉，我马上为您处理。",
    "Vabandan, lahendan selle kohe.",
])
def test_good_replies_are_not_nudged(text, playbook):
    assert find_faults(text, playbook) == []


def test_card_carries_its_context_and_no_customer_text_in_the_fallback(playbook):
    text = "I was charged twice for order 12345"
    plan = plan_recovery(text, classification("angry", "billing"), playbook)
    ctx = CardContext(7, "C1", "1.000001", "1.000002")
    blocks = coaching_card(plan, ctx)
    assert text not in json.dumps(blocks) and text not in card_text(plan)
    actions = [b for b in blocks if b["type"] == "actions"][0]["elements"]
    assert [e["action_id"] for e in actions][:2] == ["coach_send_apology", "coach_offer"]
    for element in actions:
        assert len(element["value"]) <= 2000
        assert parse_value(element["value"])[0] == ctx


def test_bounded_executor_refuses_beyond_its_queue():
    gate = threading.Event()
    pool = BoundedExecutor(workers=1, queue=1)
    assert pool.submit(gate.wait) is not None
    assert pool.submit(gate.wait) is not None
    assert pool.submit(gate.wait) is None
    gate.set()
    pool.shutdown()


def test_failing_task_is_logged_not_raised(caplog):
    pool = BoundedExecutor(workers=1, queue=1)
    future = pool.submit(lambda: 1 / 0)
    assert future.result(timeout=5) is None
    pool.shutdown()
    assert any("background task failed" in r.getMessage() for r in caplog.records)


def test_json_logs_mask_tokens():
    record = logging.makeLogRecord({"msg": "calling with xoxb-123-456-abcdef", "levelname": "INFO",
                                    "name": "t", "token": "xapp-1-secret", "text": fingerprint("hello")})
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert "abcdef" not in line and "secret" not in line
    assert data["token"] == "***" and data["text"]["len"] == 5


def test_manifest_matches_what_the_app_handles_and_calls():
    import yaml

    from bot.settings import PROJECT_ROOT

    manifest = yaml.safe_load((PROJECT_ROOT / "manifest.yml").read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/recover"]
    from bot.slack.shortcuts import RECOVERY_PLAN

    assert [(s["type"], s["callback_id"]) for s in manifest["features"]["shortcuts"]] == [("message", RECOVERY_PLAN)]
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.channels", "message.groups", "app_home_opened", "app_uninstalled", "tokens_revoked"}
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["features"]["app_home"]["home_tab_enabled"]
    needed = {"channels:history", "groups:history", "channels:read", "groups:read", "users:read", "chat:write",
              "im:write", "commands", "files:read", "files:write"}
    assert needed <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_alert_reasons(playbook):
    from datetime import datetime, timezone

    from bot.coach.models import CustomerProfile
    from bot.slack.alerts import alert_reasons
    from bot.storage.api import IncidentSummary

    vip = CustomerProfile(lifetime_value=5000, previous_contacts=1)
    critical = plan_recovery("charged twice again", classification("angry", "billing"), playbook, customer=vip)
    assert critical.severity == "critical" and critical.value_at_stake.high_value
    assert [k for k, _ in alert_reasons(critical, None)] == ["high_value_critical"]
    before = IncidentSummary(1, "C", "1.0", "medium", "billing", "neutral", "neutral",
                             datetime.now(timezone.utc), "open")
    calm = plan_recovery("ok", classification("neutral", "billing"), playbook)
    assert alert_reasons(calm, before) == []
    worse = plan_recovery("charged twice", classification("angry", "billing"), playbook)
    assert [k for k, _ in alert_reasons(worse, before)] == ["worsening"]
