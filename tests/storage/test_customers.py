"""The customers table: CSV import (good rows, bad rows, re-import), pseudonymised keys, lookup, the CLI; each
workspace's customers are its own (issue 11, item 2)."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from bot.cli import app
from bot.storage.customers import CsvError, read_csv
from bot.storage.slack_tables import slack_bots
from bot.storage.tables import Customer

GOOD = """id,email,slack_user_id,slack_team_id,lifetime_value,tier,currency
C-1,Ann.Lee@Example.com,UANN,TCUST,12500.50,gold,USD
C-2,bob@example.com,,,800,,
C-3,,ucarl,tcust,3000,silver,eur
"""
WS = "TOURS"  # the workspace the rows are imported for (the installing team, as incidents record it)


def _import(store, text: str, all_or_nothing: bool = False, workspace: str = WS):
    rows, rejected = read_csv(text, "USD")
    return store.customers.import_rows(workspace, rows, rejected, all_or_nothing=all_or_nothing)


def test_good_rows_are_imported_with_email_and_slack_user_only_as_pseudonyms(store):
    report = _import(store, GOOD)
    assert (report.imported, report.updated, report.unchanged, report.rejected) == (3, 0, 0, [])
    with store.read_session() as s:
        rows = {c.id: c for c in s.scalars(select(Customer))}
    assert {c.workspace for c in rows.values()} == {WS}
    assert rows["C-1"].lifetime_value == 12500.5 and rows["C-1"].tier == "gold" and rows["C-1"].currency == "USD"
    assert rows["C-2"].currency == "USD" and rows["C-2"].slack_user_key is None   # the default currency
    assert rows["C-3"].currency == "EUR" and rows["C-3"].slack_team == "TCUST"     # upper-cased ids and codes
    stored = " ".join(str(v) for c in rows.values() for v in vars(c).values())
    for clear in ("Ann.Lee", "ann.lee", "example.com", "UANN", "UCARL"):
        assert clear not in stored
    assert rows["C-1"].slack_user_key == store._pseudonym("UANN")  # the same pseudonym incidents use


def test_lookup_by_slack_user_and_team_then_by_email(store):
    _import(store, GOOD)
    found = store.customers.find(WS, ["TCUST"], "UANN")
    assert found is not None and (found.customer_id, found.lifetime_value, found.tier) == ("C-1", 12500.5, "gold")
    assert store.customers.find(WS, ["TOTHER"], "UANN") is None                       # another team's UANN
    assert store.customers.find(WS, [None, "TOURS"], "UBOB", " BOB@example.COM ").customer_id == "C-2"  # email
    assert store.customers.find(WS, ["TCUST"], "UNOBODY", "nobody@example.com") is None
    # another workspace (or none) sees none of them, by Slack user or by email
    assert store.customers.find("TTHEIRS", ["TCUST"], "UANN", "ann.lee@example.com") is None
    assert store.customers.find("", ["TCUST"], "UANN", "ann.lee@example.com") is None


def test_bad_rows_are_rejected_with_line_and_reason_and_the_good_ones_written(store):
    text = """id,email,slack_user_id,slack_team_id,lifetime_value,tier,currency
