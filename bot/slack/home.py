"""App Home: the live playbook, today's incidents and the viewer's follow-ups due."""
from __future__ import annotations

from slack_bolt import App

from bot.render.blocks import home_view
from bot.slack.logging import get_logger
from bot.slack.recover import playbook_summary
from bot.slack.resilience import safe_call

log = get_logger("slack.home")


def register(app: App, services) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict) -> None:
        if event.get("tab", "home") == "home":
            publish_home(services, event["user"])


STAFF_ONLY = {"type": "home", "blocks": [{"type": "section", "text": {
    "type": "mrkdwn", "text": "Recovery Coach helps this workspace's support team. There is nothing here for you."}}]}


def publish_home(services, user: str) -> None:
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
    view = home_view(playbook_summary(services.engine.playbook, services.store.current_playbook()),
                     incident_lines, follow_lines)
    safe_call("views.publish", services.client.views_publish, user_id=user, view=view)
    log.info("home published", extra={"user": user, "incidents": len(incidents), "follow_ups": len(due)})
