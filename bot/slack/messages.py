"""Customer message in -> private coaching card out, to the agents working the thread (bot/slack/thread_cards.py).

No acknowledged message is lost: before Bolt acks, a listener middleware writes the event to the durable
inbox (bot/storage/inbox.py; the unique event id is the deduplication of Slack's retries), or spools it to
a local file when the database refuses, or answers 503 so that Slack retries when neither can take it.
After the ack the inbox worker (bot/slack/services.py) runs the work on the bounded inference executor,
never on Bolt's listener pool, so the HTTP ack is never late; a step that fails (the sender's side unknown,
Slack unavailable after the client's own retries, a database error) is retried with backoff, and a card
Slack would not take is queued in the inbox and re-delivered on its own.
Nothing is posted visibly in the channel: cards are `chat.postEphemeral` to agents only.

A follow-up in a thread is read with the thread: one that names no complaint of its own but chases the one
already raised ("any news?") carries the thread's labels (bot/coach/thread_labels.py follow_up_labels, fed the
labels stored for the thread's earlier customer messages); the card says so in one line.

What Slack sends is read as a person sees it: `text`, else the message's rich-text blocks, else its
attachments. A customer's edit updates the stored message and re-coaches only when tone or complaint
changed; a deletion turns the stored text into a marker.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.coach.checklist import ordered
from bot.coach.memory import load_profile
from bot.coach.models import Classification, RecoveryPlan, ThreadMessage
from bot.coach.planner import message_path
from bot.coach.thread_labels import follow_up_labels
from bot.labels import Role
from bot.render.blocks import CardContext, card_text, coaching_card
from bot.slack import metrics, thread_cards
from bot.slack.alerts import send_alerts
from bot.slack.customer_value import with_value
from bot.slack.logging import fingerprint, get_logger
from bot.slack.nudges import check_agent_reply
from bot.slack.resilience import SlackUnavailable, must_call, safe_call
from bot.slack.services import InboxUnavailable, InboxWorker, NotYet, spool_path
from bot.slack.thread_cards import coached_agents, record_engaged, thread_mode
from bot.storage.api import CustomerMessage, IncidentSummary, StoredMessage
from bot.storage.inbox import InboxEntry, Spool

if TYPE_CHECKING:
    from bot.slack.services import Services

log = get_logger("slack.messages")
ACTED_SUBTYPES = {None, "file_share", "thread_broadcast"}  # new human messages
THREAD_LIMIT = 50
MAX_TEXT = 40_000  # Slack's own limit for a message's text; blocks and attachments are cut to it as well
EDITED_NOTE = ":pencil2: The customer edited this message; this card replaces the earlier one."


class SideUnknown(RuntimeError):
    """Who sent a message (customer or one of ours) could not be established: coach nobody, retry later."""


def register(app: App, services: Services) -> None:
    worker = start_delivery(services)

    def accept_message(body: dict, context: BoltContext, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002
        """Runs before Bolt's ack: the 200 goes out only once the event is in the inbox or the spool."""
        if context.is_enterprise_install and not context.team_id:  # org-wide install, workspace not established
            log.warning("org-wide event from a workspace not known in the org: not coached",
                        extra={"event_id": body.get("event_id")})
            next()
            return None
        try:
            context["inbox_item"] = accept_event(worker, body, context.team_id)
        except InboxUnavailable:
            return BoltResponse(status=503, body="")
        next()
        return None

    @app.event("message", middleware=[accept_message])
    def on_message(context: BoltContext) -> None:  # Bolt acks events before this runs
        item = context.get("inbox_item")
        if item is not None:
            worker.kick(item)


def start_delivery(services: Services) -> InboxWorker:
    """The app's inbox worker, with a handler per kind of item; pending rows are picked up at once."""
    worker = InboxWorker(services.store, services.inference, Spool(spool_path(services.settings)), services.settings)
    worker.handle("message", lambda entry: process_message(services, entry.payload["event"],
                                                           entry.payload["workspace"], entry))
    worker.handle("changed", lambda entry: process_edit(services, entry))
    worker.handle("deleted", lambda entry: process_deletion(services, entry))
    worker.handle("card", lambda entry: redeliver_card(services, entry))
    services.delivery = worker
    return worker.start()


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


