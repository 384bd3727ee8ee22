"""The customer's lifetime value for the card and the alert, from the first source that knows it (issue 12, item 2).

Precedence: the customers table of the event's workspace (`coach customers import --workspace`; matched by
Slack user id + team, else by the users.info profile email), then a Slack custom profile field
(COACH_VALUE_PROFILE_FIELD, via users.profile.get), then the playbook default (the planner's). Every lookup
failure falls back to the next source and is logged without the value or the email: the card never waits on it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.coach.models import CustomerProfile, ValueSource
from bot.slack.logging import get_logger

if TYPE_CHECKING:
    from bot.slack.services import Services

log = get_logger("slack.customer_value")
# "5000", "5000.50", "5,000", "5 000 EUR", "$5,000": an amount with an optional currency code
_AMOUNT = re.compile(r"^\s*\$?\s*(?P<amount>\d{1,3}(?:[ ,]\d{3})+|\d+)(?:\.(?P<cents>\d{1,2}))?\s*(?P<currency>[A-Za-z]{3})?\s*$")


@dataclass(frozen=True)
class FoundValue:
    lifetime_value: float
    currency: str | None
    tier: str | None
    source: ValueSource


def parse_amount(text: str) -> tuple[float, str | None] | None:
    """A profile field's value as (amount, currency or None); None when it is not an amount."""
    match = _AMOUNT.match(text or "")
    if not match:
        return None
    amount = float(re.sub(r"[ ,]", "", match["amount"]) + (f".{match['cents']}" if match["cents"] else ""))
    currency = match["currency"].upper() if match["currency"] else None
    return amount, currency


def from_table(services: Services, workspace: str, user_id: str) -> FoundValue | None:
    """This workspace's customers row for this Slack user (their team or this workspace), else for their email.

    `workspace` is the event's installing team (as incidents record it): only rows imported for it match, so a
    customer with the same email in another workspace's table is never this one's (issue 11, item 2)."""
    if not workspace:  # no workspace known: no table can be this customer's (fail closed to the next source)
        return None
    user = services.roles.user(user_id)  # cached users.info, as the roles already read it
    teams = [user.team_id if user else None, workspace]
    try:
        row = services.store.customers.find(workspace, teams, user_id, user.email if user else None)
    except Exception as exc:  # a missing table (not migrated) or a database hiccup: fall back, never block
        log.warning("customers lookup failed", extra={"error": type(exc).__name__})
        return None
    return FoundValue(row.lifetime_value, row.currency, row.tier, "customers table") if row else None


def from_profile(services: Services, user_id: str) -> FoundValue | None:
    """The lifetime value in the Slack profile field COACH_VALUE_PROFILE_FIELD, when set and readable."""
    field_id = services.settings.coach_value_profile_field
    if not field_id:
        return None
    raw = services.roles.profile_field(user_id, field_id)  # cached for the roles' TTL (10 minutes)
    if not raw:
        return None
    parsed = parse_amount(str(raw))
    if parsed is None:
        log.warning("profile value field is not an amount", extra={"field": field_id})
        return None
    return FoundValue(parsed[0], parsed[1], None, "Slack profile")


def customer_value(services: Services, workspace: str, user_id: str) -> FoundValue | None:
    """The first source that knows this customer's value; None: the playbook default applies."""
    return from_table(services, workspace, user_id) or from_profile(services, user_id)


def with_value(profile: CustomerProfile, services: Services, workspace: str, user_id: str) -> CustomerProfile:
    """`profile` with the looked-up value and its source (unchanged when no source knows it)."""
    found = customer_value(services, workspace, user_id)
    if found is None:
        return profile
    return profile.model_copy(update={"lifetime_value": found.lifetime_value, "value_source": found.source,
                                      "value_currency": found.currency, "tier": found.tier})
