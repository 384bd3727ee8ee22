"""Which workspaces belong to an organisation installed org-wide (Enterprise Grid), kept in `slack_org_teams`.

Why: an org-wide install names no workspace, so which teams its token serves is learned (signed requests, Grid
workspace installs, `auth.teams.list`). Kept only in a worker's memory, a restarted worker had to ask Slack again
before a follow-up could be sent, and the CLI could not tell a workspace of the org from a stranger. One row per
team (a workspace belongs to one organisation); writers call `record` only when a pair is new to them
(bot/slack/oauth.py), so requests do not write.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.clock import utc_now
from bot.storage.db import with_retry
from bot.storage.slack_tables import slack_bots, slack_org_teams

_T = slack_org_teams.c


class OrgTeams:
    """Reads and writes of `slack_org_teams` on the installation store's engines: reads on `reader` (on SQLite
    the writer's BEGIN IMMEDIATE would take the write lock for a lookup every worker makes each refresh)."""

    def __init__(self, engine: Engine, reader: Engine | None = None):
        self.engine = engine
        self.reader = reader or engine

    def enterprise_of(self, team_id: str) -> str | None:
        with self.reader.connect() as connection:
            return connection.execute(select(_T.enterprise_id).where(_T.team_id == team_id)).scalar()

    def teams_of(self, enterprise_id: str) -> list[str]:
        with self.reader.connect() as connection:
            return sorted(connection.execute(select(_T.team_id).where(_T.enterprise_id == enterprise_id)).scalars())

    def record(self, enterprise_id: str, team_ids: Iterable[str], now: datetime | None = None) -> None:
        """Upsert (team -> enterprise): last_seen moves on; first_seen restarts if the team changed organisation."""
        teams = sorted({t for t in team_ids if t})
        if not teams:
            return
        at = (now or utc_now()).replace(tzinfo=None)  # naive UTC, as slack-sdk's tables keep their times
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        rows = [{"team_id": t, "enterprise_id": enterprise_id, "first_seen": at, "last_seen": at} for t in teams]
        statement = dialect.insert(slack_org_teams).values(rows)
        new = statement.excluded
        statement = statement.on_conflict_do_update(index_elements=[_T.team_id], set_={
            "enterprise_id": new.enterprise_id, "last_seen": new.last_seen,
            "first_seen": case((_T.enterprise_id == new.enterprise_id, _T.first_seen), else_=new.first_seen)})

        def work() -> None:
            with self.engine.begin() as connection:
                connection.execute(statement)

        with_retry(work)

    def forget_team(self, team_id: str) -> None:
        """The org-wide app was removed from this workspace (app_uninstalled_team)."""
        self._delete(_T.team_id == team_id)

    def forget_enterprise(self, enterprise_id: str) -> None:
        """The organisation's install is gone (app_uninstalled, or its bot token revoked)."""
        self._delete(_T.enterprise_id == enterprise_id)

    def _delete(self, where) -> None:  # type: ignore[no-untyped-def]
        def work() -> None:
            with self.engine.begin() as connection:
                connection.execute(delete(slack_org_teams).where(where))

        with_retry(work)


def org_workspaces(connection, client_id: str | None = None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """team -> enterprise for every recorded team whose organisation still has an org-wide install."""
    b = slack_bots.c
    installed = select(b.enterprise_id).where(b.is_enterprise_install.is_(True), b.team_id.is_(None),
                                              b.enterprise_id.is_not(None))
    if client_id is not None:
        installed = installed.where(b.client_id == client_id)
    rows = connection.execute(select(_T.team_id, _T.enterprise_id).where(_T.enterprise_id.in_(installed)))
    return {team: enterprise for team, enterprise in rows}


def org_installs(connection) -> list[str]:  # type: ignore[no-untyped-def]
    """Enterprise ids with an org-wide install."""
    b = slack_bots.c
    return sorted(connection.execute(select(b.enterprise_id).where(
        b.is_enterprise_install.is_(True), b.team_id.is_(None), b.enterprise_id.is_not(None)).distinct()).scalars())
