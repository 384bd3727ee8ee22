"""Block Kit for everything the bot shows in Slack: the coaching card, approval requests, modals, App Home.

Pure functions of their inputs (no Slack calls) so the same card is unit-testable and the sandbox can
print it. Buttons carry a compact JSON context (incident, channel, thread) in their `value`, so any
worker can handle the click without shared memory.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.coach.checklist import checklist_line
from bot.coach.models import CompensationSuggestion, CustomerMemory, Prediction, RecoveryPlan, ValueAtStake
from bot.labels import COMPLAINTS, TONES

SEND_APOLOGY = "coach_send_apology"
OFFER = "coach_offer"
OFFER_ABOVE = "coach_offer_above"
WRONG_LABEL = "coach_wrong_label"
RESOLVED = "coach_resolved"
APPROVE = "coach_approve"
DENY = "coach_deny"
CORRECTION_VIEW = "coach_correction"
PLAYBOOK_VIEW = "coach_playbook_upload"
SEVERITY_EMOJI = {"low": ":large_green_circle:", "medium": ":large_yellow_circle:", "high": ":red_circle:",
                  "critical": ":rotating_light:"}
MAX_VALUE = 2000  # Slack's limit for a button value
Block = dict[str, Any]


@dataclass(frozen=True)
class CardContext:
    """Where the card's incident lives; rides along in every button's value."""

    incident_id: int
    channel: str
    thread_ts: str
    message_ts: str

    def value(self, **extra: Any) -> str:
        data = {"i": self.incident_id, "c": self.channel, "t": self.thread_ts, "m": self.message_ts, **extra}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if len(text) > MAX_VALUE:  # only a very long apology gets here: the handler re-plans instead
            text = json.dumps({k: v for k, v in data.items() if k != "text"}, separators=(",", ":"))
        return text


def parse_value(value: str) -> tuple[CardContext, dict[str, Any]]:
    data = json.loads(value)
    ctx = CardContext(int(data.pop("i")), data.pop("c"), data.pop("t"), data.pop("m"))
    return ctx, data


def _pred(p: Prediction) -> str:
    return f"{p.label.replace('_', ' ')} {p.confidence:.0%}" + (" _(unsure)_" if p.unsure else "")


def _money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}" if value >= 100 else f"{value:g} {currency}"


def _offer_line(c: CompensationSuggestion) -> str:
    tag = f"needs *{c.authority}* approval" if c.needs_approval else "yours to give now"
    return f"{c.offer} ({_money(c.value, c.currency)}, {tag})"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def memory_line(memory: CustomerMemory) -> str:
    """The customer's history in one line for the card (the full list is in `/recover`)."""
    if not memory.incidents:
        return ":bust_in_silhouette: *Customer memory:* first contact, no earlier incidents."
    latest = memory.incidents[0]
    parts = [f"{len(memory.incidents)} earlier incident{'s' if len(memory.incidents) > 1 else ''} "
             f"(last {latest.opened_at:%b %d}: {latest.complaint.replace('_', ' ')}, {latest.severity}, {latest.status})"]
    if memory.flags:
        parts.append(f":triangular_flag_on_post: flagged: {memory.flags[0][:140]}")
    if memory.open_follow_ups:
        parts.append(f"{len(memory.open_follow_ups)} open follow-up{'s' if len(memory.open_follow_ups) > 1 else ''}")
    if memory.last_given:
        parts.append(f"last given: {memory.last_given}")
    return ":card_index_dividers: *Customer memory:* " + " · ".join(parts)


def memory_blocks(memory: CustomerMemory) -> list[Block]:
    """Everything the memory holds, for `/recover`: each earlier incident with its notes, and open follow-ups."""
    if not memory.incidents:
        return [_section("*Customer memory*\nFirst contact: no earlier incidents.")]
    lines = []
    for incident in memory.incidents:
        head = (f"• {incident.opened_at:%Y-%m-%d %H:%M} UTC — {incident.complaint.replace('_', ' ')}, {incident.severity}, "
                f"tone {incident.tone_first} → {incident.tone_last}, {incident.status}")
        notes = ([f"    flagged: {flag}" for flag in incident.flags] + [f"    given: {what}" for what in incident.given]
                 + ([f"    resolved by {incident.resolved}"] if incident.resolved else []))
        lines.append("\n".join([head, *notes]))
    if memory.open_follow_ups:
        lines.append("*Open follow-ups*\n" + "\n".join(f"• {item}" for item in memory.open_follow_ups))
    return [_section("*Customer memory*\n" + "\n".join(lines))]


def value_origin(stake: ValueAtStake) -> str:
    """Where the value at stake came from (customers table, Slack profile, playbook default), the tier, and a
    recorded value in another currency, which is shown rather than silently mixed in."""
    line = f"_Value from the {stake.value_source}_" + (f" · tier *{stake.tier}*" if stake.tier else "")
    return line + (f"\n:warning: {stake.currency_note}" if stake.currency_note else "")


