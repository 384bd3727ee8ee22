"""Migrations from an empty database, on SQLite and PostgreSQL, match the models exactly."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bot.storage.tables import Base

HEAD = "0008"  # the latest revision in bot/storage/migrations/versions


def test_upgrade_from_empty_creates_every_table_and_matches_the_models(make_store):
    store = make_store()
    assert store.schema_revision() is None
    store.migrate()
    assert store.schema_revision() == HEAD
    with store._writer.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert set(Base.metadata.tables) <= tables
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op_and_keeps_the_pseudonym_key(make_store):
    first = make_store()
    first.migrate()
    before = first._pseudonym("U123")
    second = make_store()
    second.migrate()
    assert second.schema_revision() == HEAD
    assert second._pseudonym("U123") == before  # same key: another worker derives the same pseudonym


def test_a_store_used_before_migrating_says_so(make_store):
    store = make_store()
    try:
        store.customer_history("T", "U1")
    except RuntimeError as exc:
        assert "migrate" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected a RuntimeError")


def test_0008_slack_org_teams_upgrades_and_downgrades_keeping_the_rest(make_store):
    from alembic import command
    from alembic.config import Config

    from bot.storage.store import MIGRATIONS_DIR

    store = make_store()
    store.migrate()

    def to(revision: str, step=command.downgrade) -> set[str]:
        with store._writer.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            step(config, revision)
        with store._writer.connect() as connection:
            return set(inspect(connection).get_table_names())

    assert "slack_org_teams" not in to("0007")
    assert store.schema_revision() == "0007"
    tables = to("0008", command.upgrade)
    assert {"slack_org_teams", "slack_bots", "workspace_settings"} <= tables
    with store._writer.connect() as connection:
        indexes = {i["name"] for i in inspect(connection).get_indexes("slack_org_teams")}
    assert "slack_org_teams_enterprise_idx" in indexes