C-1,ann@example.com,UANN,TCUST,1000,,
,x@example.com,,,10,,
C-4,not-an-email,,,10,,
C-5,e5@example.com,,,"1,200",,
C-6,e6@example.com,,,-5,,
C-7,,UX7,,10,,
C-8,,,,10,,
C-9,e9@example.com,,,10,,dollars
C-1,again@example.com,,,10,,
C-10,ann@example.com,,,10,,
C-11,e11@example.com,,,10,,USD,extra
C-12,e12@example.com,,,,,
"""
    report = _import(store, text)
    assert report.imported == 1 and report.written
    reasons = dict(report.rejected)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert reasons[3] == "id is empty"
    assert "not an email" in reasons[4] and "not-an-email" not in reasons[4]   # the address is never echoed
    assert "thousands separators" in reasons[5] and "plain amount" in reasons[6]
    assert "needs slack_team_id" in reasons[7] and "never be found" in reasons[8]
    assert "three-letter" in reasons[9] and "repeats line 2" in reasons[10]
    assert "already belongs to customer 'C-1'" in reasons[11]
    assert "more cells" in reasons[12] and "lifetime_value is empty" in reasons[13]
    assert store.customers.count() == 1


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(store):
    report = _import(store, GOOD + "C-9,,,,10,,\n", all_or_nothing=True)
    assert not report.written and report.imported == 0 and [line for line, _ in report.rejected] == [5]
    assert store.customers.count() == 0


def test_reimport_updates_changed_rows_and_counts_unchanged_ones(store):
    _import(store, GOOD)
    again = GOOD.replace("12500.50,gold", "20000,platinum").replace("bob@example.com", "robert@example.com")
    report = _import(store, again)
    assert (report.imported, report.updated, report.unchanged) == (0, 2, 1)
    assert store.customers.find(WS, ["TCUST"], "UANN").lifetime_value == 20000
    assert store.customers.find(WS, [], None, "bob@example.com") is None            # the old email no longer matches
    assert store.customers.find(WS, [], None, "robert@example.com").customer_id == "C-2"
    # an email moved from one id to another in the same file is rejected, not silently given to both
    moved = _import(store, "id,email,lifetime_value\nC-9,robert@example.com,5\n")
    assert moved.imported == 0 and "already belongs to customer 'C-2'" in moved.rejected[0][1]


def test_two_workspaces_import_the_same_ids_and_emails_independently(store):
    """Workspace A and B are two clients of the bot: the same CRM id, email and Slack user are each one's own."""
    assert _import(store, GOOD, workspace="TA").imported == 3
    theirs = GOOD.replace("12500.50,gold", "90,bronze")
    report = _import(store, theirs, workspace="TB")
    assert (report.imported, report.rejected) == (3, [])       # no clash with A's C-1 / ann.lee / UANN
    assert store.customers.count() == 6 and store.customers.count("TA") == store.customers.count("TB") == 3
    assert store.customers.find("TA", [], None, "ann.lee@example.com").lifetime_value == 12500.5
    assert store.customers.find("TB", [], None, "ann.lee@example.com").lifetime_value == 90
    assert store.customers.find("TB", ["TCUST"], "UANN").tier == "bronze"
    # B's re-import with a changed value and an email moved between its own ids touches only B's rows
    moved = _import(store, "id,email,lifetime_value\nC-2,new@example.com,5\nC-9,ann.lee@example.com,7\n",
                    workspace="TB")
    assert moved.updated == 1 and moved.imported == 0 and "already belongs to customer 'C-1'" in moved.rejected[0][1]
    assert store.customers.find("TA", [], None, "bob@example.com").lifetime_value == 800   # A's C-2 unchanged
    assert store.customers.find("TB", [], None, "bob@example.com") is None
    # A takes an email that only B holds: allowed, it is A's first
    assert _import(store, "id,email,lifetime_value\nC-5,new@example.com,50\n", workspace="TA").imported == 1


@pytest.mark.parametrize("workspace", ["", "tours lower?", "UOURS"])
def test_an_import_needs_a_workspace(store, workspace):
    with pytest.raises(ValueError, match="not a Slack team id"):
        _import(store, GOOD, workspace=workspace)
    assert store.customers.count() == 0


def test_the_database_refuses_a_customer_of_no_workspace(store):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store._writer.begin() as connection:
        connection.execute(insert(Customer).values(workspace="", id="C-1", lifetime_value=1, currency="USD",
                                                   updated_at=datetime(2026, 12, 1)))


