"""Rich tables of `Stats` for `coach stats` (the Slack layer renders its own blocks)."""
from __future__ import annotations

from rich.table import Table

from bot.coach.checklist import LABELS
from bot.storage.stats import Stats


def _counts_table(title: str, column: str, counts: dict[str, int], total: int, limit: int | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(column)
    table.add_column("incidents", justify="right")
    table.add_column("share", justify="right")
    for key, count in list(counts.items())[:limit]:
        table.add_row(key, str(count), f"{count / total:.0%}" if total else "-")
    return table


def _money(values: dict[str, float]) -> str:
    return ", ".join(f"{v:,.2f} {c}" for c, v in values.items()) or "0"


def _offers(stats: Stats) -> str:
    states = ", ".join(f"{state.replace('_', ' ')} {count}" for state, count in stats.offers_by_state.items())
    return f"{stats.offers_given}" + (f" ({states})" if states else "")


def steps_table(stats: Stats) -> Table:
    """Which steps of "a complaint is a gift" the recovered incidents had, next to those that did not recover."""
    table = Table(title=f"Steps of 'a complaint is a gift': recovered ({stats.recovered_incidents}) vs not "
                        f"({stats.unrecovered_incidents})", title_justify="left")
    for column in ("step", "recovered", "not recovered", "difference"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for s in stats.steps_by_outcome:
        table.add_row(LABELS.get(s.step, s.step), f"{s.recovered:.0%}", f"{s.not_recovered:.0%}",  # type: ignore[call-overload]
                      f"{(s.recovered - s.not_recovered) * 100:+.0f} pts")
    if not stats.steps_by_outcome:
        table.add_row("(no complaints in the period)", "", "", "")
    return table


def stats_tables(stats: Stats) -> list[Table]:
    """The tables in reading order: volume, where it comes from, money, recovery, patterns."""
    summary = Table(title=f"Incidents {stats.since:%Y-%m-%d} to {stats.until:%Y-%m-%d} ({stats.days} days)",
                    title_justify="left", show_header=False)
    summary.add_column()
    summary.add_column(justify="right")
    summary.add_row("incidents", str(stats.total))
    summary.add_row(f"previous {stats.days} days", str(stats.previous_total))
    summary.add_row("compensation cost (approved + given)", _money(stats.compensation_cost))
    summary.add_row("offers given (by the agent, or approved)", _offers(stats))
    summary.add_row(f"value retained ({stats.customers_retained} customers ended positive)",
                    _money(stats.value_retained))
    tables = [summary]
    hours = dict(sorted(stats.by_hour_of_week.items(), key=lambda kv: -kv[1]))
    for title, column, counts, limit in (
        ("Incidents by complaint type", "complaint", stats.by_complaint, None),
        ("Incidents by first tone", "tone", stats.by_tone, None),
        ("Busiest hours of the week (local time)", "hour of week", hours, 10),
        ("Incidents by product", "product", stats.by_product, 10),
        ("Incidents by region (timezone)", "region", stats.by_region, 10),
        ("Incidents by load (open incidents at the time)", "load band", stats.by_load_band, None),
    ):
        tables.append(_counts_table(title, column, counts, stats.total, limit))
    rising = Table(title="Rising versus the previous period", title_justify="left")
    for column in ("complaint", "now", "before", "change"):
        rising.add_column(column, justify="left" if column == "complaint" else "right")
    for r in stats.rising:
        rising.add_row(r.complaint, str(r.current), str(r.previous), f"+{r.change}")
    tables.append(rising)
    recovery = Table(title="Recovery success (tone better at the end, or positive)", title_justify="left")
    for column in ("choice", "incidents", "recovered", "rate", "mean tone shift"):
        recovery.add_column(column, justify="left" if column == "choice" else "right")
    for group, rows in (("apology", stats.recovery_by_apology), ("compensation", stats.recovery_by_compensation)):
        for r in rows:
            recovery.add_row(f"{group}: {r.choice}", str(r.incidents), str(r.recovered), f"{r.rate:.0%}",
                             f"{r.mean_tone_shift:+.2f}")
    tables.append(recovery)
    tables.append(steps_table(stats))
    patterns = Table(title="Patterns worth a look (binomial test, Bonferroni-corrected)", title_justify="left")
    for column in ("complaint", "where", "count", "of", "expected", "lift", "p (adj.)"):
        patterns.add_column(column, justify="left" if column in ("complaint", "where") else "right")
    for p in stats.patterns:
        patterns.add_row(p.complaint, f"{p.dimension.replace('_', '-')} = {p.cell}", str(p.count), str(p.cell_total),
                         f"{p.expected:.1f}", f"x{p.lift:.1f}", f"{p.p_adjusted:.2g}")
    if not stats.patterns:
        patterns.add_row("(none found)", "", "", "", "", "", "")
    tables.append(patterns)
    return tables