def card_text(plan: RecoveryPlan) -> str:
    """Notification fallback: labels only, never the customer's words."""
    return (f"Recovery coach: {plan.tone.label} · {plan.complaint.label.replace('_', ' ')} · "
            f"severity {plan.severity}")


def coaching_card(plan: RecoveryPlan, ctx: CardContext, full: bool = False) -> list[Block]:
    """The agent's private card; `full` adds the planner's reasons (for /recover)."""
    stake = plan.value_at_stake
    blocks: list[Block] = [
        _section(f"{SEVERITY_EMOJI[plan.severity]} *Recovery coach* — only you see this"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"*Tone:* {_pred(plan.tone)}  ·  *Complaint:* {_pred(plan.complaint)}  ·  "
            f"*Severity:* {plan.severity}  ·  *Language:* {plan.language}")}]},
    ]
    if plan.customer_memory is not None:  # so the customer never has to tell the story twice
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": memory_line(plan.customer_memory)[:3000]}]})
    if plan.checklist is not None:  # the 8 steps of "a complaint is a gift", those done in this thread ticked
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": checklist_line(plan.checklist)}]})
    if plan.churn_risk:  # the seeds: count what a lost customer costs, so it leads the card
        blocks.append(_section(
            f":warning: *Churn risk — the customer says they may leave.* "
            f"*{_money(stake.lifetime_revenue, stake.currency)}* lifetime revenue "
            f"({_money(stake.lifetime_margin, stake.currency)} margin) at stake"
            + (", a *high-value customer*" if stake.high_value else "") + f". Fix it now, in full.\n{value_origin(stake)}"))
    blocks.append(_section(f"*{'Boundary' if plan.abusive else 'Apology'}*\n{plan.apology}"))
    if plan.question:
        blocks.append(_section(f"*Ask*\n{plan.question}"))
    if plan.compensation:
        said = f"\n_Tell the customer:_ {plan.compensation.customer_text}" if plan.compensation.customer_text else ""
        blocks.append(_section(f"*Offer*\n{_offer_line(plan.compensation)}{said}"))
    if plan.compensation_above:
        c = plan.compensation_above
        blocks.append(_section(f"*Above you*\n{c.offer} ({_money(c.value, c.currency)}, a {c.authority} can approve)"))
    if not plan.churn_risk:  # with a churn threat it leads the card instead
        blocks.append(_section(
            f"*Value at stake*\n{_money(stake.lifetime_revenue, stake.currency)} lifetime revenue, "
            f"{_money(stake.lifetime_margin, stake.currency)} margin" + (" — *high-value customer*" if stake.high_value else "")
            + f"\n{value_origin(stake)}"))
    if plan.follow_up:
        blocks.append(_section("*Follow-ups*\n" + "\n".join(f"• `{f.when}` {f.action}" for f in plan.follow_up)))
    if full and plan.customer_memory is not None:
        blocks += memory_blocks(plan.customer_memory)
    if full and plan.why:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(f"• {w}" for w in plan.why)[:3000]}]})
    blocks.append({"type": "actions", "block_id": "coach_actions", "elements": _buttons(plan, ctx)})
    return blocks


def _buttons(plan: RecoveryPlan, ctx: CardContext) -> list[Block]:
    buttons: list[Block] = [
        {"type": "button", "action_id": SEND_APOLOGY, "style": "primary",
         "text": {"type": "plain_text", "text": "Send boundary" if plan.abusive else "Send apology"},
         "value": ctx.value(text=plan.apology)},
    ]
    own = plan.compensation if plan.compensation and not plan.compensation.needs_approval else None
    for action_id, option in ((OFFER, plan.compensation), (OFFER_ABOVE, plan.compensation_above)):
        if option is None:
            continue
        label = "Offer compensation" if not option.needs_approval else f"Ask {option.authority} approval"
        extra: dict[str, Any] = {"o": option.model_dump()}
        if option.needs_approval and own is not None:  # what the agent may give meanwhile (the fallback)
            extra["f"] = own.offer
        buttons.append({"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label},
                        "value": ctx.value(**extra)})
    buttons.append({"type": "button", "action_id": WRONG_LABEL, "text": {"type": "plain_text", "text": "Wrong tone/type"},
                    "value": ctx.value(tone=plan.tone.label, complaint=plan.complaint.label)})
    buttons.append({"type": "button", "action_id": RESOLVED, "text": {"type": "plain_text", "text": "Resolved"},
                    "value": ctx.value(f=[[f.when, f.action] for f in plan.follow_up])})
    return buttons


