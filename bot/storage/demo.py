"""A generated, seeded incident history: for tests of stats and patterns, and for the docs' heat map.

Everything goes through the real store API (record_customer_message, compensations, resolve), in
time order, so the load at each incident is what the store itself computes. With `plant=True` two
patterns are planted: delivery complaints on Wednesdays 15:00-16:00 (customer's local time), and
product-quality complaints about wiper blades in salted-road regions (Tallinn, Moscow, New York).
With `plant=False` the complaint type is independent of time, product, region and load, so the
pattern finder must flag nothing.

    python -m bot.storage.demo --heatmap docs/heatmap.png [--db sqlite:///demo.sqlite] [--end 2026-03-20]
"""
from __future__ import annotations

import argparse
import heapq
import random
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.coach.models import Classification, CustomerProfile, Prediction, RecoveryPlan
from bot.coach.planner import plan_recovery
from bot.playbook import Playbook, load_playbook
from bot.settings import PROJECT_ROOT
from bot.storage.api import CustomerMessage
from bot.storage.store import SqlStore

COMPLAINT_WEIGHTS = {"delivery": 16, "billing": 10, "refund": 10, "wrong_item": 8, "product_quality": 12,
                     "staff_attitude": 4, "technical": 10, "account_access": 6, "cancellation": 5,
                     "wait_time": 9, "other_complaint": 5}
TONE_WEIGHTS = {"angry": 20, "frustrated": 34, "anxious": 15, "neutral": 25, "abusive": 2, "positive": 4}
REGIONS = {"Europe/Tallinn": "et", "Europe/Moscow": "ru", "Asia/Shanghai": "zh", "Europe/London": "en",
           "America/New_York": "en"}
PRODUCTS = ("wiper blades", "winter tyres", "phone case", "kettle", "headphones", "backpack")
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 9, 9, 10, 10, 10, 9, 8, 7, 6, 4, 2, 1]
TEXTS = {
    "en": "Order #A-{order} is a problem again. Call me on +44 20 7946 {tail} or mail {user}@example.com",
    "ru": "Заказ №{order}: снова проблема. Мой телефон +7 912 345-{tail2}-89, почта {user}@mail.ru",
    "zh": "订单号{order}又出问题了。我的手机是138{tail}0013，邮箱{user}@qq.com",
    "et": "Tellimus {order} on jälle probleem. Helistage +372 5123 {tail} või kirjutage {user}@mail.ee",
}
WORKSPACE, CHANNEL = "T-DEMO", "C-SUPPORT"
SALTED_ROADS = ("Europe/Tallinn", "Europe/Moscow", "America/New_York")


