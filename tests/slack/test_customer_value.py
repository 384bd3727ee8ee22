"""Customer value from a real source (issue 12, item 2), end to end through the real Bolt app: the customers
table (`coach customers import`), the Slack profile field, the playbook default; the card and the supervisor
alert say where the value came from. Customers belong to a workspace: another workspace's import never values
this one's customer, even with the same email (issue 11, item 2)."""
from __future__ import annotations

import time
from typing import Iterator

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.driver import SlackDriver
from bot.slack.resilience import build_web_client
from bot.slack.server import BackgroundServer, wsgi_app
from tests.slack import test_oauth as two
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, SECRET, SUPERVISOR, FakeClassifier, card_for

CHARGED = "I was charged twice for order 12345!"  # angry billing: severity high, critical for a high-value customer
HEADER = "id,email,slack_user_id,slack_team_id,lifetime_value,tier,currency\n"


def _import(settings, tmp_path, monkeypatch, rows: str, workspace: str = "TOURS") -> str:
    """`coach customers import --workspace` on the bot's database, as an admin would run it (TOURS: the fake
    Slack's team, the workspace of the single-workspace bot's events)."""
    monkeypatch.setenv("COACH_DATABASE_URL", settings.coach_database_url)
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    result = CliRunner().invoke(cli, ["customers", "import", str(path), "--workspace", workspace])
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


def test_a_row_imported_for_another_workspace_is_not_this_ones(make_bot, fake, settings, tmp_path, monkeypatch):
    _import(settings, tmp_path, monkeypatch, f"CRM-42,,{CUSTOMER},TCUSTOMER,12500,gold,USD\n", workspace="TELSE")
    bot = make_bot()
    bot.driver.message(CUSTOMER, CHARGED, CHANNEL)  # the bot's workspace is TOURS
    card = card_for(fake, AGENTS[0]).blocks_text()
    assert "1,440 USD lifetime revenue" in card and "Value from the playbook default" in card


# --------------------------------------------------------------------------- two installed workspaces
SUPERVISORS = {"TA": "USUPA", "TB": "USUPB"}


@pytest.fixture
def workspaces(database_url, playbook, monkeypatch) -> Iterator[two.MultiBot]:
    """The multi-workspace bot (tests/slack/test_oauth.py) with a supervisor in each workspace, so a
    high-value alert would show; both workspaces' customers have the same profile email."""
    from bot.storage.store import SqlStore

    fake = two.WorkspacesFake()
    for team in ("TA", "TB"):
        fake.add_user(two.AGENT[team], team_id=team)
        fake.add_user(SUPERVISORS[team], team_id=team)
        fake.add_user(two.CUSTOMER[team], team_id="TCUST" + team, email="Vip@Example.com")
        fake.add_channel(two.CHANNEL[team], ["UBOT", two.AGENT[team], two.CUSTOMER[team]])
    fake.start()
    settings = Settings(_env_file=None, slack_client_id=two.CLIENT_ID, slack_client_secret=two.CLIENT_SECRET,
                        slack_signing_secret=SECRET, slack_api_url=fake.api_url, coach_database_url=database_url,
                        coach_token_key=Fernet.generate_key().decode(), coach_playbook_check_seconds=0,
                        coach_retry_base_seconds=0.05, coach_supervisors=list(SUPERVISORS.values()))
    store = SqlStore(database_url)
    engine = RecoveryEngine(settings, classifier=FakeClassifier(), playbook=playbook)
    app = build_app(settings, engine, store, client=build_web_client(None, fake.api_url, backoff_factor=0.05))
    server = BackgroundServer(wsgi_app(app.bolt, app.ready)).start()
    monkeypatch.setenv("COACH_DATABASE_URL", database_url)
    yield two.MultiBot(server.url, fake, SlackDriver(server.url, SECRET, fake), app, store, database_url)
    server.stop()
    app.close()
    store.close()
    fake.stop()


def _alerts(fake, team: str) -> list[str]:
    """High-value alerts sent with `team`'s token."""
    return [c.args.get("text") or "" for c in fake.calls_with("chat.postMessage", team)
            if "High-value" in (c.args.get("text") or "")]


def test_one_workspaces_customers_never_value_anothers_customer_with_the_same_email(workspaces, tmp_path):
    bot = workspaces
    for team in ("TA", "TB"):
        two.install(bot, team)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "CRM-42,vip@example.com,,,12500,gold,USD\n", encoding="utf-8")
    unsaid = CliRunner().invoke(cli, ["customers", "import", str(path)])  # two installed: whose customers?
    assert unsaid.exit_code == 2 and "--workspace is required" in unsaid.output and "TA, TB" in unsaid.output
    result = CliRunner().invoke(cli, ["customers", "import", str(path), "--workspace", "TA"])
    assert result.exit_code == 0 and "workspace TA: imported 1" in result.output, result.output

    two.customer_says(bot, "TB", CHARGED, "EvValueB")   # B's customer, same email, nothing imported for B
    card_b = bot.fake.wait_for("chat.postEphemeral", user=two.AGENT["TB"],
                               where=lambda c: bool(c.args.get("blocks")))[-1].blocks_text()
    assert "1,440 USD lifetime revenue" in card_b and "Value from the playbook default" in card_b
    assert "high-value" not in card_b and "12,500" not in card_b

    two.customer_says(bot, "TA", CHARGED, "EvValueA")
    card_a = bot.fake.wait_for("chat.postEphemeral", user=two.AGENT["TA"],
                               where=lambda c: bool(c.args.get("blocks")))[-1].blocks_text()
    assert "12,500 USD lifetime revenue" in card_a and "Value from the customers table" in card_a
    deadline = time.monotonic() + 10  # alerts go out right after the card
    while not _alerts(bot.fake, "TA") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("12,500 USD lifetime, from the customers table, tier gold" in t for t in _alerts(bot.fake, "TA"))
    time.sleep(0.5)
    assert _alerts(bot.fake, "TB") == []     # B's customer raised no high-value alert