def approval_request(agent: str, option: CompensationSuggestion, ctx: CardContext, compensation_id: int,
                     permalink: str | None, refs: list[list[str]] | None = None, asked: list[str] | None = None,
                     fallback: str | None = None) -> list[Block]:
    """The DM each eligible approver gets. `refs` ([channel, ts] of every approver's copy) ride in the buttons so
    that whoever decides first updates all copies; the option's customer words are left out if the value is full."""
    where = f"<{permalink}|the thread>" if permalink else f"<#{ctx.channel}>"
    data: dict[str, Any] = {"k": compensation_id, "a": agent, "o": option.model_dump(), "r": refs or []}
    if fallback:
        data["f"] = fallback
    value = ctx.value(**data)
    if len(value) > MAX_VALUE:
        data["o"] = option.model_dump(exclude={"customer_text"})
        value = ctx.value(**data)
    others = [u for u in (asked or []) if u]
    who = f" Also asked: {', '.join(f'<@{u}>' for u in others)}; the first answer decides." if len(others) > 1 else ""
    return [
        _section(f":raised_hand: <@{agent}> asks to offer *{option.offer}* "
                 f"({_money(option.value, option.currency)}; needs a {option.authority}) in {where}.{who}"),
        {"type": "actions", "block_id": "coach_approval", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "text": {"type": "plain_text", "text": "Approve"},
             "value": value},
            {"type": "button", "action_id": DENY, "style": "danger", "text": {"type": "plain_text", "text": "Deny"},
             "value": value},
        ]},
    ]


def approval_decided(agent: str, option: CompensationSuggestion, approver: str, approved: bool,
                     at: datetime | None = None) -> list[Block]:
    """What every approver's copy becomes once someone decided: final, with who and when."""
    verdict = ":white_check_mark: Approved" if approved else ":no_entry: Denied"
    when = f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""
    return [_section(f"{verdict} by <@{approver}>{when}: *{option.offer}* for <@{agent}>'s customer. "
                     "This decision is final.")]


def _options(labels: tuple[str, ...]) -> list[Block]:
    return [{"text": {"type": "plain_text", "text": label.replace("_", " ")}, "value": label} for label in labels]


def correction_modal(ctx: CardContext, tone: str, complaint: str) -> Block:
    """The *Wrong tone/type* form. Both heads start empty and are optional: only what the agent picks is a
    correction, so an untouched guess is never fed back to training as if a person had confirmed it."""
    def select(block_id: str, label: str, labels: tuple[str, ...]) -> Block:
        return {"type": "input", "block_id": block_id, "optional": True, "label": {"type": "plain_text", "text": label},
                "element": {"type": "static_select", "action_id": "value", "options": _options(labels),
                            "placeholder": {"type": "plain_text", "text": "unchanged"}}}

    said = f"tone *{tone.replace('_', ' ')}*, complaint *{complaint.replace('_', ' ')}*" if tone and complaint else "—"
    return {
        "type": "modal", "callback_id": CORRECTION_VIEW, "private_metadata": ctx.value(tone=tone, complaint=complaint),
        "title": {"type": "plain_text", "text": "Correct the coach"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            _section(f"The coach read {said}. Pick only what it got wrong and leave the rest empty; "
                     "your correction is kept for retraining."),
            select("tone", "Tone", TONES),
            select("complaint", "Complaint type", COMPLAINTS),
        ],
    }


def playbook_modal() -> Block:
    return {
        "type": "modal", "callback_id": PLAYBOOK_VIEW,
        "title": {"type": "plain_text", "text": "Upload playbook"},
        "submit": {"type": "plain_text", "text": "Validate & apply"},
        "blocks": [
            _section("Upload the playbook YAML (or paste a short one). It is validated before it goes live; "
                     "a bad one is refused and the live playbook stays."),
            {"type": "input", "block_id": "file", "optional": True, "label": {"type": "plain_text", "text": "YAML file"},
             "element": {"type": "file_input", "action_id": "value", "filetypes": ["yaml", "yml", "txt"], "max_files": 1}},
            {"type": "input", "block_id": "text", "optional": True, "label": {"type": "plain_text", "text": "…or paste YAML"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True}},
            {"type": "input", "block_id": "note", "optional": True, "label": {"type": "plain_text", "text": "Note"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 200}},
        ],
    }


def home_view(playbook_lines: list[str], incidents: list[str], follow_ups: list[str],
              threads: list[str] | None = None) -> Block:
    def listing(title: str, lines: list[str], empty: str) -> list[Block]:
        body = "\n".join(lines[:40]) if lines else f"_{empty}_"
        return [{"type": "header", "text": {"type": "plain_text", "text": title}}, _section(body)]

    return {"type": "home", "blocks": [
        *listing("Playbook", playbook_lines, "no playbook loaded"),
        {"type": "divider"},
        *listing("Today's incidents", incidents, "none today"),
        {"type": "divider"},
        *listing("Your follow-ups due", follow_ups, "nothing due"),
        *([{"type": "divider"}, *listing("Your open threads", threads, "no open threads")] if threads is not None else []),
    ]}
