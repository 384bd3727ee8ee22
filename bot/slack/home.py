"""App Home: the live playbook, today's incidents, the viewer's follow-ups due and their open threads with the
customer memory of each (staff only; anyone else, or anyone whose side is unknown, sees nothing internal)."""
from __future__ import annotations

from datetime import datetime

from slack_bolt import Ack, App, BoltContext

from bot.coach.memory import FOLLOW_UP_HORIZON, build_memory
from bot.render.blocks import home_view, memory_line, playbook_modal
from bot.slack.logging import get_logger
from bot.slack.recover import playbook_summary
from bot.slack.resilience import safe_call
from bot.slack.workspace_config import config_lines, current_scope

log = get_logger("slack.home")


UPLOAD_ACTION = "coach_home_playbook_upload"


def register(app: App, services) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict, context: BoltContext) -> None:
        if event.get("tab", "home") == "home":
            publish_home(services, event["user"], context.team_id)

    @app.action(UPLOAD_ACTION)
    def on_home_upload(ack: Ack, body: dict) -> None:
        """An admin's 'Upload playbook' on App Home: the same form (and checks) as `/recover playbook upload`."""
        ack()
        user = body["user"]["id"]
        if not services.roles.is_admin(user):  # a stale Home or a forged click: refused and recorded
            services.store.record_audit(user, "playbook upload", "home button", allowed=False)
            return
        safe_call("views.open", services.client.views_open, trigger_id=body["trigger_id"], view=playbook_modal())
        services.store.record_audit(user, "playbook upload", "modal opened from home", allowed=True)


STAFF_ONLY = {"type": "home", "blocks": [{"type": "section", "text": {
    "type": "mrkdwn", "text": "Recovery Coach helps this workspace's support team. There is nothing here for you."}}]}


def open_thread_lines(services, user: str, workspace: str | None, now: datetime) -> list[str]:
    """The viewer's open threads, each with the one-line customer memory their card shows (staff only: the caller
    has checked). Earlier incidents, flags, open follow-ups and what was given come from bot/coach/memory.py."""
    threads = services.store.agent_open_threads(user, workspace)
    any_resolved = any(s.status == "resolved" for _, history in threads for s in history)
    follow_ups = services.store.due_follow_ups(now + FOLLOW_UP_HORIZON, workspace=current_scope()) \
        if any_resolved else []
    lines = []
    for incident, history in threads:
        memory = build_memory(history, follow_ups, incident.thread_ts)
        lines.append(f"• <#{incident.channel}> {incident.complaint.replace('_', ' ')} · {incident.severity} · "
                     f"opened {incident.opened_at:%b %d %H:%M} UTC\n    {memory_line(memory)}")
    return lines


def publish_home(services, user: str, workspace: str | None = None) -> None:
    if not services.roles.is_internal_staff(user):
        # guests, Slack Connect customers and anyone whose side a failed lookup hides: no internal data
        safe_call("views.publish", services.client.views_publish, user_id=user, view=STAFF_ONLY)
        log.info("home withheld", extra={"user": user})
        return
    now = services.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    scope = current_scope()  # multi-workspace mode: this workspace's only
    incidents = sorted(services.store.incidents_since(midnight, workspace=scope), key=lambda i: i.opened_at,
                       reverse=True)
    incident_lines = [
        f"• {i.opened_at:%H:%M} <#{i.channel}> {i.complaint.replace('_', ' ')} · {i.severity} · "
        f"tone {i.tone_first} → {i.tone_last} · {i.status}" for i in incidents]
    due = services.store.due_follow_ups(now, owner=user, workspace=scope)
    follow_lines = [f"• {f.due_at:%Y-%m-%d %H:%M} `{f.when}` {f.action} — <#{f.channel}>" for f in due]
    threads = open_thread_lines(services, user, workspace, now)
    view = home_view(playbook_summary(services.engine.playbook, services.playbooks.current()),
                     incident_lines, follow_lines, threads)
    if services.roles.is_admin(user):  # this workspace's setup, and the upload form, for its admins only
        view["blocks"] += [{"type": "divider"}, {"type": "header", "text": {"type": "plain_text", "text": "Setup"}},
                           {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(config_lines(services))}},
                           {"type": "actions", "elements": [{"type": "button", "action_id": UPLOAD_ACTION,
                                                             "text": {"type": "plain_text", "text": "Upload playbook"}}]}]
    safe_call("views.publish", services.client.views_publish, user_id=user, view=view)
    log.info("home published", extra={"user": user, "incidents": len(incidents), "follow_ups": len(due),
                                       "threads": len(threads)})
