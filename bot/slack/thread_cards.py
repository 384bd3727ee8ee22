"""Less noise (issue 12, item 5): coach who works the thread, one card per thread per agent, kept current.

With COACH_CARD_MODE=thread (the default):
- who: the staff engaged in the thread (they posted in it, or sent, offered or resolved from its card), else
  the channel's on-duty agents (`/recover on-duty @a @b`), else every agent in the channel. Every recipient
  is still one the role check established as ours and who is in the channel (fail closed).
- what: a message with nothing to fix (planner `message_path` "nothing_to_fix", e.g. "thanks!") sends nothing.
- how: the first card in a thread is the full card. Ephemeral messages cannot be edited with chat.update, so a
  later message replaces the agent's card through the response_url of their last click on it (Slack honours
  one for 30 minutes and 5 uses), else posts a compact "updated plan" card that says it supersedes the
  earlier one and what changed. Which card is current is kept per thread and agent in the database
  (bot/storage/thread_cards.py), so every worker and a restarted one agree.
COACH_CARD_MODE=every_message keeps the old way: a full card per customer message to every agent.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk.webhook import WebhookClient

from bot.coach.checklist import checklist_line
from bot.coach.models import RecoveryPlan
from bot.coach.thread_labels import WHY_PREFIX
from bot.labels import Role
from bot.render import blocks as ui
from bot.slack.logging import get_logger

if TYPE_CHECKING:
    from slack_bolt import Respond

    from bot.slack.services import Services

log = get_logger("slack.thread_cards")
CARD_BUTTONS = {ui.SEND_APOLOGY, ui.OFFER, ui.OFFER_ABOVE, ui.WRONG_LABEL, ui.RESOLVED}
ENGAGING_BUTTONS = {ui.SEND_APOLOGY, ui.OFFER, ui.OFFER_ABOVE, ui.RESOLVED}  # acting in the thread, not labelling
RESPONSE_URL_SECONDS = 5.0
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|\b([UW][A-Z0-9]{6,})\b")
UPDATED_NOTE = ":arrows_counterclockwise: Updated for the customer's latest message in this thread."
ON_DUTY_HELP = ("`/recover on-duty @agent1 @agent2` sets who is coached in this channel's threads nobody is engaged "
                "in yet; `/recover on-duty off` removes the list; `/recover on-duty` shows it.")


def thread_mode(services: Services) -> bool:
    return services.settings.coach_card_mode == "thread"


# ---------------------------------------------------------------------------- who is coached
def coached_agents(services: Services, workspace: str, channel: str, thread_ts: str,
                   agents: list[str]) -> tuple[list[str], str]:
    """The recipients among `agents` (the channel's established agents) and why: engaged, on_duty or channel.

    Only names in `agents` are ever returned: an engaged agent who left the channel, or whose side can no
    longer be established, gets nothing. An on-duty list with nobody of it in the channel coaches everyone
    rather than nobody.
    """
    eligible = set(agents)
    cards = services.store.thread_cards
    engaged = [a for a in cards.engaged(workspace, channel, thread_ts) if a in eligible]
    if engaged:
        return engaged, "engaged"
    duty = cards.on_duty(workspace, channel)
    if duty is not None:
        on = [a for a in duty if a in eligible]
        if on:
            return on, "on_duty"
        log.warning("no on-duty agent is in the channel: every agent coached", extra={"channel": channel})
    return agents, "channel"


def record_engaged(services: Services, workspace: str, channel: str, thread_ts: str, agent: str) -> None:
    """An agent acted in a thread; a failure only means they are not yet recorded (logged, never raised)."""
    try:
        services.store.thread_cards.record_agent(workspace, channel, thread_ts, agent)
    except Exception as exc:
        log.warning("engaged agent not recorded", extra={"channel": channel, "agent": agent,
                                                        "error": type(exc).__name__})


# ---------------------------------------------------------------------------- the cards
def plan_summary(plan: RecoveryPlan) -> dict[str, Any]:
    """What a card said, kept to tell the agent what changed (labels and offer, never customer text)."""
    return {"tone": plan.tone.label, "complaint": plan.complaint.label, "severity": plan.severity,
            "offer": plan.compensation.offer if plan.compensation else None, "churn": plan.churn_risk,
            "abusive": plan.abusive}


def changes(before: dict[str, Any], plan: RecoveryPlan) -> list[str]:
    """'severity medium → high', 'new offer: …': what differs from the card the agent holds."""
    now = plan_summary(plan)
    said: list[str] = []
    for key in ("tone", "complaint", "severity"):
        if before.get(key) is not None and before.get(key) != now[key]:
            said.append(f"{key} {str(before[key]).replace('_', ' ')} → {str(now[key]).replace('_', ' ')}")
    if now["offer"] and now["offer"] != before.get("offer"):
        said.append(f"new offer: {now['offer']}")
    if now["churn"] and not before.get("churn"):
        said.append("the customer now says they may leave")
    if now["abusive"] and not before.get("abusive"):
        said.append("abusive: set a boundary")
    return said


def update_text(plan: RecoveryPlan) -> str:
    """Notification fallback of an update: labels only, never the customer's words."""
    return "Recovery coach, updated plan: " + ui.card_text(plan).removeprefix("Recovery coach: ")


def compact_card(plan: RecoveryPlan, ctx: ui.CardContext, before: dict[str, Any], note: str | None = None) -> list[ui.Block]:
    """The short card that supersedes the agent's earlier one: what changed, what to say, the buttons."""
    changed = changes(before, plan)
    new_offer = plan.compensation is not None and plan.compensation.offer != before.get("offer")
    blocks: list[ui.Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            f"{ui.SEVERITY_EMOJI[plan.severity]} *Updated plan* — supersedes your earlier card in this thread "
            "(only you see this)")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"*Tone:* {plan.tone.label}  ·  *Complaint:* {plan.complaint.label.replace('_', ' ')}  ·  "
            f"*Severity:* {plan.severity}  ·  " + ("*Changed:* " + "; ".join(changed) if changed
                                                  else "Same plan; the customer wrote again."))[:3000]}]},
    ]
    carried = [w for w in plan.why if w.startswith(WHY_PREFIX)]
    if carried:  # the labels come from earlier in the thread (follow_up_labels): say so, as the full card does
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": carried[0][:3000]}]})
    if plan.checklist is not None:  # the steps done so far in this thread: one line, as on the full card
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": checklist_line(plan.checklist)}]})
    if note:
        blocks.insert(0, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
        f"*{'Boundary' if plan.abusive else 'Apology'}*\n{plan.apology}"
        + (f"\n*Ask*\n{plan.question}" if plan.question else "")
        + (f"\n*Offer*\n{plan.compensation.offer}" if plan.compensation and new_offer else ""))[:3000]}})
    actions = next((b for b in ui.coaching_card(plan, ctx) if b.get("type") == "actions"), None)
    if actions is not None:
        blocks.append(actions)
    return blocks


