"""Due follow-ups reach their owning agent by DM, via the storage layer's database-polled scheduler."""
from __future__ import annotations

from typing import Callable

from bot.slack import metrics
from bot.slack.logging import get_logger
from bot.slack.oauth import in_workspace
from bot.slack.resilience import safe_call
from bot.storage.api import DueFollowUp

log = get_logger("slack.followups")
LABELS = {"now": "Now", "internal": "Internal"}


def follow_up_text(item: DueFollowUp, permalink: str | None) -> str:
    when = LABELS.get(item.when, f"After-care ({item.when})")
    where = f"<{permalink}|the thread>" if permalink else f"<#{item.channel}>"
    return f":bell: *Follow-up due* — {when}: {item.action}\nCustomer thread: {where}"


def make_deliverer(services) -> Callable[[DueFollowUp], None]:
    """The scheduler's callback: raises when the DM did not go out, so the follow-up is retried later."""
    def deliver(item: DueFollowUp) -> None:
        # the scheduler's thread has no request behind it: the incident's workspace picks the token
        with in_workspace(item.workspace or None):
            _deliver(item)

    def _deliver(item: DueFollowUp) -> None:
        metrics.followup_due()
        dm = services.dm_channel(item.owner)
        if dm is None:
            raise RuntimeError("could not open a DM")
        link = safe_call("chat.getPermalink", services.client.chat_getPermalink, channel=item.channel,
                         message_ts=item.thread_ts)
        sent = safe_call("chat.postMessage", services.client.chat_postMessage, channel=dm,
                         text=follow_up_text(item, link.get("permalink") if link else None))
        if sent is None:
            raise RuntimeError("follow-up DM failed")
        log.info("follow-up delivered", extra={"follow_up": item.id, "owner": item.owner, "when": item.when})
        metrics.followup_sent()

    return deliver


def start_follow_up_scheduler(services, interval_s: float = 30.0):
    from bot.storage.scheduler import FollowUpScheduler

    housekeeping = getattr(services.store, "housekeeping", None)
    scheduler = FollowUpScheduler(services.store, make_deliverer(services), interval_s=interval_s,
                                  housekeeping=housekeeping)
    scheduler.start()
    return scheduler
