"""Stats on a small hand-made history (exact numbers), the heat map, and the pattern finder on generated
histories: a planted pattern must be found, and a history without one must flag nothing."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot.coach.models import FollowUpItem
from bot.storage.demo import generate_history
from bot.storage.heatmap import render_heatmap
from bot.storage.patterns import find_patterns
from bot.storage.records import IncidentRecord, load_band, local_time
from bot.storage.stats import RecoveryRate, Rising, compute_stats
from bot.storage.store import SqlStore
from tests.storage.helpers import playbook, record

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)  # a Friday
UTC = timezone.utc


@pytest.fixture
def small_history(sqlite_url, book) -> SqlStore:
    """Four incidents this week, two billing ones the week before (see the asserts for what each is)."""
    store = SqlStore(sqlite_url)
    store.migrate()
    a_at = datetime(2026, 3, 18, 13, 30, tzinfo=UTC)  # Wed 15:30 in Tallinn
    a = record(store, book, "a", tone="angry", complaint="delivery", at=a_at, customer="U1",
               timezone_name="Europe/Tallinn", product="wiper blades", lifetime_value=1440)
    record(store, book, "a", "a2", tone="positive", complaint="none", at=a_at + timedelta(minutes=10),
           customer="U1", lifetime_value=1440, text="Thank you, great!")
    store.record_suggestion_used(a, "apology", "U0AGENT1")
    store.record_compensation(a, "express_reship", "Free express re-shipment", 15, "USD", "given", "U0AGENT1")
    b = record(store, book, "b", tone="anxious", complaint="delivery", customer="U2", lifetime_value=900,
               at=datetime(2026, 3, 17, 9, 0, tzinfo=UTC))
    comp = store.record_compensation(b, "delivery_credit_30", "Store credit", 30, "USD", "pending_approval", "U0AGENT1")
    store.update_compensation(comp, "denied", "U0LEAD")
    c_at = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # Mon 10:00 in Shanghai
    c = record(store, book, "c", tone="frustrated", complaint="billing", at=c_at, customer="U3",
               timezone_name="Asia/Shanghai", lifetime_value=2200)
    record(store, book, "c", "c2", tone="neutral", complaint="billing", at=c_at + timedelta(hours=1), customer="U3",
           lifetime_value=2200)
    store.record_suggestion_used(c, "apology", "U0AGENT1")
    store.record_suggestion_used(c, "question", "U0AGENT1")
    store.record_compensation(c, "billing_credit_10", "Credit", 10, "USD", "approved", "U0AGENT1", approver="U0LEAD")
    record(store, book, "d", tone="positive", complaint="none", customer="U1", timezone_name="Europe/Tallinn",
           at=datetime(2026, 3, 19, 10, 0, tzinfo=UTC), text="Just a question about sizes")
    for thread, day in (("e", 10), ("f", 11)):
        record(store, book, thread, tone="angry", complaint="billing", customer="U9",
               at=datetime(2026, 3, day, 9, 0, tzinfo=UTC))
    yield store
    store.close()


def test_stats_of_a_small_history(small_history):
    stats = compute_stats(small_history, 7, NOW)
    assert (stats.total, stats.previous_total) == (4, 2)
    assert stats.by_complaint == {"delivery": 2, "billing": 1, "none": 1}
    assert stats.by_tone == {"angry": 1, "anxious": 1, "frustrated": 1, "positive": 1}
    assert stats.by_tone_last == {"positive": 2, "anxious": 1, "neutral": 1}
    assert stats.by_hour_of_week == {"Mon 10h": 1, "Tue 09h": 1, "Wed 15h": 1, "Thu 12h": 1}  # local time
    assert stats.heat["delivery"][2 * 24 + 15] == 1 and stats.heat["delivery"][1 * 24 + 9] == 1
    assert stats.by_product == {"unknown": 3, "wiper blades": 1}
    assert stats.by_region == {"Europe/Tallinn": 2, "unknown": 1, "Asia/Shanghai": 1}
    assert stats.by_load_band == {"0-2": 4}
    assert stats.rising == [Rising("delivery", 2, 0, 2), Rising("none", 1, 0, 1)]
    assert stats.compensation_cost == {"USD": 25.0}       # given 15 + approved 10; the denied 30 costs nothing
    assert stats.value_retained == {"USD": 1440.0} and stats.customers_retained == 1
    assert stats.recovery_by_apology == [RecoveryRate("coached apology", 2, 2, 1.0, 2.0),
                                         RecoveryRate("own words", 1, 0, 0.0, 0.0)]
    assert stats.recovery_by_compensation == [RecoveryRate("billing_credit_10", 1, 1, 1.0, 1.0),
                                              RecoveryRate("express_reship", 1, 1, 1.0, 3.0),
                                              RecoveryRate("none", 1, 0, 0.0, 0.0)]
    assert stats.patterns == []  # four incidents are no evidence of anything
    data = stats.to_dict()
    assert data["since"] == "2026-03-13T12:00:00+00:00" and data["rising"][0]["complaint"] == "delivery"


def test_stats_accept_a_session(small_history):
    with small_history.read_session() as session:
        assert compute_stats(session, 7, NOW).to_dict() == compute_stats(small_history, 7, NOW).to_dict()


def test_heatmap_png(small_history, tmp_path):
    path = render_heatmap(compute_stats(small_history, 7, NOW), tmp_path / "out" / "heat.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    empty = render_heatmap(compute_stats(small_history, 7, NOW - timedelta(days=300)), tmp_path / "empty.png")
    assert empty.stat().st_size > 0


def test_load_bands_and_local_time():
    assert [load_band(n) for n in (0, 2, 3, 5, 6, 10, 11, 40)] == ["0-2", "0-2", "3-5", "3-5", "6-10", "6-10",
                                                                  "11+", "11+"]
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time(at, "Europe/Tallinn").hour == 15  # summer time
    assert local_time(at, "Not/AZone").hour == 12 and local_time(at, None).hour == 12


# ---------------------------------------------------------------- generated histories through the store

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A planted and a clean 4-week history (same seed), written through the store API."""
    book = playbook()
    out = {}
    for name, plant in (("planted", True), ("clean", False)):
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'coach.sqlite'}"
        with SqlStore(url) as store:
            store.migrate()
            count = generate_history(store, book, seed=7, days=28, per_day=16, plant=plant, end=NOW)
            out[name] = (count, compute_stats(store, 28, NOW))
    return out