# ---------------------------------------------------------------------------- what Slack sends
def inbox_kind(event: dict) -> str | None:
    """What the inbox does with a message event: a new message, an edit, a deletion; None to ignore it."""
    subtype = event.get("subtype")
    if subtype in ACTED_SUBTYPES:
        if event.get("bot_id") or event.get("hidden") or not event.get("user"):
            return None
        return "message"
    if subtype == "message_changed":
        message = event.get("message") or {}
        if message.get("subtype") == "tombstone":  # a thread's parent deleted while it has replies
            return "deleted"
        if message.get("bot_id") or not message.get("user"):
            return None
        return "changed"
    if subtype == "message_deleted":
        return "deleted"
    return None


def _message_ts(event: dict, kind: str) -> str | None:
    if kind == "message":
        return event.get("ts")
    if kind == "deleted" and event.get("deleted_ts"):
        return event["deleted_ts"]
    return (event.get("message") or {}).get("ts") or (event.get("previous_message") or {}).get("ts")


def accept_event(worker: InboxWorker, body: dict, context_team: str | None) -> int | None:
    """Store a message event in the inbox (or the spool); the new row's id, None when nothing to do now."""
    event = body.get("event") or {}
    kind = inbox_kind(event)
    if kind is None:
        return None
    message_ts = _message_ts(event, kind)
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}:{kind}"
    if kind == "deleted":  # the worker needs where, not what: the deleted text is never stored
        event = {"channel": event.get("channel"), "deleted_ts": message_ts, "subtype": event.get("subtype")}
    payload = {"event": event, "workspace": installing_team(body, context_team)}
    item = worker.accept(event_id, kind, payload, event.get("channel"), message_ts)
    if item is not None and kind == "deleted" and message_ts:
        try:  # at once, so a message still waiting in the inbox is never coached after its deletion
            worker.store.inbox.cancel_pending(event["channel"], message_ts, ("message", "changed"))
        except Exception as exc:  # the deletion item does it again when it runs
            log.warning("could not cancel work on a deleted message yet", extra={"event_id": event_id,
                                                                                "error": type(exc).__name__})
    return item


def _inline(element: dict) -> str:
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text") or "")
    if kind == "link":
        return str(element.get("text") or element.get("url") or "")
    if kind == "emoji":
        code = element.get("unicode")
        if code:
            try:
                return "".join(chr(int(part, 16)) for part in str(code).split("-"))
            except ValueError:
                pass
        return f":{element.get('name', '')}:"
    if kind == "user":
        return f"<@{element.get('user_id', '')}>"
    if kind == "channel":
        return f"<#{element.get('channel_id', '')}>"
    if kind == "usergroup":
        return f"<!subteam^{element.get('usergroup_id', '')}>"
    if kind == "broadcast":
        return f"<!{element.get('range', 'here')}>"
    if kind == "date":
        return str(element.get("fallback") or "")
    if kind == "color":
        return str(element.get("value") or "")
    return str(element.get("text") or "")


def _rich(element: dict) -> str:
    kind = element.get("type")
    if kind == "rich_text_list":
        ordered, indent = element.get("style") == "ordered", "  " * int(element.get("indent") or 0)
        start = int(element.get("offset") or 0)
        return "\n".join(f"{indent}{f'{start + n}.' if ordered else '•'} {_rich(item).strip()}"
                         for n, item in enumerate(element.get("elements") or [], 1))
    text = "".join(_inline(e) if not str(e.get("type", "")).startswith("rich_text") else _rich(e)
                   for e in element.get("elements") or [])
    if kind == "rich_text_quote":
        return "\n".join("> " + line for line in text.split("\n"))
    return text


def _text_object(node: Any) -> str:
    return str(node.get("text") or "") if isinstance(node, dict) else ""


def blocks_text(blocks: list[dict]) -> str:
    """The words in a message's blocks: rich text (sections, lists, quotes, code), sections, headers, context."""
    parts: list[str] = []
    for block in blocks if isinstance(blocks, list) else []:
        kind = block.get("type")
        if kind == "rich_text":
            parts += [_rich(e).strip("\n") for e in block.get("elements") or []]
        elif kind in ("section", "header"):
            parts.append(_text_object(block.get("text")))
            parts += [_text_object(f) for f in block.get("fields") or []]
        elif kind == "context":
            parts += [_text_object(e) for e in block.get("elements") or [] if e.get("type") != "image"]
    return "\n".join(p for p in parts if p.strip())


