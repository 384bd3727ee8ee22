"""Where the value at stake comes from: precedence (customers table > Slack profile > playbook default), the
source on the plan, the card and the alert, and a recorded value in another currency (shown, never mixed)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.coach.models import CustomerProfile
from bot.coach.planner import plan_recovery
from bot.render.blocks import value_origin
from bot.slack.alerts import alert_reasons
from bot.slack.customer_value import customer_value, parse_amount, with_value
from bot.storage.customers import CustomerValue
from tests.slack.conftest import classification

ANGRY_BILLING = classification("angry", "billing")


def _plan(playbook, profile: CustomerProfile):
    return plan_recovery("I was charged twice for order 12345!", ANGRY_BILLING, playbook, customer=profile)


def test_sources_on_the_plan(playbook):
    assert _plan(playbook, CustomerProfile()).value_at_stake.value_source == "playbook default"
    assert _plan(playbook, CustomerProfile(average_order_value=100)).value_at_stake.value_source == "customer figures"
    assert _plan(playbook, CustomerProfile(lifetime_value=700)).value_at_stake.value_source == "customer profile"
    table = _plan(playbook, CustomerProfile(lifetime_value=12500, value_source="customers table", tier="gold",
                                            value_currency="USD"))
    stake = table.value_at_stake
    assert (stake.lifetime_revenue, stake.value_source, stake.tier, stake.high_value) == (12500, "customers table", "gold", True)
    assert table.severity == "critical" and _plan(playbook, CustomerProfile()).severity == "high"
    assert any("value from the customers table" in w for w in table.why)
    assert value_origin(stake) == "_Value from the customers table_ · tier *gold*"
    [(kind, headline)] = alert_reasons(table, None)
    assert kind == "high_value_critical" and "from the customers table, tier gold" in headline


def test_a_value_in_another_currency_is_not_converted_nor_compared(playbook):
    plan = _plan(playbook, CustomerProfile(lifetime_value=50000, value_source="Slack profile", value_currency="EUR"))
    stake = plan.value_at_stake
    assert stake.currency == "USD" and stake.lifetime_revenue == playbook.lifetime_revenue()
    assert stake.value_source == "playbook default" and not stake.high_value
    assert stake.currency_note and "50,000 EUR on file (Slack profile)" in stake.currency_note
    assert ":warning:" in value_origin(stake) and any("not converted" in w for w in plan.why)
    assert alert_reasons(plan, None) == []


@pytest.mark.parametrize("text, expected", [
    ("5000", (5000.0, None)), ("5,000", (5000.0, None)), ("5 000 eur", (5000.0, "EUR")),
    ("$12,500.50", (12500.5, None)), ("1200.5 USD", (1200.5, "USD")),
    ("", None), ("lots", None), ("5.000,00", None), ("-5", None), ("12,50", None),
])
def test_parse_profile_amount(text, expected):
    assert parse_amount(text) == expected


class _Customers:
    def __init__(self, row: CustomerValue | None = None, fail: bool = False) -> None:
        self.row, self.fail, self.asked = row, fail, []

    def find(self, workspace, teams, user_id, email=None):
        self.asked.append((workspace, list(teams), user_id, email))
        if self.fail:
            raise RuntimeError("the database has no schema")
        return self.row


class _Client:
    def __init__(self, value: str | None) -> None:
        self.value, self.calls = value, 0

    def users_profile_get(self, user: str):
        self.calls += 1
        return {"profile": {"fields": {"XfLTV": {"value": self.value}} if self.value else {}}}


def _services(row=None, fail=False, profile: str | None = None, field: str | None = "XfLTV"):
    from bot.slack.roles import RoleResolver

    user = SimpleNamespace(team_id="TCUST", email="a@example.com")
    client = _Client(profile)
    roles = RoleResolver(client, SimpleNamespace())  # type: ignore[arg-type]
    roles.user = lambda _id: user  # type: ignore[method-assign]
    return SimpleNamespace(store=SimpleNamespace(customers=_Customers(row, fail)), client=client, roles=roles,
                           settings=SimpleNamespace(coach_value_profile_field=field))


def test_precedence_table_then_profile_then_none():
    row = CustomerValue("C-1", 3000, "USD", "gold")
    both = _services(row, profile="9000")
    found = customer_value(both, "TOURS", "UC")
    assert (found.lifetime_value, found.source, found.tier) == (3000, "customers table", "gold")
    assert both.client.calls == 0    # the event's workspace scopes the lookup, the customer's team is one of two
    assert both.store.customers.asked == [("TOURS", ["TCUST", "TOURS"], "UC", "a@example.com")]
    nowhere = _services(row, profile="9000")   # no workspace known: the table is not asked, the profile is
    assert customer_value(nowhere, "", "UC").source == "Slack profile" and nowhere.store.customers.asked == []
    profile_only = customer_value(_services(None, profile="9000 EUR"), "TOURS", "UC")
    assert (profile_only.lifetime_value, profile_only.currency, profile_only.source) == (9000, "EUR", "Slack profile")
    assert customer_value(_services(None, profile="9000", field=None), "TOURS", "UC") is None   # field not set
    assert customer_value(_services(None, profile="ask me"), "TOURS", "UC") is None             # not an amount
    assert customer_value(_services(None, profile=None), "TOURS", "UC") is None                 # field empty
    fallback = customer_value(_services(row, fail=True, profile="700"), "TOURS", "UC")          # table down
    assert fallback.source == "Slack profile" and fallback.lifetime_value == 700


def test_with_value_keeps_the_profile_when_nothing_is_known():
    profile = CustomerProfile(customer_id="UC", previous_contacts=2)
    assert with_value(profile, _services(None, field=None), "TOURS", "UC") is profile
    updated = with_value(profile, _services(CustomerValue("C-1", 3000, "EUR", None)), "TOURS", "UC")
    assert (updated.lifetime_value, updated.value_source, updated.value_currency, updated.previous_contacts) == (
        3000, "customers table", "EUR", 2)


def test_the_profile_field_is_read_once_per_ttl():
    services = _services(None, profile="9000")
    assert customer_value(services, "TOURS", "UC").lifetime_value == 9000
    assert customer_value(services, "TOURS", "UC").lifetime_value == 9000
    assert services.client.calls == 1
