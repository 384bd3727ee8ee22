"""Customer message in -> private coaching card out, to each agent in the channel.

The Bolt listener only filters, claims the event id in the database (so Slack's retries and other
workers never produce a second card) and queues the work; classification and planning run on the
bounded inference executor, never on Bolt's listener pool, so the HTTP ack is never late.
Nothing is posted visibly in the channel: cards are `chat.postEphemeral` to agents only.
"""
from __future__ import annotations

from datetime import datetime, timezone

from slack_bolt import App, BoltContext

from bot.coach.memory import load_profile
from bot.coach.models import RecoveryPlan, ThreadMessage
from bot.labels import Role
from bot.render.blocks import CardContext, card_text, coaching_card
from bot.slack.alerts import send_alerts
from bot.slack.logging import fingerprint, get_logger
from bot.slack.nudges import check_agent_reply
from bot.slack.resilience import safe_call
from bot.storage.api import CustomerMessage

log = get_logger("slack.messages")
ACTED_SUBTYPES = {None, "file_share", "thread_broadcast"}  # new human messages; edits, joins, deletions are not
THREAD_LIMIT = 50


def register(app: App, services) -> None:
    @app.event("message")
    def on_message(body: dict, event: dict, context: BoltContext) -> None:  # Bolt acks events before this runs
        handle_message_event(services, body, event, context.team_id)


class SideUnknown(RuntimeError):
    """Who sent a message (customer or one of ours) could not be established: coach nobody, retry later."""


def installing_team(body: dict, context_team: str | None = None) -> str:
    """The workspace the event belongs to: the installing team (Bolt's context, from `authorizations`).

    In Slack Connect the outer `team_id` can be the other organisation's, so it is only the last resort.
    """
    if context_team:
        return context_team
    for authorization in body.get("authorizations") or []:
        if authorization.get("team_id"):
            return authorization["team_id"]
    return body.get("team_id") or ""


def handle_message_event(services, body: dict, event: dict, context_team: str | None = None) -> None:
    if event.get("subtype") not in ACTED_SUBTYPES or event.get("bot_id") or event.get("hidden") or not event.get("user"):
        return
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    if not services.store.claim_event(event_id):
        log.info("duplicate event ignored", extra={"event_id": event_id})
        return
    workspace = installing_team(body, context_team)
    if services.inference.submit(process_message, services, event, workspace, event_id) is None:
        log.warning("message dropped under load", extra={"event_id": event_id, "channel": event.get("channel")})


def process_message(services, event: dict, workspace: str, event_id: str = "") -> None:
    if services.roles.identity().team_id is None:
        log.warning("own team unknown (auth.test failed): message not coached", extra={"event_id": event_id})
        raise SideUnknown(event_id)
    kind = services.roles.kind(event["user"])
    if kind == "unknown":
        log.warning("sender's side unknown (users.info failed): message not coached", extra={"event_id": event_id})
        raise SideUnknown(event_id)
    if kind == "customer":
        coach_customer_message(services, event, workspace)
    elif kind == "agent" and event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        check_agent_reply(services, event, workspace)


def channel_members(services, channel: str) -> list[str]:
    members: list[str] = []
    cursor = None
    while True:
        response = safe_call("conversations.members", services.client.conversations_members, channel=channel,
                             limit=200, cursor=cursor)
        if response is None:
            break
        members += response.get("members") or []
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return members


def thread_history(services, channel: str, thread_ts: str, before_ts: str) -> list[ThreadMessage]:
    """Earlier messages of the thread, tagged customer or not, so questions already answered are skipped."""
    response = safe_call("conversations.replies", services.client.conversations_replies, channel=channel,
                         ts=thread_ts, limit=THREAD_LIMIT)
    history: list[ThreadMessage] = []
    for message in (response.get("messages") or []) if response else []:
        if float(message.get("ts", "0")) >= float(before_ts) or not message.get("text"):
            continue
        from_customer = not message.get("bot_id") and services.roles.is_customer(message.get("user"))
        history.append(ThreadMessage(text=message["text"], from_customer=from_customer,
                                     has_files=bool(message.get("files"))))
    return history


def coach_customer_message(services, event: dict, workspace: str) -> int:
    """Classify, plan per agent authority, record, and send each agent their private card."""
    channel, customer, ts = event["channel"], event["user"], event["ts"]
    thread_ts = event.get("thread_ts") or ts
    text = event.get("text") or ""
    has_files = bool(event.get("files"))
    previous = services.store.incident_for_thread(workspace, channel, thread_ts)
    thread = thread_history(services, channel, thread_ts, ts) if thread_ts != ts else []
    classification = services.engine.classify(text)
    profile = load_profile(services.store, workspace, customer, thread_ts, services.now())  # with the customer's memory
    members = channel_members(services, channel)
    agents = [m for m in members if m != customer and services.roles.is_agent(m)]

    plans: dict[Role, RecoveryPlan] = {}

    def plan_for(role: Role) -> RecoveryPlan:
        if role not in plans:
            plans[role] = services.engine.suggest(text, thread, profile, role, has_files, classification)
        return plans[role]

    base = plan_for("agent")
    user = services.roles.user(customer)
    incident_id = services.store.record_customer_message(
        CustomerMessage(workspace=workspace, channel=channel, thread_ts=thread_ts, message_ts=ts, customer_id=customer,
                        text=text, at=datetime.fromtimestamp(float(ts), timezone.utc), timezone=user.tz if user else None,
                        product=base.product),
        classification, base, shown_to=agents)
    ctx = CardContext(incident_id, channel, thread_ts, ts)
    for agent in agents:
        plan = plan_for(services.roles.authority(agent))
        safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=channel, user=agent,
                  thread_ts=thread_ts, text=card_text(plan), blocks=coaching_card(plan, ctx))
    copy_to_coach_channel(services, base, ctx)
    send_alerts(services, base, previous, ctx, members)
    log.info("customer message coached", extra={
        "incident": incident_id, "channel": channel, "agents": len(agents), "tone": base.tone.label,
        "complaint": base.complaint.label, "severity": base.severity, "text": fingerprint(text)})
    return incident_id


def copy_to_coach_channel(services, plan: RecoveryPlan, ctx: CardContext) -> None:
    """A persistent copy (without buttons) threaded per incident in the private coach channel."""
    coach = services.settings.coach_coach_channel
    if not coach or coach == ctx.channel:
        return  # never into the customer's own channel
    blocks = [b for b in coaching_card(plan, ctx) if b.get("type") != "actions"]
    blocks[0] = {"type": "section", "text": {"type": "mrkdwn", "text": f"Card for <#{ctx.channel}> (incident {ctx.incident_id})"}}
    parent = services.coach_threads.get(ctx.incident_id)
    response = safe_call("chat.postMessage", services.client.chat_postMessage, channel=coach, text=card_text(plan),
                         blocks=blocks, thread_ts=parent)
    if response is not None and parent is None:
        services.coach_threads[ctx.incident_id] = response["ts"]