def attachments_text(attachments: list[dict]) -> str:
    """What legacy attachments (forwards, app and workflow messages) show; the fallback when nothing else."""
    parts: list[str] = []
    for attachment in attachments if isinstance(attachments, list) else []:
        shown = [str(attachment.get(k) or "") for k in ("pretext", "author_name", "title", "text")]
        shown += [f"{f.get('title', '')}: {f.get('value', '')}".strip(": ") for f in attachment.get("fields") or []]
        shown += [blocks_text(attachment.get("blocks") or []), blocks_text(attachment.get("message_blocks") or [])]
        shown = [s for s in shown if s.strip()]
        parts += shown or [str(attachment.get("fallback") or "")]
    return "\n".join(p for p in parts if p.strip())


def message_text(message: dict) -> str:
    """What a person reads in a Slack message: `text`, else its blocks, else its attachments."""
    text = str(message.get("text") or "").strip()
    if not text:
        text = blocks_text(message.get("blocks") or []) or attachments_text(message.get("attachments") or [])
    return text[:MAX_TEXT]


# ---------------------------------------------------------------------------- new messages
def process_message(services: Services, event: dict, workspace: str, entry: InboxEntry | None = None) -> None:
    event_id = entry.event_id if entry else ""
    if services.roles.identity().team_id is None:
        log.warning("own team unknown (auth.test failed): message not coached", extra={"event_id": event_id})
        raise SideUnknown(event_id)
    kind = services.roles.kind(event["user"])
    if kind == "unknown":
        log.warning("sender's side unknown (users.info failed): message not coached", extra={"event_id": event_id})
        raise SideUnknown(event_id)
    event = {**event, "text": message_text(event)}
    if kind == "customer":
        coach_customer_message(services, event, workspace, entry)
    elif kind == "agent" and event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        record_engaged(services, workspace, event["channel"], event["thread_ts"], event["user"])  # coach them here
        check_agent_reply(services, event, workspace)


def channel_members(services: Services, channel: str) -> list[str]:
    """Everyone in the channel; raises SlackUnavailable (retry the message) rather than coach nobody."""
    members: list[str] = []
    cursor = None
    while True:
        response = must_call("conversations.members", services.client.conversations_members, channel=channel,
                             limit=200, cursor=cursor)
        if response is None:
            break
        members += response.get("members") or []
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return members


def thread_history(services: Services, channel: str, thread_ts: str, before_ts: str) -> list[ThreadMessage]:
    """Earlier messages of the thread, tagged customer or not, so questions already answered are skipped."""
    response = must_call("conversations.replies", services.client.conversations_replies, channel=channel,
                         ts=thread_ts, limit=THREAD_LIMIT)
    history: list[ThreadMessage] = []
    for message in (response.get("messages") or []) if response else []:
        text = message_text(message)
        if float(message.get("ts", "0")) >= float(before_ts) or not text:
            continue
        from_customer = not message.get("bot_id") and services.roles.is_customer(message.get("user"))
        history.append(ThreadMessage(text=text, from_customer=from_customer, has_files=bool(message.get("files"))))
    return history


def thread_classification(services: Services, workspace: str, channel: str, thread_ts: str, ts: str, text: str,
                          own: Classification, incident: IncidentSummary | None) -> tuple[Classification, str | None]:
    """The labels the card acts on, and the card's line saying they come from the thread (None: the message's own).

    The thread's earlier customer messages are read as stored (their labels, an agent's correction first), never
    classified again. A resolved incident is not reopened by a follow-up: its messages stand on their own labels.
    """
    if incident is None or thread_ts == ts:
        return own, None
    earlier = [stored.classification(services.engine.unsure_threshold)
               for stored in services.store.thread_labels_before(workspace, channel, thread_ts, ts)]
    return follow_up_labels(text, own, earlier, services.engine.playbook.severity.tone_points,
                            resolved=incident.status == "resolved")


