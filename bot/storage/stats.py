"""`coach stats` and `/recover stats`: where incidents come from, what recovery costs and what it saves."""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.coach.checklist import STEPS
from bot.storage.patterns import Pattern, find_patterns
from bot.storage.records import SPENT_STATES, IncidentRecord, hour_of_week_label, load_band, load_records
from bot.storage.store import SqlStore
from bot.storage.tables import Compensation, to_utc

HOURS_OF_WEEK = 168
LOAD_BAND_ORDER = ("0-2", "3-5", "6-10", "11+")


@dataclass(frozen=True)
class Rising:
    complaint: str
    current: int
    previous: int
    change: int


@dataclass(frozen=True)
class RecoveryRate:
    choice: str
    incidents: int
    recovered: int          # ended better than they started, or positive
    rate: float
    mean_tone_shift: float  # last minus first tone score


@dataclass(frozen=True)
class StepShare:
    """How often one step of "a complaint is a gift" was done in recovered incidents and in the others."""

    step: str
    recovered: float        # share of recovered incidents that had the step
    not_recovered: float    # share of the incidents that did not recover


@dataclass
class Stats:
    since: datetime
    until: datetime
    days: int
    total: int
    previous_total: int
    by_complaint: dict[str, int]
    by_tone: dict[str, int]                 # tone of the first customer message
    by_tone_last: dict[str, int]
    by_hour_of_week: dict[str, int]         # 'Wed 15h' (customer's local time when known) -> count
    by_product: dict[str, int]
    by_region: dict[str, int]
    by_load_band: dict[str, int]
    heat: dict[str, list[int]]              # complaint -> 168 counts, Monday 00h first
    rising: list[Rising]
    compensation_cost: dict[str, float]     # currency -> approved + given
    value_retained: dict[str, float]        # currency -> lifetime value of customers who ended positive
    customers_retained: int
    recovery_by_apology: list[RecoveryRate]
    recovery_by_compensation: list[RecoveryRate]
    patterns: list[Pattern] = field(default_factory=list)
    offers_given: int = 0                   # incidents with an offer given (by the agent, or approved)
    offers_by_state: dict[str, int] = field(default_factory=dict)  # each incident's furthest compensation state
    steps_by_outcome: list[StepShare] = field(default_factory=list)  # the 8 steps, recovered vs not
    recovered_incidents: int = 0            # complaint incidents that did not start positive, and recovered
    unrecovered_incidents: int = 0          # ... and did not

    def to_dict(self) -> dict:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        data["patterns"] = [dict(p.to_dict(), description=p.describe()) for p in self.patterns]
        return data


def compute_stats(source: SqlStore | Session, days: int, now: datetime, workspace: str | None = None) -> Stats:
    """Stats of incidents opened in the `days` before `now`, compared with the `days` before that
    (one workspace's only when `workspace` is given: multi-workspace mode never mixes them)."""
    until = to_utc(now)
    since = until - timedelta(days=days)
    if isinstance(source, SqlStore):
        with source.read_session() as session:
            current = load_records(session, since, until, workspace)
            previous = load_records(session, since - timedelta(days=days), since, workspace)
    else:
        current = load_records(source, since, until, workspace)
        previous = load_records(source, since - timedelta(days=days), since, workspace)
    return stats_from_records(current, previous, since, until, days)


def stats_from_records(current: Sequence[IncidentRecord], previous: Sequence[IncidentRecord],
                       since: datetime, until: datetime, days: int) -> Stats:
    heat: dict[str, list[int]] = defaultdict(lambda: [0] * HOURS_OF_WEEK)
    for record in current:
        heat[record.complaint][record.hour_of_week] += 1
    hours = Counter(r.hour_of_week for r in current)
    bands = Counter(load_band(r.load) for r in current)
    cost, retained, customers = _money(current)
    return Stats(
        since=since, until=until, days=days, total=len(current), previous_total=len(previous),
        by_complaint=_counts(r.complaint for r in current),
        by_tone=_counts(r.tone_first for r in current),
        by_tone_last=_counts(r.tone_last for r in current),
        by_hour_of_week={hour_of_week_label(h): hours[h] for h in sorted(hours)},
        by_product=_counts(r.product or "unknown" for r in current),
        by_region=_counts(r.region or "unknown" for r in current),
        by_load_band={band: bands[band] for band in LOAD_BAND_ORDER if bands[band]},
        heat=dict(sorted(heat.items(), key=lambda kv: -sum(kv[1]))),
        rising=_rising(current, previous),
        compensation_cost=cost, value_retained=retained, customers_retained=customers,
        recovery_by_apology=_recovery(current, lambda r: "coached apology" if r.apology_used else "own words"),
        recovery_by_compensation=_recovery(current, lambda r: r.compensation),
        patterns=find_patterns(current),
        offers_given=sum(1 for r in current if r.compensation_state in SPENT_STATES),
        offers_by_state=_counts(r.compensation_state for r in current if r.compensation_state),
        **_steps(current),
    )