def replace_card(url: str, card: dict[str, Any]) -> bool:
    """Replace the agent's ephemeral card in place through a click's response_url; False when Slack refused."""
    try:
        response = WebhookClient(url, timeout=int(RESPONSE_URL_SECONDS)).send_dict(
            {"replace_original": True, "response_type": "ephemeral", "text": card["text"], "blocks": card["blocks"]})
    except Exception as exc:  # expired, network: the compact update goes out instead
        log.warning("response_url replacement failed", extra={"error": type(exc).__name__})
        return False
    if response.status_code != 200:
        log.warning("response_url replacement refused", extra={"status": response.status_code})
        return False
    return True


def deliver(services: Services, workspace: str, agents: list[str], plan_for: Callable[[Role], RecoveryPlan],
            ctx: ui.CardContext, post: Callable[[dict[str, Any]], bool], note: str | None = None,
            edit: bool = False) -> int:
    """Each agent's card for this thread: the full card first, then a replacement or a compact update.

    `post` sends one chat.postEphemeral (queuing it for re-delivery when Slack refuses); returns cards shown.
    A message older than the card an agent holds sends nothing (that card saw it). Never raises: when the
    card store fails, the agent gets the full card, as in the old mode.
    """
    shown = 0
    for agent in agents:
        plan = plan_for(services.roles.authority(agent))
        full = {"channel": ctx.channel, "user": agent, "thread_ts": ctx.thread_ts, "text": ui.card_text(plan),
                "blocks": _with_note(ui.coaching_card(plan, ctx), note)}
        try:
            held = services.store.thread_cards.begin_card(workspace, ctx.channel, ctx.thread_ts, agent,
                                                          ctx.message_ts, plan_summary(plan), same_message=edit)
        except Exception as exc:
            log.warning("card store unavailable: full card", extra={"incident": ctx.incident_id,
                                                                    "error": type(exc).__name__})
            shown += post(full)
            continue
        if held is False:
            continue
        if held is None:
            kind, card = "full", full
        else:
            replaced = {**full, "blocks": _with_note(ui.coaching_card(plan, ctx), note or UPDATED_NOTE)}
            if held.response_url and replace_card(held.response_url, replaced):
                _posted(services, workspace, ctx, agent, "replaced")
                shown += 1
                continue
            kind = "update"
            card = {**full, "text": update_text(plan), "blocks": compact_card(plan, ctx, held.summary, note)}
        shown += post(card)
        _posted(services, workspace, ctx, agent, kind)
    return shown