def coach_customer_message(services: Services, event: dict, workspace: str, entry: InboxEntry | None = None,
                           edit: StoredMessage | None = None) -> int:
    """Classify, plan per agent authority, record, and send each agent their private card.

    Everything that can fail before the first card (Slack, the database) raises, and the inbox retries
    the whole message; from the first card on nothing raises: a card Slack refuses is queued on its own.
    With `edit` (a customer's edit that changed tone or complaint) the stored message is updated instead.
    The card acts on the thread's labels when the message complains only through the thread
    (thread_classification); what is stored is the message's own classification, since feedback, corrections
    and training read it as what the model said of this text.
    """
    channel, customer, ts = event["channel"], event["user"], event["ts"]
    thread_ts = event.get("thread_ts") or ts
    text = event.get("text") or ""
    has_files = bool(event.get("files"))
    previous = services.store.incident_for_thread(workspace, channel, thread_ts)
    thread = thread_history(services, channel, thread_ts, ts) if thread_ts != ts else []
    own = metrics.timed_classify(services.engine, text)
    classification, from_thread = thread_classification(services, workspace, channel, thread_ts, ts, text, own,
                                                        previous)
    profile = load_profile(services.store, workspace, customer, thread_ts, services.now())  # with the customer's memory
    profile = with_value(profile, services, workspace, customer)  # customers table > Slack profile > playbook
    members = channel_members(services, channel)
    agents = [m for m in members if m != customer and services.roles.is_agent(m)]
    per_thread = thread_mode(services)
    quiet = per_thread and message_path(text, classification) == "nothing_to_fix"  # "thanks!": no card at all
    recipients, chosen = coached_agents(services, workspace, channel, thread_ts, agents) if per_thread \
        else (agents, "channel")
    if quiet:
        recipients = []

    plans: dict[Role, RecoveryPlan] = {}
    done = ordered(services.store.checklist(previous.id)) if previous is not None else []  # steps so far

    def plan_for(role: Role) -> RecoveryPlan:
        if role not in plans:
            plan = services.engine.suggest(text, thread, profile, role, has_files, classification)
            why = [from_thread, *plan.why] if from_thread else plan.why  # first, as the shortcut shows its own
            plans[role] = plan.model_copy(update={"checklist": done, "why": why})
        return plans[role]

    base = plan_for("agent")
    if edit is not None:
        services.store.update_customer_message(workspace, channel, ts, text, own, base)
        incident_id = edit.incident_id
    else:
        user = services.roles.user(customer)
        incident_id = services.store.record_customer_message(
            CustomerMessage(workspace=workspace, channel=channel, thread_ts=thread_ts, message_ts=ts,
                            customer_id=customer, text=text, at=datetime.fromtimestamp(float(ts), timezone.utc),
                            timezone=user.tz if user else None,
                            product=base.product),
            own, base, shown_to=recipients)
    ctx = CardContext(incident_id, channel, thread_ts, ts)
    note = EDITED_NOTE if edit else None
    if per_thread:
        delivered = thread_cards.deliver(services, workspace, recipients, plan_for, ctx,
                                         lambda card: post_card(services, entry, card, ctx), note, edit is not None)
    else:
        delivered = deliver_cards(services, entry, recipients, plan_for, ctx, note=note)
    metrics.cards_sent(workspace, delivered)
    try:
        if not quiet:  # the coach channel's copy is a card too
            copy_to_coach_channel(services, base, ctx)
        # "tone worsening" is about what the customer says now, not the tone carried from earlier in the thread
        alerted = base if from_thread is None else base.model_copy(update={"tone": own.tone})
        send_alerts(services, alerted, previous, ctx, members)
    except Exception as exc:  # the cards are out: a failed extra must not make the inbox send them again
        log.warning("coach channel copy or alert failed", extra={"incident": incident_id, "error": type(exc).__name__})
    log.info("customer message coached", extra={
        "event_id": entry.event_id if entry else None, "incident": incident_id, "channel": channel,
        "agents": len(recipients), "coached": "none" if quiet else chosen, "cards": delivered,
        "edited": edit is not None, "from_thread": from_thread is not None, "tone": base.tone.label,
        "complaint": base.complaint.label, "severity": base.severity, "text": fingerprint(text)})
    return incident_id


def deliver_cards(services: Services, entry: InboxEntry | None, agents: list[str],
                  plan_for: Callable[[Role], RecoveryPlan], ctx: CardContext, note: str | None = None) -> int:
    """Post each agent's card; one Slack refuses for now goes to the inbox for re-delivery. Returns posted."""
    posted = 0
    for agent in agents:
        plan = plan_for(services.roles.authority(agent))
        blocks = coaching_card(plan, ctx)
        if note:
            blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}, *blocks]
        card = {"channel": ctx.channel, "user": agent, "thread_ts": ctx.thread_ts, "text": card_text(plan),
                "blocks": blocks}
        posted += post_card(services, entry, card, ctx)
    return posted


def post_card(services: Services, entry: InboxEntry | None, card: dict, ctx: CardContext) -> bool:
    """One chat.postEphemeral; a card Slack refuses for now goes to the inbox for re-delivery (False)."""
    try:
        return must_call("chat.postEphemeral", services.client.chat_postEphemeral, **card) is not None
    except SlackUnavailable as exc:
        queue_card(services, entry, card, ctx, exc)
        return False


