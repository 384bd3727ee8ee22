"""The Store contract on SQLite and PostgreSQL: incidents, privacy, compensations, corrections,
follow-up scheduling, history, retention, playbook versions and audit."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData, select

from bot.coach.models import FollowUpItem
from bot.storage.api import Store
from bot.storage.store import SqlStore
from bot.storage.tables import Incident, IncidentMessage
from tests.storage.helpers import CHANNEL, WORKSPACE, classification, message, plan_for, record

T0 = datetime(2026, 3, 18, 13, 30, tzinfo=timezone.utc)
PII_TEXT = ("I'm Jane Roe, order #A-48213 never came. Call +44 20 7946 0958 or jane.roe@example.com, "
            "card 4111 1111 1111 1111")


def _dump(store: SqlStore) -> str:
    """Every value in every table, as one string (to prove what is *not* stored)."""
    meta = MetaData()
    with store._writer.connect() as connection:
        meta.reflect(connection)
        return "\n".join(str(row) for table in meta.sorted_tables for row in connection.execute(select(table)))


def test_sql_store_satisfies_the_protocol(store):
    protocol_methods = {name for name in vars(Store) if not name.startswith("_")}
    assert protocol_methods <= set(dir(store))
    _: Store = store  # type-checks as the Protocol


def test_claim_event_is_true_only_once(store):
    assert store.claim_event("Ev1") is True
    assert store.claim_event("Ev1") is False
    assert store.claim_event("Ev2") is True


def test_one_incident_per_thread_with_the_tone_change_kept(store, book):
    first = record(store, book, "100.1", tone="angry", complaint="delivery", at=T0, timezone_name="Europe/Tallinn",
                   product="wiper blades", text="Where is my order #A-48213? Third time I write!")
    same = record(store, book, "100.1", "100.2", tone="neutral", complaint="none", at=T0 + timedelta(minutes=5),
                  text="ok, thanks")
    again = record(store, book, "100.1", "100.3", tone="positive", complaint="none", at=T0 + timedelta(minutes=9),
                   text="Got it, you are great")
    duplicate = record(store, book, "100.1", "100.3", tone="positive", complaint="none",
                       at=T0 + timedelta(minutes=9), text="Got it, you are great")  # Slack redelivery
    assert first == same == again == duplicate
    summary = store.incident_for_thread(WORKSPACE, CHANNEL, "100.1")
    assert summary is not None
    assert (summary.complaint, summary.tone_first, summary.tone_last, summary.status) == (
        "delivery", "angry", "positive", "open")
    assert summary.severity in ("high", "critical")
    assert summary.opened_at == T0
    with store.read_session() as s:
        incident = s.get_one(Incident, first)
        tones = s.scalars(select(IncidentMessage.tone).where(IncidentMessage.incident_id == first)
                          .order_by(IncidentMessage.at)).all()
    assert tones == ["angry", "neutral", "positive"]
    assert incident.message_count == 3
    assert incident.last_message_at == T0 + timedelta(minutes=9)
    assert (incident.product, incident.timezone, incident.language) == ("wiper blades", "Europe/Tallinn", "en")
    assert incident.order_ref and "48213" in incident.order_ref
    assert incident.lifetime_value and incident.currency == "USD"
    assert store.incident_for_thread(WORKSPACE, CHANNEL, "nope") is None


def test_customer_is_a_pseudonym_and_text_is_redacted(store, book):
    incident_id = record(store, book, "200.1", text=PII_TEXT, customer="U0SECRET42")
    with store.read_session() as s:
        stored = s.scalars(select(IncidentMessage).where(IncidentMessage.incident_id == incident_id)).one()
        customer = s.get_one(Incident, incident_id).customer
    assert stored.text is not None
    assert "[PHONE]" in stored.text and "[EMAIL]" in stored.text and "[CARD]" in stored.text
    assert "#A-48213" in stored.text  # the order number is kept: the coach needs it
    assert len(customer) == 32 and customer != "U0SECRET42"
    everything = _dump(store)
    for secret in ("U0SECRET42", "jane.roe@example.com", "7946 0958", "4111 1111 1111 1111", "4111111111111111"):
        assert secret not in everything
    # the same customer in another thread joins up through the pseudonym
    record(store, book, "200.9", customer="U0SECRET42", at=T0 + timedelta(days=1))
    history = store.customer_history(WORKSPACE, "U0SECRET42")
    assert [h.thread_ts for h in history] == ["200.9", "200.1"]
    assert store.customer_history(WORKSPACE, "U0SOMEONEELSE") == []


def test_explicit_pseudonym_key_changes_pseudonyms(make_store, book):
    a, b = make_store(pseudonym_key="k1"), make_store(pseudonym_key="k2")
    a.migrate()
    assert a._pseudonym("U1") != b._pseudonym("U1")
    assert a._pseudonym("U1") == make_store(pseudonym_key="k1")._pseudonym("U1")


def test_load_counts_other_open_incidents_in_the_workspace(store, book):
    first = record(store, book, "300.1", at=T0)
    record(store, book, "300.2", at=T0 + timedelta(minutes=1))
    record(store, book, "999.1", at=T0 + timedelta(minutes=1), workspace="T-OTHER")
    store.resolve_incident(first, "U0AGENT1", [], now=T0 + timedelta(minutes=2))
    third = record(store, book, "300.3", at=T0 + timedelta(minutes=3))
    stale = record(store, book, "300.4", at=T0 + timedelta(days=3))  # 300.2/300.3 went quiet: not load
    with store.read_session() as s:
        loads = {i.thread_ts: i.load_at_open for i in s.scalars(select(Incident))}
    assert loads == {"300.1": 0, "300.2": 1, "999.1": 0, "300.3": 1, "300.4": 0}
    assert third and stale


def test_agent_replies_suggestions_and_compensation_flow(store, book):
    incident_id = record(store, book, "400.1")
    store.record_agent_reply(WORKSPACE, CHANNEL, "400.1", "U0AGENT1", nudged=True)
    store.record_agent_reply(WORKSPACE, CHANNEL, "not-an-incident", "U0AGENT1", nudged=False)  # ignored
    store.record_suggestion_used(incident_id, "apology", "U0AGENT1")
    comp = store.record_compensation(incident_id, "delivery_credit_30", "Store credit of 30 USD", 30.0, "USD",
                                     "pending_approval", "U0AGENT1", approver="U0LEAD")
    store.update_compensation(comp, "approved", "U0LEAD")
    store.update_compensation(comp, "given", "U0AGENT1")
    with pytest.raises(ValueError):
        store.update_compensation(comp, "maybe", "U0AGENT1")  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        store.update_compensation(10_000, "given", "U0AGENT1")
    summary = store.incident_for_thread(WORKSPACE, CHANNEL, "400.1")
    assert summary is not None
    assert "Compensation 'Store credit of 30 USD' (30 USD): given" in summary.notes


def test_corrections_win_and_feed_training(store, book):
    incident_id = record(store, book, "500.1", tone="neutral", complaint="billing",
                         text="I was charged twice, mail me at a.b@example.com")
    record(store, book, "500.1", "500.2", tone="neutral", complaint="none", text="hello?",
           at=T0 + timedelta(minutes=1))
    store.record_correction(incident_id, "500.1", "angry", "refund", "U0LEAD")
    summary = store.incident_for_thread(WORKSPACE, CHANNEL, "500.1")
    assert summary is not None
    assert (summary.tone_first, summary.complaint) == ("angry", "refund")
    assert any(note.startswith("Corrected by U0LEAD") for note in summary.notes)
    examples = store.corrections_for_training()
    assert examples == [{"text": "I was charged twice, mail me at [EMAIL]", "lang": "en", "tone": "angry",
                         "complaint": "refund"}]


def test_resolve_schedules_follow_ups_and_flags_the_customer(store, book):
    incident_id = record(store, book, "600.1", customer="U0FLAGGED")
    items = [FollowUpItem(when="now", action="Confirm the fix"),
             FollowUpItem(when="internal", action="Flag the record"),
             FollowUpItem(when="+3d", action="Check in")]
    store.resolve_incident(incident_id, "U0AGENT1", items, now=T0)
    store.resolve_incident(incident_id, "U0AGENT2", items, now=T0 + timedelta(hours=1))  # no-op: already resolved
    due_now = store.due_follow_ups(T0)
    assert [(f.when, f.owner, f.due_at) for f in due_now] == [("now", "U0AGENT1", T0), ("internal", "U0AGENT1", T0)]
    assert {f.channel for f in due_now} == {CHANNEL} and {f.thread_ts for f in due_now} == {"600.1"}
    later = store.due_follow_ups(T0 + timedelta(days=3), owner="U0AGENT1")
    assert [f.when for f in later] == ["now", "internal", "+3d"]
    assert later[-1].due_at == T0 + timedelta(days=3)
    assert store.due_follow_ups(T0 + timedelta(days=3), owner="U0SOMEONE") == []
    history = store.customer_history(WORKSPACE, "U0FLAGGED")
    assert history[0].status == "resolved"
    assert any(n.startswith("Flagged: delivery") and "Flag the record" in n for n in history[0].notes)
    assert any(n.startswith("Resolved by U0AGENT1") for n in history[0].notes)
    with pytest.raises(LookupError):
        store.resolve_incident(99_999, "U0AGENT1", items)


def test_incidents_since(store, book):
    record(store, book, "700.1", at=T0)
    record(store, book, "700.2", at=T0 + timedelta(days=2))
    assert [i.thread_ts for i in store.incidents_since(T0 + timedelta(days=1))] == ["700.2"]
    assert len(store.incidents_since(T0 - timedelta(days=1))) == 2


def test_text_is_purged_after_retention(make_store, book):
    store = make_store(text_retention_days=30)
    store.migrate()
    record(store, book, "800.1", at=T0, text="old message")
    record(store, book, "800.2", at=T0 + timedelta(days=20), text="newer message")
    assert store.purge_expired_text(T0 + timedelta(days=31)) == 1
    with store.read_session() as s:
        texts = dict(s.execute(select(IncidentMessage.message_ts, IncidentMessage.text)).all())
    assert texts == {"800.1": None, "800.2": "newer message"}
    assert store.housekeeping(T0 + timedelta(days=60))["texts_blanked"] == 1


def test_zero_retention_keeps_no_text(make_store, book):
    store = make_store(text_retention_days=0)
    store.migrate()
    record(store, book, "810.1", text="anything at all")
    with store.read_session() as s:
        assert s.scalars(select(IncidentMessage.text)).all() == [None]


def test_stored_plan_has_no_personal_details(store, book):
    text = "Deliver to 12 Baker Street, phone +44 20 7946 0958, order #A-48213"
    cls = classification("frustrated", "delivery")
    plan = plan_for(text, cls, book)
    assert "phone" in plan.details_found
    store.record_customer_message(message("900.1", text=text), cls, plan, ["U0AGENT1"])
    with store.read_session() as s:
        stored = s.scalars(select(IncidentMessage.plan)).one()
    assert stored["details_found"]["phone"] == "[PHONE]"
    assert stored["details_found"]["address"] == "[ADDRESS]"
    assert "7946" not in str(stored) and "Baker" not in str(stored)
    assert "48213" in stored["details_found"]["order_id"]


def test_playbook_versions_history_and_rollback(store):
    assert store.current_playbook() is None
    v1 = store.save_playbook_version("company: A\n", "U0ADMIN", "first")
    v2 = store.save_playbook_version("company: B\n", "U0ADMIN")
    assert (v1.version, v2.version) == (1, 2)
    assert store.current_playbook() == v2
    assert [v.version for v in store.playbook_history()] == [2, 1]
    assert store.playbook_version(1) == v1 and store.playbook_version(7) is None
    v3 = store.rollback_playbook(1, "U0ADMIN")
    assert (v3.version, v3.yaml_text, v3.note) == (3, "company: A\n", "rollback to v1")
    assert store.current_playbook() == v3
    with pytest.raises(LookupError):
        store.rollback_playbook(42, "U0ADMIN")


def test_audit_rows_are_kept_and_redacted(store):
    store.record_audit("U0ADMIN", "playbook.save", "saved v2", True)
    store.record_audit("U0AGENT1", "compensation.approve", "tried; customer mail x.y@example.com", False)
    rows = store.audit_log()
    assert [(r.actor, r.action, r.allowed) for r in rows] == [
        ("U0AGENT1", "compensation.approve", False), ("U0ADMIN", "playbook.save", True)]
    assert rows[0].detail == "tried; customer mail [EMAIL]"
    assert rows[0].at.tzinfo is not None


def test_only_corrected_heads_feed_training(store, book):
    incident_id = record(store, book, "510.1", tone="neutral", complaint="billing", text="charged twice")
    store.record_correction(incident_id, "510.1", "angry", None, "U0LEAD")
    assert store.corrections_for_training() == [
        {"text": "charged twice", "lang": "en", "tone": "angry", "complaint": None}]


def test_store_from_settings_uses_the_configured_key_and_creates_the_folder(tmp_path):
    from bot.settings import Settings

    url = f"sqlite:///{tmp_path / 'nested' / 'coach.sqlite'}"
    configured = SqlStore.from_settings(Settings(_env_file=None, coach_database_url=url, coach_pseudonym_key="k1"))
    configured.migrate()
    assert (tmp_path / "nested" / "coach.sqlite").is_file()
    assert configured._pseudonym("U1") == SqlStore(url, pseudonym_key="k1")._pseudonym("U1")
    assert configured._pseudonym("U1") != SqlStore.from_settings(
        Settings(_env_file=None, coach_database_url=url))._pseudonym("U1")