@pytest.mark.parametrize("header, message", [
    ("", "empty"),
    ("id,email,lifetime value\n", "unknown column(s) lifetime value"),
    ("id,email\n", "missing column(s) lifetime_value"),
])
def test_a_bad_header_rejects_the_file(header, message):
    with pytest.raises(CsvError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_csv(header, "USD")


def test_cli_import_reports_imported_updated_rejected(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    good = tmp_path / "customers.csv"
    good.write_text(GOOD, encoding="utf-8")
    first = runner.invoke(app, ["customers", "import", str(good), "--workspace", WS])
    assert first.exit_code == 0, first.output
    assert "imported 3, updated 0, unchanged 0, rejected 0" in first.output
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(GOOD.replace("800", "900") + "C-9,,,,10,,\n", encoding="utf-8")
    second = runner.invoke(app, ["customers", "import", str(mixed), "--workspace", WS])
    assert second.exit_code == 1
    assert "rejected line 5: neither email nor slack_user_id" in second.output
    assert "imported 0, updated 1, unchanged 2, rejected 1" in second.output
    strict = runner.invoke(app, ["customers", "import", str(mixed), "--all-or-nothing", "--workspace", WS])
    assert strict.exit_code == 1 and "nothing written" in strict.output
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,value\nC-1,5\n", encoding="utf-8")
    refused = runner.invoke(app, ["customers", "import", str(bad), "--workspace", WS])
    assert refused.exit_code == 2 and "unknown column(s) customer, value" in refused.output
    assert "ann.lee" not in (first.output + second.output).lower()


def test_cli_import_on_a_database_before_0006_says_to_upgrade(sqlite_url, tmp_path, monkeypatch):
    from alembic import command
    from alembic.config import Config

    from bot.storage.store import MIGRATIONS_DIR, SqlStore

    with SqlStore(sqlite_url) as old:
        with old._writer.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")  # the revision before the customers table
    monkeypatch.setenv("COACH_DATABASE_URL", sqlite_url)
    path = tmp_path / "customers.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(app, ["customers", "import", str(path), "--workspace", WS])
    assert result.exit_code == 2 and "coach db upgrade" in result.output, result.output


def _installed(sqlite_url: str, *teams: str) -> None:
    """Bot installations as multi-workspace mode's OAuth flow records them (slack_bots rows)."""
    from bot.storage.store import SqlStore

    with SqlStore(sqlite_url) as db, db._writer.begin() as connection:
        for team in teams:
            connection.execute(insert(slack_bots).values(client_id="1.2", app_id="ACOACH", team_id=team,
                                                         bot_token="sealed", installed_at=datetime(2026, 12, 1)))


def _org_installed(sqlite_url: str, enterprise: str, *teams: str) -> None:
    """An org-wide install (enterprise, team None) and the workspaces recorded as its (slack_org_teams)."""
    from bot.storage.org_teams import OrgTeams
    from bot.storage.store import SqlStore

    with SqlStore(sqlite_url) as db:
        with db._writer.begin() as connection:
            connection.execute(insert(slack_bots).values(
                client_id="1.2", app_id="ACOACH", enterprise_id=enterprise, team_id=None, bot_token="sealed",
                is_enterprise_install=True, installed_at=datetime(2026, 12, 1)))
        OrgTeams(db._writer).record(enterprise, teams)


@pytest.fixture
def run(sqlite_url, tmp_path, monkeypatch):
    """`coach customers import GOOD.csv [extra…]` on an upgraded SQLite database."""
    monkeypatch.setenv("COACH_DATABASE_URL", sqlite_url)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    path = tmp_path / "customers.csv"
    path.write_text(GOOD, encoding="utf-8")
    return lambda *extra: CliRunner().invoke(app, ["customers", "import", str(path), *extra])


def test_cli_import_takes_a_recorded_workspace_of_an_org_wide_install(sqlite_url, run):
    from bot.storage.org_teams import OrgTeams
    from bot.storage.store import SqlStore

    _org_installed(sqlite_url, "EORG")
    unseen = run("--workspace", "TA")  # the org is installed but TA never wrote to the bot: not guessed
    assert unseen.exit_code == 2 and "TA is not installed here (installed: none yet)" in unseen.output
    assert "at least one event since the org install" in " ".join(unseen.output.split())
    lone = run()                       # no default under an org install: its other workspaces are unseen yet
    assert lone.exit_code == 2 and "--workspace is required" in lone.output and "EORG" in lone.output
    with SqlStore(sqlite_url) as db:  # TA's first event since the org install (bot/slack/oauth.py records it)
        OrgTeams(db._writer).record("EORG", ["TA"])
    a = run("--workspace", "ta")
    assert a.exit_code == 0 and "workspace TA: imported 3" in a.output, a.output
    org = run("--workspace", "EORG")   # customers belong to a workspace, not to the organisation
    assert org.exit_code == 2 and "not to the organisation" in " ".join(org.output.split())
    _installed(sqlite_url, "TSOLO")    # a plain workspace install beside the org
    assert run("--workspace", "TSOLO").exit_code == 0
    assert run("--workspace", "TA").exit_code == 0
    assert "installed: TA, TSOLO" in run("--workspace", "TZ").output
    with SqlStore(sqlite_url) as db, db._writer.begin() as connection:   # the org uninstalled: its recorded workspaces no longer count
        connection.execute(slack_bots.delete().where(slack_bots.c.enterprise_id == "EORG"))
    gone = run("--workspace", "TA")
    assert gone.exit_code == 2 and "TA is not installed here (installed: TSOLO)" in gone.output
    for command in (["stats", "--json"], ["export", "--format", "jsonl"]):  # reports only check the id's form:
        assert CliRunner().invoke(app, [*command, "--workspace", "TA"]).exit_code == 0  # a past workspace reports


def test_cli_import_workspace_is_required_unless_one_workspace_is_installed(sqlite_url, run):
    single = run()   # single-workspace mode: the team id is only Slack's, so it is asked for, not guessed
    assert single.exit_code == 2 and "--workspace is required in single-workspace mode" in single.output
    assert run("--workspace", "not a team").exit_code == 2
    _installed(sqlite_url, "TA")
    one = run()      # one installed workspace: it is the default
    assert one.exit_code == 0 and "workspace TA: imported 3" in one.output, one.output
    _installed(sqlite_url, "TB")
    two = run()
    assert two.exit_code == 2 and "--workspace is required" in two.output and "TA, TB" in two.output
    stranger = run("--workspace", "TZ")
    assert stranger.exit_code == 2 and "TZ is not installed here" in stranger.output
    b = run("--workspace", "tb")       # upper-cased like the CSV's team ids
    assert b.exit_code == 0 and "workspace TB: imported 3" in b.output, b.output
    from bot.storage.store import SqlStore

    with SqlStore(sqlite_url) as db:
        assert db.customers.count("TA") == db.customers.count("TB") == 3 and db.customers.count() == 6