def queue_card(services: Services, entry: InboxEntry | None, card: dict, ctx: CardContext,
               exc: SlackUnavailable) -> None:
    """Keep a card Slack did not take (429/5xx/timeouts after the client's retries) for re-delivery."""
    if entry is None or services.delivery is None:
        log.warning("card lost: no inbox to keep it", extra={"incident": ctx.incident_id, "agent": card["user"]})
        return
    event_id = f"{entry.event_id}/card/{card['user']}"
    delay = max(services.settings.coach_retry_base_seconds, exc.retry_after or 0.0)
    try:
        services.delivery.accept(event_id, "card", {"card": card, "incident": ctx.incident_id}, ctx.channel,
                                 ctx.message_ts, received_at=entry.received_at,
                                 first_attempt_at=datetime.now(timezone.utc) + timedelta(seconds=delay))
    except InboxUnavailable:
        return  # logged with the event id by accept()
    log.warning("card queued for re-delivery", extra={"event_id": event_id, "incident": ctx.incident_id,
                                                      "error": exc.reason})


def redeliver_card(services: Services, entry: InboxEntry) -> None:
    """A queued card: only to someone still established as one of ours (fail closed), else dropped."""
    card = entry.payload["card"]
    kind = services.roles.kind(card["user"])
    if kind == "unknown":
        raise SideUnknown(entry.event_id)
    if kind != "agent":
        log.warning("queued card dropped: recipient is no agent", extra={"event_id": entry.event_id})
        return
    if must_call("chat.postEphemeral", services.client.chat_postEphemeral, **card) is not None:
        log.info("card re-delivered", extra={"event_id": entry.event_id, "attempts": entry.attempts})
        metrics.cards_sent(None)


def copy_to_coach_channel(services: Services, plan: RecoveryPlan, ctx: CardContext) -> None:
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


# ---------------------------------------------------------------------------- edits and deletions
def process_edit(services: Services, entry: InboxEntry) -> None:
    """A customer's edit: the stored text follows; a new card only when tone or complaint changed."""
    event, workspace = entry.payload["event"], entry.payload["workspace"]
    message, before = event.get("message") or {}, event.get("previous_message") or {}
    channel, ts = event.get("channel"), message.get("ts") or before.get("ts")
    text = message_text(message)
    if not channel or not ts or (before and text == message_text(before)):
        return  # an unfurl or a reaction count: nothing a person changed
    if services.roles.identity().team_id is None:
        raise SideUnknown(entry.event_id)
    kind = services.roles.kind(message.get("user"))
    if kind == "unknown":
        raise SideUnknown(entry.event_id)
    if kind != "customer":
        return
    stored = services.store.customer_message(workspace, channel, ts)
    if stored is None:
        if services.store.inbox.unfinished(channel, ts, ("message",)):
            raise NotYet(entry.event_id)  # the original is still in the inbox: edit it after
        return  # not a message we coached (older than the bot, or not a complaint thread)
    if stored.deleted:
        return
    classification = metrics.timed_classify(services.engine, text)
    if (classification.tone.label, classification.complaint.label) == (stored.model_tone, stored.model_complaint):
        services.store.update_customer_message(workspace, channel, ts, text, classification)
        log.info("edit stored; tone and complaint unchanged", extra={
            "event_id": entry.event_id, "incident": stored.incident_id, "text": fingerprint(text)})
        return
    recoach = {"channel": channel, "user": message["user"], "ts": ts, "thread_ts": stored.thread_ts, "text": text,
               "files": message.get("files")}
    coach_customer_message(services, recoach, workspace, entry, edit=stored)


def process_deletion(services: Services, entry: InboxEntry) -> None:
    """A deleted message: work not started on it is cancelled, its stored text becomes a marker."""
    event, workspace = entry.payload["event"], entry.payload["workspace"]
    channel, ts = event.get("channel"), event.get("deleted_ts")
    if not channel or not ts:
        return
    related = ("message", "changed")
    cancelled = services.store.inbox.cancel_pending(channel, ts, related)
    if services.store.inbox.unfinished(channel, ts, related):
        raise NotYet(entry.event_id)  # a worker is on it right now: redact once it has stored it
    redacted = services.store.redact_deleted_message(workspace, channel, ts)
    log.info("deleted message handled", extra={"event_id": entry.event_id, "redacted": redacted,
                                               "cancelled": cancelled})