@dataclass(frozen=True)
class DemoIncident:
    at: datetime
    customer: str
    tz: str
    complaint: str
    tone: str
    product: str


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _local_moment(rng: random.Random, day: datetime, tz: str, hour: int | None = None) -> datetime:
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0] if hour is None else hour
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def plan_incidents(seed: int, start: datetime, days: int, per_day: int, plant: bool) -> list[DemoIncident]:
    """What happens, decided up front from the seed (independent of the database)."""
    rng = random.Random(seed)
    customers = [(f"U{n:06d}", rng.choice(list(REGIONS))) for n in range(max(20, per_day * days // 3))]
    incidents: list[DemoIncident] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for _ in range(rng.randint(per_day * 3 // 4, per_day * 5 // 4)):
            customer, tz = rng.choice(customers)
            complaint, product = _weighted(rng, COMPLAINT_WEIGHTS), rng.choice(PRODUCTS)
            if plant and product == "wiper blades" and tz in SALTED_ROADS and rng.random() < 0.9:
                complaint = "product_quality"
            incidents.append(DemoIncident(_local_moment(rng, day, tz), customer, tz, complaint,
                                          _weighted(rng, TONE_WEIGHTS), product))
        if plant and day.weekday() == 2:  # Wednesday: the 15:00 delivery wave
            for _ in range(5):
                customer, tz = rng.choice(customers)
                incidents.append(DemoIncident(_local_moment(rng, day, tz, hour=15), customer, tz, "delivery",
                                              _weighted(rng, TONE_WEIGHTS), rng.choice(PRODUCTS)))
    return sorted(incidents, key=lambda i: i.at)


def _classification(lang: str, tone: str, complaint: str) -> Classification:
    return Classification(language=lang, tone=Prediction(label=tone, confidence=0.9),  # type: ignore[arg-type]
                          complaint=Prediction(label=complaint, confidence=0.9))


def generate_history(store: SqlStore, playbook: Playbook, seed: int = 7, days: int = 28, per_day: int = 24,
                     plant: bool = True, end: datetime | None = None) -> int:
    """Write a history ending at `end` (default: now) through the store; returns the incident count."""
    end = end or datetime.now(timezone.utc)
    start = end - timedelta(days=days)
    incidents = [i for i in plan_incidents(seed, start, days + 1, per_day, plant) if start <= i.at < end]
    rng = random.Random(seed + 1)
    events: list[tuple[datetime, int, str, object]] = []
    for n, incident in enumerate(incidents):
        heapq.heappush(events, (incident.at, n, "open", incident))
    seq = len(incidents)
    while events:
        at, number, kind, payload = heapq.heappop(events)
        if kind == "open":
            incident: DemoIncident = payload  # type: ignore[assignment]
            follow = _open(store, playbook, rng, incident, at, f"{at.timestamp():.0f}.{number:06d}")
            for delay, step in follow:
                seq += 1
                heapq.heappush(events, (at + delay, seq, "step", step))
        else:
            payload()  # type: ignore[operator]
    return len(incidents)


def _open(store: SqlStore, playbook: Playbook, rng: random.Random, incident: DemoIncident,
          at: datetime, thread_ts: str) -> list[tuple[timedelta, object]]:
    """Record the first message and return the later steps of this incident as (delay, action)."""
    lang = REGIONS[incident.tz]
    text = TEXTS[lang].format(order=rng.randrange(10000, 99999), tail=rng.randrange(1000, 9999),
                              tail2=rng.randrange(10, 99), user=f"user{rng.randrange(1000)}")
    profile = CustomerProfile(lifetime_value=float(rng.choice((600, 900, 1440, 2200, 3500))))
    plan = plan_recovery(text, _classification(lang, incident.tone, incident.complaint), playbook, customer=profile)
    msg = CustomerMessage(WORKSPACE, CHANNEL, thread_ts, thread_ts, incident.customer, text, at, incident.tz,
                          incident.product)
    incident_id = store.record_customer_message(msg, _classification(lang, incident.tone, incident.complaint),
                                                plan, ["U-AGENT"])
    apology = rng.random() < 0.7
    if apology:
        store.record_suggestion_used(incident_id, "apology", "U-AGENT")
    comp = plan.compensation if rng.random() < 0.5 else None
    if comp is not None:
        state = "pending_approval" if comp.needs_approval else "given"
        comp_id = store.record_compensation(incident_id, comp.id, comp.offer, comp.value, comp.currency,
                                            state, "U-AGENT")  # type: ignore[arg-type]
        if state == "pending_approval":
            store.update_compensation(comp_id, "approved", "U-LEAD")
    chance = 0.25 + (0.25 if apology else 0.0) + (0.3 if comp else 0.0)
    last_tone = "positive" if rng.random() < chance else rng.choice(("neutral", incident.tone))
    reply_after = timedelta(minutes=rng.randint(5, 90))
    resolve_after = reply_after + timedelta(minutes=rng.randint(5, 120))
    reply_text = {"en": "Thanks, that helps.", "ru": "Спасибо, это помогло.", "zh": "谢谢，这有帮助。",
                  "et": "Aitäh, see aitab."}[lang]

    def reply() -> None:
        when = at + reply_after
        ts = f"{when.timestamp():.6f}"
        cls = _classification(lang, last_tone, incident.complaint)
        later: RecoveryPlan = plan_recovery(reply_text, cls, playbook, customer=profile)
        store.record_customer_message(CustomerMessage(WORKSPACE, CHANNEL, thread_ts, ts, incident.customer,
                                                      reply_text, when, incident.tz, incident.product),
                                      cls, later, ["U-AGENT"])

    def resolve() -> None:
        store.resolve_incident(incident_id, "U-AGENT", plan.follow_up, now=at + resolve_after)

    steps: list[tuple[timedelta, object]] = [(resolve_after, resolve)]
    if rng.random() < 0.8:
        steps.append((reply_after, reply))
    return steps


def main(argv: list[str] | None = None) -> None:
    from bot.storage.heatmap import render_heatmap
    from bot.storage.stats import compute_stats

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--heatmap", type=Path, default=PROJECT_ROOT / "docs" / "heatmap.png")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-plant", action="store_true", help="a history without planted patterns")
    parser.add_argument("--end", type=datetime.fromisoformat, help="last moment of the history (default: now)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'demo.sqlite'}"
        with SqlStore(url) as store:
            store.migrate()
            now = args.end.replace(tzinfo=args.end.tzinfo or timezone.utc) if args.end else datetime.now(timezone.utc)
            count = generate_history(store, load_playbook(PROJECT_ROOT / "prompts" / "playbook.yaml"),
                                     seed=args.seed, days=args.days, plant=not args.no_plant, end=now)
            stats = compute_stats(store, args.days, now)
        render_heatmap(stats, args.heatmap)
    print(f"{count} incidents generated; heat map written to {args.heatmap}")
    for pattern in stats.patterns:
        print("pattern:", pattern.describe())


if __name__ == "__main__":  # pragma: no cover
    main()
