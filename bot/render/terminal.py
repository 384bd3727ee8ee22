"""The coaching card as an agent sees it, for the terminal (`coach suggest`, `coach sandbox`)."""
from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.coach.checklist import checklist_plain
from bot.coach.models import Prediction, RecoveryPlan

SEVERITY_STYLE = {"low": "green", "medium": "yellow", "high": "red", "critical": "bold white on red"}


def _pred(p: Prediction) -> str:
    label = p.label.replace("_", " ")
    return f"{label} {p.confidence:.0%}" + (" (unsure)" if p.unsure else "")


def render_card(plan: RecoveryPlan) -> Panel:
    head = Text.assemble(
        ("Tone: ", "bold"), _pred(plan.tone), "   ", ("Complaint: ", "bold"), _pred(plan.complaint), "   ",
        ("Severity: ", "bold"), (plan.severity, SEVERITY_STYLE[plan.severity]), "   ",
        ("Language: ", "bold"), plan.language,
    )
    body = Table.grid(padding=(0, 1))
    body.add_column(style="bold", no_wrap=True)
    body.add_column()
    stake = plan.value_at_stake
    if plan.churn_risk:
        body.add_row(Text("CHURN RISK", style="bold red"),
                     Text(f"the customer says they may leave: {stake.lifetime_revenue:,.0f} {stake.currency} lifetime "
                          f"revenue ({stake.lifetime_margin:,.0f} margin) at stake", style="bold"))
    body.add_row("Boundary" if plan.abusive else "Apology", plan.apology)
    if plan.question:
        body.add_row("Ask", plan.question)
    if plan.compensation:
        c = plan.compensation
        tag = f"needs {c.authority} approval" if c.needs_approval else "you may give this now"
        body.add_row("Offer", f"{c.offer} ({c.value:g} {c.currency}, {tag})")
        if c.customer_text:
            body.add_row("Say", c.customer_text)
    if plan.compensation_above:
        c = plan.compensation_above
        body.add_row("Above you", f"{c.offer} ({c.value:g} {c.currency}, a {c.authority} can approve)")
    body.add_row("At stake", f"{stake.lifetime_revenue:,.0f} {stake.currency} lifetime revenue"
                 + (" (high-value customer)" if stake.high_value else "") + f", from the {stake.value_source}"
                 + (f"; {stake.currency_note}" if stake.currency_note else ""))
    if plan.customer_memory is not None:
        memory = plan.customer_memory
        body.add_row("History", f"{len(memory.incidents)} earlier incident(s)"
                     + (f", flagged: {memory.flags[0]}" if memory.flags else "")
                     + (f", last given {memory.last_given}" if memory.last_given else ""))
    if plan.checklist is not None:
        body.add_row("Steps", checklist_plain(plan.checklist))
    for item in plan.follow_up:
        body.add_row(f"Follow-up {item.when}", item.action)
    why = Text("\n".join(f"• {reason}" for reason in plan.why), style="dim")
    return Panel(Group(head, Text(""), body, Text(""), why), title="Recovery coach (only you see this)",
                 border_style=SEVERITY_STYLE[plan.severity].split()[-1])
