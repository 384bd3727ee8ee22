"""Pseudonyms for customers and a plan copy that is safe to keep after the customer text is gone."""
from __future__ import annotations

import hashlib
import hmac

from bot.coach.models import RecoveryPlan
from bot.storage.redaction import redact, safe_reference, survives

# details whose value identifies a person: dropped from the stored plan (the rest are order refs,
# amounts, dates, devices, which the stats need)
PERSONAL_DETAILS = frozenset({"email", "phone", "address"})
# details kept in a column of their own and exported: kept only when they cannot be a phone, card or id
REFERENCE_DETAILS = frozenset({"order_id", "product"})


def pseudonym(key: str, user_id: str) -> str:
    """Stable keyed pseudonym (HMAC-SHA256, 128 bits): joins a customer's incidents without the id."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def _redact_strings(node: object) -> object:
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, dict):
        return {k: _redact_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact_strings(v) for v in node]
    return node


def scrub_plan(plan: RecoveryPlan, text: str | None = None, redacted: str | None = None) -> dict:
    """The plan as JSON with personal details removed, also from the 'why' lines that quote them.

    `text` / `redacted`: the customer message and its redacted form. A detail the planner found inside
    something redaction removed there (the digits of a passport read as an order number) is dropped too.
    Every other string is redacted as well, in case a template ever quotes the customer.
    """
    data = plan.model_dump(mode="json")
    if text is not None and redacted is None:
        redacted = redact(text)
    details: dict[str, str] = data.pop("details_found", {}) or {}
    hidden: dict[str, str] = {}
    for kind, value in details.items():
        if kind in PERSONAL_DETAILS:
            keep = None
        elif kind in REFERENCE_DETAILS:
            keep = safe_reference(value, text, redacted)
        else:
            keep = value if redact(value) == value and (
                text is None or survives(value, text, redacted or "")) else None
        if keep is None:
            hidden[value] = f"[{kind.upper()}]"
    why: list[str] = []
    for line in data.pop("why", []):
        for value in sorted(hidden, key=len, reverse=True):
            line = line.replace(value, hidden[value])
        why.append(line)
    scrubbed = _redact_strings(data)
    assert isinstance(scrubbed, dict)
    scrubbed["details_found"] = {kind: hidden.get(value, value) for kind, value in details.items()}
    scrubbed["why"] = [redact(line) for line in why]
    return scrubbed