def _steps(records: Sequence[IncidentRecord]) -> dict:
    """Which steps successful recoveries had: the share of recovered incidents with each step, against the share
    of the others, over the same incidents as the recovery rates (complaints that did not start positive)."""
    group = [r for r in records if r.complaint != "none" and r.tone_first != "positive"]
    good, bad = [r for r in group if r.recovered], [r for r in group if not r.recovered]

    def share(rows: list[IncidentRecord], step: str) -> float:
        return round(sum(step in r.steps for r in rows) / len(rows), 3) if rows else 0.0

    return {"steps_by_outcome": [StepShare(s, share(good, s), share(bad, s)) for s in STEPS] if group else [],
            "recovered_incidents": len(good), "unrecovered_incidents": len(bad)}


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())


def _rising(current: Sequence[IncidentRecord], previous: Sequence[IncidentRecord], top: int = 5) -> list[Rising]:
    now, before = Counter(r.complaint for r in current), Counter(r.complaint for r in previous)
    rising = [Rising(c, now[c], before[c], now[c] - before[c]) for c in now if now[c] > before[c]]
    return sorted(rising, key=lambda r: (-r.change, -r.current, r.complaint))[:top]


def _money(records: Sequence[IncidentRecord]) -> tuple[dict[str, float], dict[str, float], int]:
    """Compensation spent, and the lifetime value of complaining customers whose last tone was positive
    (each customer counted once, at their latest incident's value)."""
    cost: dict[str, float] = defaultdict(float)
    for r in records:
        if r.compensation_cost:
            cost[r.compensation_currency or r.currency or "?"] += r.compensation_cost
    latest: dict[str, IncidentRecord] = {}
    for r in records:  # oldest first, so the latest incident wins
        if r.complaint != "none":
            latest[r.customer] = r
    retained: dict[str, float] = defaultdict(float)
    kept = [r for r in latest.values() if r.tone_last == "positive" and r.lifetime_value]
    for r in kept:
        retained[r.currency or "?"] += float(r.lifetime_value or 0)
    return ({k: round(v, 2) for k, v in cost.items()}, {k: round(v, 2) for k, v in retained.items()}, len(kept))


def _recovery(records: Sequence[IncidentRecord], choice: Callable[[IncidentRecord], str]) -> list[RecoveryRate]:
    """Recovery success by the choice made, over complaint incidents that did not start positive."""
    groups: dict[str, list[IncidentRecord]] = defaultdict(list)
    for r in records:
        if r.complaint != "none" and r.tone_first != "positive":
            groups[choice(r)].append(r)
    rates = []
    for name, group in groups.items():
        recovered = sum(r.recovered for r in group)
        rates.append(RecoveryRate(name, len(group), recovered, round(recovered / len(group), 3),
                                  round(sum(r.tone_shift for r in group) / len(group), 3)))
    return sorted(rates, key=lambda r: (-r.incidents, r.choice))


@dataclass(frozen=True)
class CompensationDecision:
    """Where one compensation stands: who moved it last and when (an approval's decider and time)."""

    id: int
    state: str
    offer: str
    by: str
    at: datetime

    @property
    def decided(self) -> bool:
        return self.state in ("approved", "denied")


def compensation_decision(store: SqlStore, compensation_id: int) -> CompensationDecision | None:
    """Read one compensation's state: a second Approve/Deny click is answered with who decided and when.

    Read-only; the decision itself is made once through `OnceKeys` and `Store.update_compensation`.
    """
    with store.read_session() as session:
        row = session.get(Compensation, compensation_id)
        if row is None:
            return None
        return CompensationDecision(row.id, row.state, row.offer, row.approver or row.updated_by, to_utc(row.updated_at))
