"""App Home: the live playbook, today's incidents, the viewer's follow-ups due and their open threads with the
customer memory of each (staff only; anyone else, or anyone whose side is unknown, sees nothing internal)."""
from __future__ import annotations

from datetime import datetime

from slack_bolt import App, BoltContext

from bot.coach.memory import FOLLOW_UP_HORIZON, build_memory
from bot.render.blocks import home_view, memory_line
from bot.slack.logging import get_logger
from bot.slack.recover import playbook_summary
from bot.slack.resilience import safe_call

log = get_logger("slack.home")


def register(app: App, services) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict, context: BoltContext) -> None:
        if event.get("tab", "home") == "home":
            publish_home(services, event["user"], context.team_id)


STAFF_ONLY = {"type": "home", "blocks": [{"type": "section", "text": {
    "type": "mrkdwn", "text": "Recovery Coach helps this workspace's support team. There is nothing here for you."}}]}


def open_thread_lines(services, user: str, workspace: str | None, now: datetime) -> list[str]:
    """The viewer's open threads, each with the one-line customer memory their card shows (staff only: the caller
    has checked). Earlier incidents, flags, open follow-ups and what was given come from bot/coach/memory.py."""
    threads = services.store.agent_open_threads(user, workspace)
    any_resolved = any(s.status == "resolved" for _, history in threads for s in history)
    follow_ups = services.store.due_follow_ups(now + FOLLOW_UP_HORIZON) if any_resolved else []
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
    incidents = sorted(services.store.incidents_since(midnight), key=lambda i: i.opened_at, reverse=True)
    incident_lines = [
        f"• {i.opened_at:%H:%M} <#{i.channel}> {i.complaint.replace('_', ' ')} · {i.severity} · "
        f"tone {i.tone_first} → {i.tone_last} · {i.status}" for i in incidents]
    due = services.store.due_follow_ups(now, owner=user)
    follow_lines = [f"• {f.due_at:%Y-%m-%d %H:%M} `{f.when}` {f.action} — <#{f.channel}>" for f in due]
    threads = open_thread_lines(services, user, workspace, now)
    view = home_view(playbook_summary(services.engine.playbook, services.store.current_playbook()),
                     incident_lines, follow_lines, threads)
    safe_call("views.publish", services.client.views_publish, user_id=user, view=view)
    log.info("home published", extra={"user": user, "incidents": len(incidents), "follow_ups": len(due),
                                       "threads": len(threads)})
