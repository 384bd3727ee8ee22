"""Tell supervisors when a thread needs them: abuse, a high-value customer at critical severity, or a
tone that is getting worse. Sent as a DM (default) or as an ephemeral message in the thread when the
supervisor is in the channel (COACH_ALERT_MODE=ephemeral). Never the customer's words, only labels
and a link.
"""
from __future__ import annotations

from bot.coach.models import RecoveryPlan
from bot.render.blocks import CardContext
from bot.slack.logging import get_logger
from bot.slack.resilience import safe_call
from bot.storage.api import IncidentSummary

log = get_logger("slack.alerts")
TONE_RANK = {"positive": 0, "neutral": 1, "anxious": 2, "frustrated": 3, "angry": 4, "abusive": 5}


def alert_reasons(plan: RecoveryPlan, previous: IncidentSummary | None) -> list[tuple[str, str]]:
    """(kind, headline) for each condition met by this customer message."""
    reasons: list[tuple[str, str]] = []
    if plan.abusive:
        reasons.append(("abusive", ":no_entry: Abusive customer"))
    if plan.value_at_stake.high_value and plan.severity == "critical":
        stake = plan.value_at_stake
        tier = f", tier {stake.tier}" if stake.tier else ""
        reasons.append(("high_value_critical", f":rotating_light: High-value customer ({stake.lifetime_revenue:,.0f} "
                                                f"{stake.currency} lifetime, from the {stake.value_source}{tier}) "
                                                "at critical severity"))
    if previous is not None and not plan.tone.unsure:
        before, now = TONE_RANK.get(previous.tone_last, 1), TONE_RANK.get(plan.tone.label, 1)
        if now > before:
            reasons.append(("worsening", f":chart_with_downwards_trend: Tone worsening: {previous.tone_last} → {plan.tone.label}"))
    return reasons


def send_alerts(services, plan: RecoveryPlan, previous: IncidentSummary | None, ctx: CardContext,
                channel_members: list[str]) -> list[str]:
    """Alert every supervisor once per incident and kind (per worker); returns the kinds sent."""
    fresh = [(k, h) for k, h in alert_reasons(plan, previous) if (ctx.incident_id, k) not in services.alerted]
    supervisors = services.settings.coach_supervisors
    if not fresh or not supervisors:
        return []
    services.alerted.update((ctx.incident_id, k) for k, _ in fresh)
    link = safe_call("chat.getPermalink", services.client.chat_getPermalink, channel=ctx.channel,
                     message_ts=ctx.message_ts)
    where = f"<{link['permalink']}|open the thread>" if link else f"in <#{ctx.channel}>"
    text = "\n".join(h for _, h in fresh) + f"\nSeverity {plan.severity}, complaint {plan.complaint.label} — {where}"
    for supervisor in supervisors:
        if services.settings.coach_alert_mode == "ephemeral" and supervisor in channel_members:
            safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=ctx.channel, user=supervisor,
                      thread_ts=ctx.thread_ts, text=text)
            continue
        dm = services.dm_channel(supervisor)
        if dm:
            safe_call("chat.postMessage", services.client.chat_postMessage, channel=dm, text=text)
    log.info("supervisors alerted", extra={"incident": ctx.incident_id, "kinds": [k for k, _ in fresh]})
    return [k for k, _ in fresh]
