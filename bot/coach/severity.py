"""Severity from tone, complaint type, repeat contact, a churn threat and customer value, as the playbook weights them."""
from __future__ import annotations

from dataclasses import dataclass

from bot.labels import Severity
from bot.playbook.schema import SeverityRules


@dataclass(frozen=True)
class SeverityScore:
    points: int
    level: Severity
    reasons: tuple[str, ...]


def score_severity(rules: SeverityRules, tone: str, complaint: str, repeat_contact: bool,
                   high_value: bool, churn_threat: bool = False) -> SeverityScore:
    reasons: list[str] = []
    points = rules.tone_points.get(tone, 0) + rules.complaint_points.get(complaint, 0)
    reasons.append(f"{tone} tone and a {complaint.replace('_', ' ')} complaint")
    if repeat_contact and rules.repeat_contact_points:
        points += rules.repeat_contact_points
        reasons.append("the customer has contacted us about this before")
    if churn_threat and rules.churn_threat_points:
        points += rules.churn_threat_points
        reasons.append("the customer says they may leave us")
    if high_value and rules.high_value_points:
        points += rules.high_value_points
        reasons.append("a high-value customer")
    t = rules.thresholds
    level: Severity = (
        "critical" if points >= t.critical else "high" if points >= t.high else "medium" if points >= t.medium else "low"
    )
    return SeverityScore(points, level, tuple(reasons))
