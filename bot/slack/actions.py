"""The card's buttons, the supervisor's Approve/Deny, and the correction modal.

Every handler acks first. Button values carry the incident context (see bot.render.blocks), so any
worker can answer a click. The only thing ever posted visibly in a customer's channel is the apology
an agent chose to send with *Send apology*.
"""
from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.coach.models import CompensationSuggestion, FollowUpItem
from bot.labels import ROLES
from bot.render import blocks as ui
from bot.slack.logging import get_logger
from bot.slack.resilience import safe_call

log = get_logger("slack.actions")


def register(app: App, services) -> None:
    app.action(ui.SEND_APOLOGY)(lambda ack, body, action, respond: send_apology(services, ack, body, action, respond))
    app.action(re.compile(rf"^{ui.OFFER}(_above)?$"))(
        lambda ack, body, action, respond: offer(services, ack, body, action, respond))
    app.action(re.compile(rf"^({ui.APPROVE}|{ui.DENY})$"))(
        lambda ack, body, action, respond: decide(services, ack, body, action, respond))
    app.action(ui.WRONG_LABEL)(lambda ack, body, action: open_correction(services, ack, body, action))
    app.view(ui.CORRECTION_VIEW)(lambda ack, body, view: save_correction(services, ack, body, view))
    app.action(ui.RESOLVED)(lambda ack, body, action, respond: resolve(services, ack, body, action, respond))


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
    ack()
    ctx, data = ui.parse_value(action["value"])
    text = data.get("text")
    user = body["user"]["id"]
    if not text:
        tell(services, body, respond, "The suggested text was too long to carry on the button; please copy it from the card.")
        return
    sent = safe_call("chat.postMessage", services.client.chat_postMessage, channel=ctx.channel, thread_ts=ctx.thread_ts,
                     text=text)
    if sent is None:
        tell(services, body, respond, ":warning: Slack did not accept the message; please send it yourself.")
        return
    services.store.record_suggestion_used(ctx.incident_id, "apology", user)
    tell(services, body, respond, ":white_check_mark: Sent in the thread.")
    log.info("apology sent", extra={"incident": ctx.incident_id, "agent": user})


def approvers_for(services, authority: str, exclude: str) -> list[str]:
    """Who may approve: leads for a lead's option (then supervisors), supervisors for a supervisor's."""
    pool = (services.settings.coach_leads if authority == "lead" else []) + services.settings.coach_supervisors
    return [u for u in dict.fromkeys(pool) if u != exclude and ROLES.index(services.roles.authority(u)) >= ROLES.index(authority)]


def offer(services, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
    ack()
    ctx, data = ui.parse_value(action["value"])
    option = CompensationSuggestion.model_validate(data["o"])
    agent = body["user"]["id"]
    own = services.roles.authority(agent)
    if ROLES.index(option.authority) <= ROLES.index(own):
        services.store.record_compensation(ctx.incident_id, option.id, option.offer, option.value, option.currency,
                                           "offered", by_user=agent)
        tell(services, body, respond, f":white_check_mark: Offer recorded: *{option.offer}*. Tell the customer now.")
        return
    approvers = approvers_for(services, option.authority, exclude=agent)
    if not approvers:
        tell(services, body, respond, f":warning: This needs a {option.authority}, and none is configured "
                                      "(COACH_SUPERVISORS / COACH_LEADS).")
        return
    approver = approvers[0]
    compensation_id = services.store.record_compensation(
        ctx.incident_id, option.id, option.offer, option.value, option.currency, "pending_approval",
        by_user=agent, approver=approver)
    link = safe_call("chat.getPermalink", services.client.chat_getPermalink, channel=ctx.channel, message_ts=ctx.message_ts)
    dm = services.dm_channel(approver)
    posted = dm and safe_call("chat.postMessage", services.client.chat_postMessage, channel=dm,
                              text=f"Approval needed: {option.offer}",
                              blocks=ui.approval_request(agent, option, ctx, compensation_id,
                                                         link.get("permalink") if link else None))
    if posted:
        tell(services, body, respond, f":hourglass_flowing_sand: Asked <@{approver}> to approve *{option.offer}*. "
                                      "You'll hear back here.")
    else:
        tell(services, body, respond, f":warning: Could not reach <@{approver}>; ask them directly.")
    log.info("approval requested", extra={"incident": ctx.incident_id, "compensation": compensation_id,
                                            "approver": approver, "agent": agent})


def decide(services, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
    ack()
    ctx, data = ui.parse_value(action["value"])
    option = CompensationSuggestion.model_validate(data["o"])
    approver, agent, approved = body["user"]["id"], data["a"], action["action_id"] == ui.APPROVE
    if ROLES.index(services.roles.authority(approver)) < ROLES.index(option.authority):
        tell(services, body, respond, f"Only a {option.authority} can decide this one.")
        return
    services.store.update_compensation(int(data["k"]), "approved" if approved else "denied", by_user=approver)
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id")
    if channel and message.get("ts"):
        safe_call("chat.update", services.client.chat_update, channel=channel, ts=message["ts"],
                  text="Approved" if approved else "Denied",
                  blocks=ui.approval_decided(agent, option, approver, approved))
    verdict = "approved — you may offer it now" if approved else "declined — offer what is yours to give"
    safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=ctx.channel, user=agent,
              thread_ts=ctx.thread_ts, text=f"<@{approver}> {verdict}: *{option.offer}*.")
    log.info("compensation decided", extra={"compensation": data["k"], "approved": approved, "approver": approver})


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


