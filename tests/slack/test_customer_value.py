"""Customer value from a real source (issue 12, item 2), end to end through the real Bolt app: the customers
table (`coach customers import`), the Slack profile field, the playbook default; the card and the supervisor
alert say where the value came from."""
from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for

CHARGED = "I was charged twice for order 12345!"  # angry billing: severity high, critical for a high-value customer
HEADER = "id,email,slack_user_id,slack_team_id,lifetime_value,tier,currency\n"


def _import(settings, tmp_path, monkeypatch, rows: str) -> str:
    """`coach customers import` on the bot's database, as an admin would run it."""
    monkeypatch.setenv("COACH_DATABASE_URL", settings.coach_database_url)
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    result = CliRunner().invoke(cli, ["customers", "import", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def _supervisor_dms(fake) -> list[str]:
    return [c.args.get("text") or "" for c in fake.calls_of("chat.postMessage", channel=f"D{SUPERVISOR}")]


@pytest.fixture
def supervisor_in_channel(fake):
    """The supervisor is in the support channel too, so gets a card planned with a supervisor's authority."""
    fake.add_channel(CHANNEL, ["UBOT", *AGENTS, SUPERVISOR, CUSTOMER])


def test_imported_high_value_customer_triggers_the_alert_and_the_larger_offer(
        make_bot, fake, settings, tmp_path, monkeypatch, supervisor_in_channel):
    out = _import(settings, tmp_path, monkeypatch, f"CRM-42,vip@example.com,{CUSTOMER},TCUSTOMER,12500,gold,USD\n")
    assert "imported 1" in out
    bot = make_bot()
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "12,500 USD lifetime revenue" in card and "high-value customer" in card
    assert "Value from the customers table" in card and "tier *gold*" in card
    alert = fake.wait_for("chat.postMessage", channel=f"D{SUPERVISOR}",
                          where=lambda c: "High-value" in (c.args.get("text") or ""))[0].args["text"]
    assert "High-value customer (12,500 USD lifetime, from the customers table, tier gold) at critical severity" in alert
    assert "charged" not in alert and "vip@" not in alert  # labels and a link only
    supervisor_card = card_for(fake, SUPERVISOR).blocks_text()
    assert "One month of the subscription free" in supervisor_card  # critical: the supervisor's larger option


def test_without_a_source_the_playbook_default_is_used_and_said(make_bot, fake, supervisor_in_channel):
    bot = make_bot()
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "1,440 USD lifetime revenue" in card and "Value from the playbook default" in card
    assert "high-value" not in card
    supervisor_card = card_for(fake, SUPERVISOR).blocks_text()
    assert "Store credit of 25 USD" in supervisor_card and "One month" not in supervisor_card  # severity high
    time.sleep(0.5)  # alerts go out right after the cards
    assert not any("High-value" in t for t in _supervisor_dms(fake))


def test_customer_found_by_profile_email(make_bot, fake, settings, tmp_path, monkeypatch):
    fake.add_user(CUSTOMER, team_id="TCUSTOMER", email="Vip@Example.com")
    _import(settings, tmp_path, monkeypatch, "CRM-7,vip@example.com,,,4000,silver,\n")
    bot = make_bot()
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "4,000 USD lifetime revenue" in card and "Value from the customers table" in card and "silver" in card


def test_slack_profile_field_when_the_table_has_no_row_and_the_table_first_when_it_has(
        make_bot, fake, settings, tmp_path, monkeypatch):
    fake.add_user(CUSTOMER, team_id="TCUSTOMER", fields={"XfLTV": "$9,000"})
    fake.add_user("UCUST2", team_id="TCUSTOMER", fields={"XfLTV": "9000"})
    fake.add_channel(CHANNEL, ["UBOT", *AGENTS, CUSTOMER, "UCUST2"])
    _import(settings, tmp_path, monkeypatch, "CRM-2,,UCUST2,TCUSTOMER,3000,,USD\n")
    bot = make_bot(settings_=settings.model_copy(update={"coach_value_profile_field": "XfLTV"}))
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "9,000 USD lifetime revenue" in card and "Value from the Slack profile" in card
    alert = fake.wait_for("chat.postMessage", channel=f"D{SUPERVISOR}",
                          where=lambda c: "High-value" in (c.args.get("text") or ""))[0].args["text"]
    assert "from the Slack profile" in alert
    bot.driver.message("UCUST2", CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0], count=2).blocks_text()
    assert "3,000 USD lifetime revenue" in card and "Value from the customers table" in card  # table > profile
    assert not fake.calls_of("users.profile.get", user="UCUST2")  # the table answered: Slack not asked


def test_a_failing_profile_lookup_falls_back_and_never_blocks_the_card(make_bot, fake, settings):
    fake.add_user(CUSTOMER, team_id="TCUSTOMER", fields={"XfLTV": "9000"})
    fake.fail_for("users.profile.get", seconds=60, status=500)
    bot = make_bot(settings_=settings.model_copy(update={"coach_value_profile_field": "XfLTV"}))
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "1,440 USD lifetime revenue" in card and "Value from the playbook default" in card
    assert fake.calls_of("users.profile.get", ok_only=False)  # it was asked, and failed


def test_a_value_in_another_currency_is_shown_not_mixed(make_bot, fake, settings, tmp_path, monkeypatch):
    _import(settings, tmp_path, monkeypatch, f"CRM-9,,{CUSTOMER},TCUSTOMER,50000,gold,EUR\n")
    bot = make_bot()
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "1,440 USD lifetime revenue" in card and "Value from the playbook default" in card
    assert "50,000 EUR on file (customers table) is not in the playbook's USD: not converted" in card
    time.sleep(0.5)
    assert not any("High-value" in t for t in _supervisor_dms(fake))


def test_recover_link_plans_with_the_same_value_and_source(make_bot, fake, settings, tmp_path, monkeypatch):
    _import(settings, tmp_path, monkeypatch, f"CRM-42,,{CUSTOMER},TCUSTOMER,12500,gold,USD\n")
    bot = make_bot()
    message, _ = bot.driver.message(CUSTOMER, CHARGED, CHANNEL)
    card_for(fake, AGENTS[0])
    link = f"<https://ours.slack.com/archives/{CHANNEL}/p{message['ts'].replace('.', '')}>"
    bot.driver.command(SUPERVISOR, link, CHANNEL)
    plan = fake.wait_for("response_url", where=lambda c: "Recovery coach" in c.blocks_text())[0].blocks_text()
    assert "12,500 USD lifetime revenue" in plan and "Value from the customers table" in plan
    assert "value from the customers table" in plan  # the 'why' line of the full plan