def test_planted_patterns_are_found(generated):
    count, stats = generated["planted"]
    assert stats.total == count > 400
    found = {(p.complaint, p.dimension, p.cell) for p in stats.patterns}
    assert ("delivery", "hour_of_week", "Wed 15h") in found        # the 15:00 Wednesday wave, in local time
    assert ("product_quality", "product", "wiper blades") in found  # wipers in salted-road regions
    wave = next(p for p in stats.patterns if p.cell == "Wed 15h")
    assert wave.count >= 15 and wave.expected < wave.count / 3 and wave.p_adjusted < 0.01
    assert "delivery in hour-of-week 'Wed 15h'" in wave.describe()
    assert sum(stats.by_load_band.values()) == stats.total and len(stats.by_load_band) >= 2
    assert stats.compensation_cost["USD"] > 0 and stats.value_retained["USD"] > 0
    rates = {r.choice: r.rate for r in stats.recovery_by_apology}
    assert rates["coached apology"] > rates["own words"]  # as generated


def test_no_pattern_is_flagged_without_one(generated):
    count, stats = generated["clean"]
    assert stats.total == count > 400
    assert stats.patterns == []


# ---------------------------------------------------------------- the finder alone, over many seeds

COMPLAINTS = {"delivery": 16, "billing": 10, "refund": 10, "wrong_item": 8, "product_quality": 12, "technical": 10,
              "wait_time": 9, "other_complaint": 5}
PRODUCTS = ("kettle", "wiper blades", "headphones", "backpack", None)
ZONES = ("Europe/Tallinn", "Europe/Moscow", "Asia/Shanghai", None)
BASE = IncidentRecord(
    id=0, workspace="T", channel="C", thread_ts="0", customer="x", opened_at=NOW, last_message_at=NOW,
    local_opened_at=NOW, language="en", complaint="delivery", complaint_last="delivery", tone_first="angry",
    tone_last="angry", severity="medium", product=None, order_ref=None, timezone=None, load=0, status="open",
    resolved_at=None, lifetime_value=None, currency=None, messages=1,
)