def _with_note(blocks: list[ui.Block], note: str | None) -> list[ui.Block]:
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}, *blocks] if note else blocks


def _posted(services: Services, workspace: str, ctx: ui.CardContext, agent: str, kind: str) -> None:
    try:
        services.store.thread_cards.card_posted(workspace, ctx.channel, ctx.thread_ts, agent, kind)
    except Exception as exc:  # the card is out; the next update may post a compact card instead of replacing
        log.warning("card state not stored", extra={"incident": ctx.incident_id, "error": type(exc).__name__})


# ---------------------------------------------------------------------------- clicks and /recover on-duty
def register(app: App, services: Services) -> None:
    def remember_card_click(body: dict, context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002
        """After the replay check: a click on a thread card keeps its response_url (to replace that card)."""
        if thread_mode(services) and body.get("type") == "block_actions":
            remember_click(services, body, context.team_id or "")
        next()

    app.use(remember_card_click)


def remember_click(services: Services, body: dict, workspace: str) -> bool:
    """Keep the response_url of an agent's click on their ephemeral card; record them as engaged when the
    click acts in the thread (send, offer, resolve). True when a response_url was kept. Never raises."""
    action = (body.get("actions") or [{}])[0]
    container = body.get("container") or {}
    url, user = body.get("response_url"), (body.get("user") or {}).get("id")
    if action.get("action_id") not in CARD_BUTTONS or not user:
        return False
    try:
        ctx, _ = ui.parse_value(str(action.get("value") or ""))
    except (ValueError, KeyError, TypeError):
        return False
    if action["action_id"] in ENGAGING_BUTTONS and services.roles.is_agent(user):
        record_engaged(services, workspace, ctx.channel, ctx.thread_ts, user)
    if not url or not container.get("is_ephemeral"):
        return False
    try:  # only a card this agent holds in that thread is updated (no row: nothing kept)
        return services.store.thread_cards.remember_click(workspace, ctx.channel, ctx.thread_ts, user, url)
    except Exception as exc:
        log.warning("click's response_url not kept", extra={"incident": ctx.incident_id, "error": type(exc).__name__})
        return False


def on_duty_command(services: Services, command: dict, respond: Respond, args: list[str]) -> None:
    """`/recover on-duty [@a @b | off]`: staff see the channel's on-duty agents; supervisors, leads and admins set
    them. Anyone else (a customer, a side that cannot be established) is told nothing (fail closed)."""
    user, channel = command["user_id"], command.get("channel_id") or ""
    workspace = command.get("team_id") or ""
    cards = services.store.thread_cards
    if not services.roles.is_internal_staff(user) and not services.roles.is_supervisor(user):
        respond(text="Only our staff can see or set who is on duty.")  # a customer learns nothing of the rota
        return
    if not args:
        duty = cards.on_duty(workspace, channel)
        who = ", ".join(f"<@{a}>" for a in duty) if duty else "no list: threads nobody is engaged in go to every agent"
        respond(text=f"On duty in <#{channel}>: {who}.\n{ON_DUTY_HELP}")
        return
    if not services.roles.is_supervisor(user):
        services.store.record_audit(user, "recover on-duty", "not a supervisor", allowed=False)
        respond(text="Only supervisors, leads and admins can set who is on duty (COACH_SUPERVISORS / COACH_LEADS / "
                     "COACH_ADMINS).")
        return
    if args[0].lower() in ("off", "clear", "none"):
        cards.set_on_duty(workspace, channel, [], by=user)
        services.store.record_audit(user, "recover on-duty", f"{channel}: cleared", allowed=True)
        respond(text=f"On-duty list removed for <#{channel}>: threads nobody is engaged in go to every agent.")
        return
    named = list(dict.fromkeys(a or b for a, b in MENTION.findall(" ".join(args))))
    if not named:
        respond(text=f"Name the agents with @mentions. {ON_DUTY_HELP}")
        return
    refused = [u for u in named if not services.roles.is_agent(u)]  # a customer or an unknown side: never
    if refused:
        respond(text="Not set: " + ", ".join(f"<@{u}>" for u in refused) + " cannot be established as one of our "
                     "agents, so they can't be on duty.")
        return
    cards.set_on_duty(workspace, channel, named, by=user)
    services.store.record_audit(user, "recover on-duty", f"{channel}: {len(named)} agent(s)", allowed=True)
    respond(text=f"On duty in <#{channel}>: " + ", ".join(f"<@{u}>" for u in named)
            + ". They are coached in threads nobody is engaged in yet; whoever replies in a thread is coached there.")
