"""When a playbook follow-up ('now', 'internal', '+3d', '+4h') falls due."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

_DELAY = re.compile(r"^\+(\d+)\s*([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}

INTERNAL = "internal"


def due_at(when: str, resolved_at: datetime) -> datetime:
    """'now' and 'internal' are due at once; '+Nd' / '+Nh' / '+Nm' after that delay; anything else at once."""
    match = _DELAY.match(when.strip().lower())
    if match is None:
        return resolved_at
    return resolved_at + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def is_internal(when: str) -> bool:
    return when.strip().lower() == INTERNAL
