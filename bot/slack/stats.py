"""`/recover stats`: the storage layer's statistics (bot.storage.stats) as Slack text plus the heat map PNG.

The numbers and the pattern finder live in the storage package (shared with `coach stats`); this
module only formats them for Slack. A store without SQL behind it gets a plain count summary.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from bot.coach.checklist import LABELS
from bot.slack.logging import get_logger
from bot.storage.api import Store

log = get_logger("slack.stats")


def _top(counts: dict[str, int], limit: int = 6) -> str:
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ranked) or "—"


def _money(values: dict[str, float]) -> str:
    return ", ".join(f"{v:,.0f} {c}" for c, v in values.items()) or "0"


def stats_report(store: Store, days: int, now: datetime, workspace: str | None = None) -> tuple[str, bytes | None]:
    """(mrkdwn text, heat map PNG or None); one workspace's incidents only when `workspace` is given."""
    try:
        from bot.storage.heatmap import render_heatmap
        from bot.storage.stats import compute_stats
        from bot.storage.store import SqlStore
    except ImportError:  # storage layer without stats: fall back to counts
        SqlStore = None  # type: ignore[assignment,misc]
    if SqlStore is None or not isinstance(store, SqlStore):
        return _plain_report(store, days, now, workspace), None
    stats = compute_stats(store, days, now, workspace)
    lines = [
        f"*Last {days} days*: {stats.total} incidents (previous {days} days: {stats.previous_total})",
        f"*By complaint:* {_top(stats.by_complaint)}",
        f"*By first tone:* {_top(stats.by_tone)}  ·  *last tone:* {_top(stats.by_tone_last)}",
        f"*Busiest hours:* {_top(stats.by_hour_of_week, 4)}  ·  *Load:* {_top(stats.by_load_band, 4)}",
    ]
    if stats.by_product:
        lines.append(f"*Products:* {_top(stats.by_product, 5)}")
    if stats.rising:
        lines.append("*Rising:* " + ", ".join(f"{r.complaint.replace('_', ' ')} {r.previous}→{r.current}" for r in stats.rising[:4]))
    lines.append(f"*Compensation cost:* {_money(stats.compensation_cost)}  ·  *Value retained:* "
                 f"{_money(stats.value_retained)} ({stats.customers_retained} customers)")
    lines.append(f"*Offers given:* {stats.offers_given}"
                 + (f" ({_top(stats.offers_by_state)})" if stats.offers_by_state else ""))
    if stats.recovery_by_apology:
        lines.append("*Recovered by apology:* " + ", ".join(
            f"{r.choice} {r.rate:.0%} of {r.incidents}" for r in stats.recovery_by_apology[:4]))
    if stats.steps_by_outcome:
        lines.append(f"*Complaint-is-a-gift steps, recovered ({stats.recovered_incidents}) vs not "
                     f"({stats.unrecovered_incidents}):* " + ", ".join(
                         f"{LABELS.get(s.step, s.step)} {s.recovered:.0%}/{s.not_recovered:.0%}"  # type: ignore[call-overload]
                         for s in stats.steps_by_outcome))
    if stats.patterns:
        lines.append("*Patterns worth a look:*\n" + "\n".join(f"• {p.describe()}" for p in stats.patterns[:5]))
    png: bytes | None = None
    try:
        with tempfile.TemporaryDirectory() as folder:
            png = render_heatmap(stats, Path(folder) / "heatmap.png").read_bytes()
    except Exception:
        log.exception("heat map failed")
    return "\n".join(lines), png


def _plain_report(store: Store, days: int, now: datetime, workspace: str | None = None) -> str:
    incidents = store.incidents_since(now - timedelta(days=days), workspace=workspace)
    by_complaint = Counter(i.complaint for i in incidents)
    by_tone = Counter(i.tone_first for i in incidents)
    resolved = sum(1 for i in incidents if i.status == "resolved")
    return (f"*Last {days} days*: {len(incidents)} incidents, {resolved} resolved\n"
            f"*By complaint:* {_top(dict(by_complaint))}\n*By first tone:* {_top(dict(by_tone))}")
