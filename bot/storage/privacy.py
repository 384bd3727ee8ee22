"""Pseudonyms for customers and a plan copy that is safe to keep after the customer text is gone."""
from __future__ import annotations

import hashlib
import hmac

from bot.coach.models import RecoveryPlan
from bot.storage.redaction import redact

# details whose value identifies a person: dropped from the stored plan (the rest are order refs,
# amounts, dates, devices, which the stats need)
PERSONAL_DETAILS = frozenset({"email", "phone", "address"})


def pseudonym(key: str, user_id: str) -> str:
    """Stable keyed pseudonym (HMAC-SHA256, 128 bits): joins a customer's incidents without the id."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def scrub_plan(plan: RecoveryPlan) -> dict:
    """The plan as JSON with personal details removed, also from the 'why' lines that quote them."""
    data = plan.model_dump(mode="json")
    details: dict[str, str] = data.get("details_found", {})
    personal = {kind: value for kind, value in details.items() if kind in PERSONAL_DETAILS}
    data["details_found"] = {
        kind: (f"[{kind.upper()}]" if kind in personal else redact(value)) for kind, value in details.items()
    }
    why: list[str] = []
    for line in data.get("why", []):
        for kind, value in personal.items():
            line = line.replace(value, f"[{kind.upper()}]")
        why.append(redact(line))
    data["why"] = why
    return data
