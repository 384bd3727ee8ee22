"""The "Recovery plan" message shortcut: the whole thread's plan, privately, for the staff member who clicks it.

Slack sends a `message_action` with the clicked message, its channel and thread; unlike a slash command it
knows the thread. The listener acks at once and plans in the bounded pool with `recover.plan_thread`, the
same planner as `/recover <message link>`. The answer is ephemeral to the clicker in the channel, or their DM
when the bot cannot post there. Only established staff (an agent, or a configured supervisor of our team)
get coaching; a customer, or anyone whose role cannot be looked up, gets a neutral line (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.slack.logging import get_logger
from bot.slack.oauth import CURRENT_WORKSPACE
from bot.slack.recover import ThreadPlan, plan_thread
from bot.slack.resilience import safe_call

if TYPE_CHECKING:
    from bot.slack.services import Services

log = get_logger("slack.shortcuts")
RECOVERY_PLAN = "recovery_plan"  # the callback_id in manifest.yml (features.shortcuts)
NOT_FOR_YOU = "This shortcut is for the support team."
BUSY = ":hourglass: The coach is busy right now; try the Recovery plan again in a minute."
FAILED = "Something went wrong while planning that thread; try again in a minute."
UNREADABLE = "I can't tell which message that was; try the shortcut on the message again."


@dataclass(frozen=True)
class ShortcutClick:
    """Who clicked the shortcut on which message (and its thread), from Slack's message_action payload."""

    user: str
    workspace: str
    channel: str
    thread_ts: str
    message_ts: str

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ShortcutClick | None:
        message = body.get("message") or {}
        user = (body.get("user") or {}).get("id") or ""
        channel = (body.get("channel") or {}).get("id") or ""
        ts = message.get("ts") or body.get("message_ts") or ""
        if not (user and channel and ts):
            return None
        # multi-workspace mode: the workspace established for the request, whose incidents these are (an org-wide
        # install's payload may carry `team: null`; in Slack Connect the clicking user's team is another one)
        workspace = CURRENT_WORKSPACE.get() or (body.get("team") or {}).get("id") or ""
        return cls(user, workspace, channel, message.get("thread_ts") or ts, ts)


def register(app: App, services: Services) -> None:
    def on_recovery_plan(ack: Ack, body: dict) -> None:
        """Ack within Slack's 3 s, then plan in the inference pool."""
        ack()
        click = ShortcutClick.from_body(body)
        if click is None:
            user, channel = (body.get("user") or {}).get("id"), (body.get("channel") or {}).get("id")
            if user:
                reply_privately(services, user, channel, UNREADABLE)
            return
        if services.inference.submit(answer_click, services, click) is None:
            reply_privately(services, click.user, click.channel, BUSY)

    app.message_shortcut(RECOVERY_PLAN)(on_recovery_plan)


def is_staff(services: Services, user: str) -> bool:
    """An established agent or a configured supervisor of ours; False whenever the lookup fails."""
    try:
        return bool(services.roles.is_internal_staff(user))
    except Exception as exc:  # fail closed: no coaching for someone we cannot place
        log.warning("role lookup failed; shortcut refused", extra={"error": type(exc).__name__})
        return False


def answer_click(services: Services, click: ShortcutClick) -> None:
    """The whole thread's plan for staff; a neutral line (and an audit row) for everyone else."""
    if not is_staff(services, click.user):
        services.store.record_audit(click.user, "recovery plan shortcut", "not staff or role unknown", allowed=False)
        reply_privately(services, click.user, click.channel, NOT_FOR_YOU)
        return
    try:
        planned: ThreadPlan | str = plan_thread(services, click.user, click.workspace, click.channel,
                                                click.thread_ts, None)
    except Exception as exc:  # the database or the model failed: the clicker still hears, never a traceback
        log.error("recovery plan shortcut failed", extra={"error": type(exc).__name__})
        planned = FAILED
    if isinstance(planned, ThreadPlan):
        reply_privately(services, click.user, click.channel, planned.text(), planned.blocks())
    else:
        reply_privately(services, click.user, click.channel, planned)


def reply_privately(services: Services, user: str, channel: str | None, text: str,
                    blocks: list[dict] | None = None) -> bool:
    """Ephemeral to `user` in `channel`; their DM when that is refused (the bot is not in the channel)."""
    extra: dict[str, Any] = {"blocks": blocks} if blocks else {}
    if channel and safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=channel, user=user,
                             text=text, **extra) is not None:
        return True
    dm = services.dm_channel(user)
    return bool(dm) and safe_call("chat.postMessage", services.client.chat_postMessage, channel=dm, text=text,
                                  **extra) is not None
