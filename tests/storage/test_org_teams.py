"""slack_org_teams (migration 0008): which workspaces an org-wide install serves, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from bot.storage.org_teams import OrgTeams, org_installs, org_workspaces
from bot.storage.slack_tables import slack_bots, slack_org_teams

T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def rows(store) -> dict[str, tuple]:
    with store._writer.connect() as connection:
        return {r.team_id: (r.enterprise_id, r.first_seen, r.last_seen)
                for r in connection.execute(select(slack_org_teams))}


def test_record_upserts_keeps_first_seen_and_moves_a_team_to_its_new_org(store):
    teams = OrgTeams(store._writer)
    teams.record("EORG", ["TA", "TB", "TA", ""], now=T0)
    assert teams.enterprise_of("TA") == "EORG" and teams.teams_of("EORG") == ["TA", "TB"]
    later = T0 + timedelta(days=2)
    teams.record("EORG", ["TA"], now=later)
    assert rows(store)["TA"] == ("EORG", T0.replace(tzinfo=None), later.replace(tzinfo=None))
    teams.record("ENEW", ["TB"], now=later)       # a workspace belongs to one organisation at a time
    assert rows(store)["TB"] == ("ENEW", later.replace(tzinfo=None), later.replace(tzinfo=None))
    assert teams.enterprise_of("TB") == "ENEW" and teams.teams_of("EORG") == ["TA"]
    assert teams.enterprise_of("TNOWHERE") is None
    teams.record("EORG", [])                      # nothing to write: no statement at all


def test_forget_team_and_forget_enterprise_delete_only_their_rows(store):
    teams = OrgTeams(store._writer)
    teams.record("EORG", ["TA", "TB"], now=T0)
    teams.record("EOTHER", ["TX"], now=T0)
    teams.forget_team("TA")
    assert set(rows(store)) == {"TB", "TX"}
    teams.forget_enterprise("EORG")
    assert set(rows(store)) == {"TX"}


def test_org_workspaces_lists_recorded_teams_of_orgs_still_installed_org_wide(store):
    teams = OrgTeams(store._writer)
    teams.record("EORG", ["TA", "TB"], now=T0)
    teams.record("EGONE", ["TG"], now=T0)         # recorded, but its org-wide install is gone
    teams.record("EGRID", ["TW"], now=T0)         # a Grid workspace install only: not an org-wide one
    with store._writer.begin() as connection:
        for enterprise, team, org_wide in (("EORG", None, True), ("EGRID", "TW", False)):
            connection.execute(insert(slack_bots).values(
                client_id="1.2", app_id="ACOACH", enterprise_id=enterprise, team_id=team, bot_token="sealed",
                is_enterprise_install=org_wide, installed_at=datetime(2026, 12, 1)))
    with store._writer.connect() as connection:
        assert org_workspaces(connection) == {"TA": "EORG", "TB": "EORG"}
        assert org_workspaces(connection, client_id="other") == {}
        assert org_installs(connection) == ["EORG"]
