"""The card's buttons, the supervisor's Approve/Deny, and the correction modal; replays run once.

Every handler acks first. Button values carry the incident context (see bot.render.blocks), so any
worker can answer a click. The only thing ever posted visibly in a customer's channel is the apology
an agent chose to send with *Send apology*, and it is posted at most once per card.

Idempotent interactions: a validly signed request can be replayed within Slack's 5-minute signature
window, and the same request can reach two workers. A global middleware therefore claims a key per
(user, action, message) for buttons, per (user, command, trigger) for slash commands and shortcuts and per
(user, view) for forms in the database (a primary key, not process memory) before anything runs; a request whose key
is taken is acked and dropped. "Send apology" also claims a key per card that never expires, given back
only when Slack refused the post.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltResponse, Respond

from bot.coach.checklist import detect_steps
from bot.coach.models import CompensationSuggestion, FollowUpItem
from bot.labels import ROLES
from bot.render import blocks as ui
from bot.slack.logging import get_logger
from bot.slack.resilience import safe_call
from bot.storage.inbox import once_key

if TYPE_CHECKING:
    from bot.slack.services import Services

log = get_logger("slack.actions")


def register(app: App, services: Services) -> None:
    def once_per_interaction(body: dict, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002
        """Before any listener (and its ack): a replayed or doubly delivered interaction stops here."""
        if claim_interaction(services, body):
            next()
            return None
        return BoltResponse(status=200, body="")

    def on_send_apology(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        send_apology(services, ack, body, action, respond)

    def on_offer(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        offer(services, ack, body, action, respond)

    def on_decide(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        decide(services, ack, body, action, respond)

    def on_wrong_label(ack: Ack, body: dict, action: dict) -> None:
        open_correction(services, ack, body, action)

    def on_correction_submitted(ack: Ack, body: dict, view: dict) -> None:
        save_correction(services, ack, body, view)

    def on_resolved(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        resolve(services, ack, body, action, respond)

    app.use(once_per_interaction)
    app.action(ui.SEND_APOLOGY)(on_send_apology)
    app.action(re.compile(rf"^{ui.OFFER}(_above)?$"))(on_offer)
    app.action(re.compile(rf"^({ui.APPROVE}|{ui.DENY})$"))(on_decide)
    app.action(ui.WRONG_LABEL)(on_wrong_label)
    app.view(ui.CORRECTION_VIEW)(on_correction_submitted)
    app.action(ui.RESOLVED)(on_resolved)


def interaction_key(body: dict) -> str | None:
    """The once-key of a button click, slash command or form submission; None for anything else.

    A button counts once per (user, action, message): the message is the one clicked in plus the button's
    value, which names the card (incident, customer message) or the approval. Two genuine clicks on one
    button within the window count once, too. A slash command has no message: a replay carries the same
    trigger_id, a new invocation a new one. "Wrong tone" only opens a form, so a new click may reopen it.
    """
    user = (body.get("user") or {}).get("id") or body.get("user_id") or ""
    kind = body.get("type")
    if kind == "block_actions":
        action = (body.get("actions") or [{}])[0]
        action_id = action.get("action_id", "")
        container = body.get("container") or {}
        message = container.get("message_ts") or (body.get("message") or {}).get("ts") or ""
        value = hashlib.sha256(str(action.get("value", "")).encode("utf-8")).hexdigest()
        extra = body.get("trigger_id", "") if action_id == ui.WRONG_LABEL else ""
        return once_key("action", user, action_id, container.get("channel_id", ""), message, value, extra)
    if kind == "view_submission":
        view = body.get("view") or {}
        return once_key("view", user, view.get("callback_id", ""), view.get("id", ""), view.get("hash", ""))
    if kind == "message_action":  # a replayed shortcut carries the same trigger_id; a new click a new one
        return once_key("shortcut", user, body.get("callback_id", ""), body.get("trigger_id", ""))
    if body.get("command"):
        trigger = body.get("trigger_id") or hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()
        return once_key("command", user, body["command"], trigger)
    return None


def claim_interaction(services: Services, body: dict) -> bool:
    """True when this interaction is new (or cannot be checked: the database is down); False for a replay."""
    key = interaction_key(body)
    if key is None:
        return True
    window = timedelta(seconds=services.settings.coach_replay_window_seconds)
    try:
        if services.store.once_keys.claim(key, window):
            return True
    except Exception as exc:  # fail open: the apology has its own check, which fails closed
        log.warning("interaction key not stored; handled anyway", extra={"key": key.split(":")[0],
                                                                         "error": type(exc).__name__})
        return True
    log.info("replayed interaction ignored", extra={"key": key, "type": body.get("type")})
    return False


def tell(services, body: dict, respond: Respond | None, text: str) -> None:
    """Private feedback to whoever clicked: via response_url when Slack gave one, else ephemeral."""
    user = body["user"]["id"]
    if respond is not None and body.get("response_url"):
        try:
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        except Exception:
            log.warning("respond failed; falling back to chat.postEphemeral")
    channel = (body.get("channel") or {}).get("id")
    if channel:
        safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=channel, user=user, text=text)


def send_apology(services, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
    """Post the card's apology in the customer's thread: at most once per card, whoever replays the click."""
    ack()
    ctx, data = ui.parse_value(action["value"])
    text = data.get("text")
    user = body["user"]["id"]
    if not text:
        tell(services, body, respond, "The suggested text was too long to carry on the button; please copy it from the card.")
        return
    key = once_key("apology", user, ctx.incident_id, ctx.channel, ctx.message_ts)
    try:
        first = services.store.once_keys.claim(key, None)
    except Exception as exc:  # fail closed: a second apology is what the customer would see
        log.warning("apology not sent: could not check it was not sent already", extra={
            "incident": ctx.incident_id, "error": type(exc).__name__})
        tell(services, body, respond, ":warning: I could not check whether this apology went out already; "
                                      "please try again in a moment.")
        return
    if not first:
        log.info("apology already sent from this card", extra={"incident": ctx.incident_id, "agent": user})
        tell(services, body, respond, "This apology was already sent in the thread.")
        return
    sent = safe_call("chat.postMessage", services.client.chat_postMessage, channel=ctx.channel, thread_ts=ctx.thread_ts,
                     text=text)
    if sent is None:  # nothing went out: a new click may try again
        services.store.once_keys.release(key)
        services.store.once_keys.release(interaction_key(body) or key)
        tell(services, body, respond, ":warning: Slack did not accept the message; please send it yourself.")
        return
    services.store.record_suggestion_used(ctx.incident_id, "apology", user)
    try:  # the checklist: what the sent words do (a boundary is no apology), as for a reply typed by hand
        services.store.record_checklist_steps(ctx.incident_id, detect_steps(text), "card", user)
    except Exception as exc:  # the apology is out: a checklist row must not make the agent think it was not
        log.warning("checklist not updated", extra={"incident": ctx.incident_id, "error": type(exc).__name__})
    tell(services, body, respond, ":white_check_mark: Sent in the thread.")
    log.info("apology sent", extra={"incident": ctx.incident_id, "agent": user})


def approvers_for(services, authority: str, exclude: str) -> list[str]:
    """Who may approve: leads for a lead's option (then supervisors), supervisors for a supervisor's."""
    pool = (services.settings.coach_leads if authority == "lead" else []) + services.settings.coach_supervisors
    return [u for u in dict.fromkeys(pool) if u != exclude and ROLES.index(services.roles.authority(u)) >= ROLES.index(authority)]


def offer(services, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
    """Within the agent's authority the offer is given (and counts in stats); above it, every eligible approver
    is asked at once, and a fallback tells the agent what to give meanwhile if nobody answers in time."""
    ack()
    ctx, data = ui.parse_value(action["value"])
    option = CompensationSuggestion.model_validate(data["o"])
    agent = body["user"]["id"]
    own = services.roles.authority(agent)
    if ROLES.index(option.authority) <= ROLES.index(own):
        services.store.record_compensation(ctx.incident_id, option.id, option.offer, option.value, option.currency,
                                           "given", by_user=agent)
        say = f"\n_Tell the customer:_ {option.customer_text}" if option.customer_text else " Tell the customer now."
        tell(services, body, respond, f":white_check_mark: Offer recorded as given: *{option.offer}*.{say}")
        return
    approvers = approvers_for(services, option.authority, exclude=agent)
    if not approvers:
        tell(services, body, respond, f":warning: This needs a {option.authority}, and none is configured "
                                      "(COACH_SUPERVISORS / COACH_LEADS).")
        return
    compensation_id = services.store.record_compensation(
        ctx.incident_id, option.id, option.offer, option.value, option.currency, "pending_approval", by_user=agent)
    link = safe_call("chat.getPermalink", services.client.chat_getPermalink, channel=ctx.channel, message_ts=ctx.message_ts)
    permalink = link.get("permalink") if link else None
    fallback = data.get("f")
    refs: list[list[str]] = []
    reached: list[str] = []
    for approver in approvers[:MAX_APPROVERS]:
        dm = services.dm_channel(approver)
        posted = dm and safe_call("chat.postMessage", services.client.chat_postMessage, channel=dm,
                                  text=f"Approval needed: {option.offer}",
                                  blocks=ui.approval_request(agent, option, ctx, compensation_id, permalink,
                                                             asked=approvers, fallback=fallback))
        if posted:
            refs.append([dm, posted["ts"]])
            reached.append(approver)
    if len(refs) > 1:  # every copy learns where the others are, so the first decision updates them all
        for dm, ts in refs:
            safe_call("chat.update", services.client.chat_update, channel=dm, ts=ts,
                      text=f"Approval needed: {option.offer}",
                      blocks=ui.approval_request(agent, option, ctx, compensation_id, permalink, refs=refs,
                                                 asked=approvers, fallback=fallback))
    minutes = services.engine.playbook.approvals.fallback_after_minutes
    if refs:
        names = ", ".join(f"<@{u}>" for u in reached)
        tell(services, body, respond, f":hourglass_flowing_sand: Asked {names} to approve *{option.offer}*; the first "
                                      f"answer decides and you'll hear back here (or in {minutes:g} min what to do meanwhile).")
        schedule_fallback(services, compensation_id, ctx, agent, option, fallback, minutes)
    else:
        tell(services, body, respond, ":warning: Could not reach any approver; ask a lead or supervisor directly.")
    log.info("approval requested", extra={"incident": ctx.incident_id, "compensation": compensation_id,
                                            "approvers": len(approvers), "reached": len(refs), "agent": agent})


MAX_APPROVERS = 20                       # their message refs ride in the buttons' value (2,000 characters)
_fallbacks: dict[int, threading.Timer] = {}
_fallbacks_lock = threading.Lock()


def schedule_fallback(services, compensation_id: int, ctx: ui.CardContext, agent: str, option: CompensationSuggestion,
                      own: str | None, minutes: float) -> None:
    """After `minutes` with no decision, tell the agent to go ahead with what is theirs; the request stays open.

    An in-process timer: a decision on this worker cancels it, and on any worker it finds the decision in the
    database and says nothing. A restart loses the reminder, never a decision.
    """
    def fire() -> None:
        with _fallbacks_lock:
            _fallbacks.pop(compensation_id, None)
        try:
            from bot.storage.stats import compensation_decision

            decision = compensation_decision(services.store, compensation_id)
            if decision is None or decision.state != "pending_approval":
                return
            meanwhile = f"give what is yours now: *{own}*" if own else "give what is yours to give now"
            safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=ctx.channel, user=agent,
                      thread_ts=ctx.thread_ts,
                      text=f":alarm_clock: No one has decided *{option.offer}* in {minutes:g} min. Don't keep the "
                           f"customer waiting: {meanwhile}. The request stays open; you'll hear when someone decides.")
            log.info("approval fallback", extra={"compensation": compensation_id, "agent": agent})
        except Exception as exc:  # a reminder must never take the worker down
            log.warning("approval fallback failed", extra={"compensation": compensation_id, "error": type(exc).__name__})

    timer = threading.Timer(minutes * 60.0, fire)
    timer.daemon = True
    with _fallbacks_lock:
        _fallbacks[compensation_id] = timer
    timer.start()


def _cancel_fallback(compensation_id: int) -> None:
    with _fallbacks_lock:
        timer = _fallbacks.pop(compensation_id, None)
    if timer is not None:
        timer.cancel()


def decide(services, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
    """Approve or Deny, once: the first eligible answer wins, every approver's copy shows it, a later click
    (another approver, or Deny after Approve) is told who decided and when and changes nothing."""
    ack()
    ctx, data = ui.parse_value(action["value"])
    option = CompensationSuggestion.model_validate(data["o"])
    approver, agent, approved = body["user"]["id"], data["a"], action["action_id"] == ui.APPROVE
    compensation_id = int(data["k"])
    if ROLES.index(services.roles.authority(approver)) < ROLES.index(option.authority):
        tell(services, body, respond, f"Only a {option.authority} can decide this one.")
        return
    from bot.storage.stats import compensation_decision

    copies = [tuple(ref) for ref in data.get("r") or []]
    message, channel = body.get("message") or {}, (body.get("channel") or {}).get("id")
    if channel and message.get("ts") and (channel, message["ts"]) not in copies:
        copies.append((channel, message["ts"]))
    before = compensation_decision(services.store, compensation_id)
    first = before is not None and not before.decided
    if first:
        try:
            first = _claim_decision(services.store, compensation_id)
        except Exception as exc:  # fail closed: a second decision is what must never happen
            log.warning("decision not recorded: could not claim it", extra={"compensation": compensation_id,
                                                                           "error": type(exc).__name__})
            tell(services, body, respond, ":warning: I could not record the decision; please try again in a moment.")
            return
    if not first:
        decided = compensation_decision(services.store, compensation_id)
        if decided is not None and decided.decided:
            verdict = "approved" if decided.state == "approved" else "denied"
            tell(services, body, respond, f"Already {verdict} by <@{decided.by}> at {decided.at:%Y-%m-%d %H:%M} UTC; "
                                          "that decision is final.")
            _update_copies(services, copies, agent, option, decided.by, decided.state == "approved", decided.at)
        else:
            tell(services, body, respond, "Someone else is deciding this right now.")
        log.info("decision already made", extra={"compensation": compensation_id, "clicked_by": approver})
        return
    state = "approved" if approved else "denied"
    try:
        services.store.update_compensation(compensation_id, state, by_user=approver)
    except Exception:
        _release_decision(services.store, compensation_id)
        raise
    _cancel_fallback(compensation_id)
    at = services.now()
    _update_copies(services, copies, agent, option, approver, approved, at)
    verdict = "approved — you may offer it now" if approved else "declined — offer what is yours to give"
    say = f" _Tell the customer:_ {option.customer_text}" if approved and option.customer_text else ""
    safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=ctx.channel, user=agent,
              thread_ts=ctx.thread_ts, text=f"<@{approver}> {verdict}: *{option.offer}*.{say}")
    log.info("compensation decided", extra={"compensation": compensation_id, "approved": approved, "approver": approver})


def _claim_decision(store, compensation_id: int) -> bool:
    """True for the one click that may decide, across replays and workers: a key that never expires (the
    interaction keys of bot/storage/inbox.py where the store has them, else the event-id claim)."""
    key = f"decision:{compensation_id}"
    once = getattr(store, "once_keys", None)
    return once.claim(key, None) if once is not None else store.claim_event(key)


def _release_decision(store, compensation_id: int) -> None:
    """The decision could not be stored: let the next click try (only interaction keys can be given back)."""
    once = getattr(store, "once_keys", None)
    if once is not None:
        once.release(f"decision:{compensation_id}")


def _update_copies(services, copies: list[tuple[str, ...]], agent: str, option: CompensationSuggestion, approver: str,
                   approved: bool, at: datetime) -> None:
    for channel, ts in copies:
        safe_call("chat.update", services.client.chat_update, channel=channel, ts=ts,
                  text="Approved" if approved else "Denied",
                  blocks=ui.approval_decided(agent, option, approver, approved, at))


def open_correction(services, ack: Ack, body: dict, action: dict) -> None:
    ack()
    ctx, data = ui.parse_value(action["value"])
    safe_call("views.open", services.client.views_open, trigger_id=body["trigger_id"],
              view=ui.correction_modal(ctx, data.get("tone", ""), data.get("complaint", "")))


def _selected(values: dict[str, Any], block: str) -> str | None:
    option = ((values.get(block) or {}).get("value") or {}).get("selected_option")
    return option.get("value") if option else None


def save_correction(services, ack: Ack, body: dict, view: dict) -> None:
    """Store only the heads the agent changed (a pick equal to the model's label is no correction), then confirm.

    The form starts empty, so an untouched head is None here and never reaches `coach train --with-feedback`.
    """
    ack()
    ctx, model = ui.parse_value(view["private_metadata"])
    values = view["state"]["values"]
    picked = {"tone": _selected(values, "tone"), "complaint": _selected(values, "complaint")}
    changed = {head: label for head, label in picked.items() if label and label != model.get(head)}
    user = body["user"]["id"]
    if changed:
        services.store.record_correction(ctx.incident_id, ctx.message_ts, changed.get("tone"), changed.get("complaint"),
                                         by_user=user)
        said = ", ".join(f"{head} {str(model.get(head) or '?').replace('_', ' ')} → {label.replace('_', ' ')}"
                         for head, label in changed.items())
        text = f":white_check_mark: Thanks, correction saved ({said}). It counts in stats and in the next retraining."
    else:
        text = "Nothing changed, so nothing was stored: pick the tone or type the coach got wrong."
    safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=ctx.channel, user=user,
              thread_ts=ctx.thread_ts, text=text)
    log.info("correction stored" if changed else "correction form saved unchanged",
             extra={"incident": ctx.incident_id, "heads": sorted(changed)})


def resolve(services, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
    ack()
    ctx, data = ui.parse_value(action["value"])
    user = body["user"]["id"]
    follow_ups = [FollowUpItem(when=when, action=text) for when, text in data.get("f", [])]
    services.store.resolve_incident(ctx.incident_id, by_user=user, follow_ups=follow_ups, now=services.now())
    scheduled = ", ".join(f.when for f in follow_ups) or "none"
    tell(services, body, respond, f":white_check_mark: Marked resolved. Follow-ups scheduled for you: {scheduled}.")
    log.info("incident resolved", extra={"incident": ctx.incident_id, "by": user, "follow_ups": len(follow_ups)})


