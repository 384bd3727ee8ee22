"""The product's label sets, shared by the model, the playbook and the planner."""
from __future__ import annotations

from typing import Literal, get_args

Tone = Literal["angry", "frustrated", "anxious", "neutral", "positive", "abusive"]
Complaint = Literal[
    "billing",
    "refund",
    "delivery",
    "wrong_item",
    "product_quality",
    "staff_attitude",
    "technical",
    "account_access",
    "cancellation",
    "wait_time",
    "other_complaint",
    "none",
]
Language = Literal["en", "ru", "zh", "et"]
Severity = Literal["low", "medium", "high", "critical"]
Role = Literal["agent", "lead", "supervisor"]

TONES: tuple[str, ...] = get_args(Tone)
COMPLAINTS: tuple[str, ...] = get_args(Complaint)
LANGUAGES: tuple[str, ...] = get_args(Language)
SEVERITIES: tuple[str, ...] = get_args(Severity)
ROLES: tuple[str, ...] = get_args(Role)  # the authority ladder, lowest first
HEADS: dict[str, tuple[str, ...]] = {"tone": TONES, "complaint": COMPLAINTS}