def synthetic(seed: int, n: int = 800, plant: bool = False) -> list[IncidentRecord]:
    """Complaint type independent of hour, load, product and region, unless `plant`: then wait-time
    complaints pile up when 11+ incidents are open (the 'only above 90 % load' kind of pattern)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        at = NOW - timedelta(days=rng.random() * 28)
        at = at.replace(hour=rng.choices(range(24), weights=[1] * 7 + [6] * 12 + [2] * 5)[0])
        load = rng.choice(range(16))
        complaint = rng.choices(list(COMPLAINTS), weights=list(COMPLAINTS.values()))[0]
        if plant and load >= 11 and rng.random() < 0.3:
            complaint = "wait_time"
        records.append(replace(BASE, id=i, opened_at=at, local_opened_at=at, load=load, complaint=complaint,
                               product=rng.choice(PRODUCTS), timezone=rng.choice(ZONES)))
    return records


def test_finder_controls_false_alarms_over_many_seeds():
    flagged = [p for seed in range(20) for p in find_patterns(synthetic(seed))]
    assert flagged == []


def test_finder_finds_a_load_pattern_on_every_seed():
    for seed in range(20):
        found = {(p.complaint, p.dimension, p.cell) for p in find_patterns(synthetic(seed, plant=True))}
        assert ("wait_time", "load_band", "11+") in found, seed


def test_finder_needs_a_minimum_count():
    records = [replace(BASE, id=i, complaint="billing" if i < 3 else "delivery", product="rare" if i < 3 else "x")
               for i in range(400)]
    assert find_patterns(records) == []  # 3 of 3 is striking but too few to act on
    assert find_patterns([]) == []


def test_steps_of_recovered_and_unrecovered_incidents(small_history):
    """Which steps of 'a complaint is a gift' the recovered incidents had (a, c) against the one that did not (b)."""
    from rich.console import Console

    from bot.storage.report import stats_tables

    store = small_history
    ids = {s.thread_ts: s.id for s in store.incidents_since(NOW - timedelta(days=7))}
    assert store.record_checklist_steps(ids["a"], {"thank", "apologise"}, "reply", "U0AGENT1") == ["thank", "apologise"]
    store.record_checklist_steps(ids["c"], {"apologise", "promise"}, "card", "U0AGENT1")
    store.record_checklist_steps(ids["b"], {"thank"}, "reply", "U0AGENT1")
    assert store.record_checklist_steps(ids["b"], {"thank", "fix"}, "reply", "U0AGENT2") == []  # once; fix is a button
    store.resolve_incident(ids["c"], "U0AGENT1", [FollowUpItem(when="+3d", action="Ask if all is well")], now=NOW)
    assert store.checklist(ids["c"]) == {"apologise", "promise", "fix", "check"}  # approved offer, follow-up
    assert store.checklist(ids["b"]) == {"thank"}  # its offer was denied: no fix

    stats = compute_stats(store, 7, NOW)
    assert (stats.recovered_incidents, stats.unrecovered_incidents) == (2, 1)
    shares = {s.step: (s.recovered, s.not_recovered) for s in stats.steps_by_outcome}
    assert shares == {"thank": (0.5, 1.0), "explain": (0.0, 0.0), "apologise": (1.0, 0.0), "promise": (0.5, 0.0),
                      "ask": (0.0, 0.0), "fix": (1.0, 0.0), "check": (0.5, 0.0), "prevent": (0.0, 0.0)}
    assert stats.offers_given == 2
    assert stats.to_dict()["steps_by_outcome"][2] == {"step": "apologise", "recovered": 1.0, "not_recovered": 0.0}

    console = Console(record=True, width=200)
    for table in stats_tables(stats):
        console.print(table)
    text = console.export_text()
    assert "offers given (by the agent, or approved)" in text and "2 (approved 1, given 1)" in text
    assert "recovered (2) vs not (1)" in text
    assert [line.split() for line in text.splitlines() if line.strip("│ ").startswith("apologise")] == [
        ["│", "apologise", "│", "100%", "│", "0%", "│", "+100", "pts", "│"]]
