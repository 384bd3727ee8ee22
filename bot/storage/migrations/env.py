"""Alembic environment, run programmatically by `SqlStore.migrate()` (no alembic.ini, no cwd).

The caller passes an open connection in `config.attributes["connection"]`, already inside the
transaction (and lock) it wants the migrations to run in.
"""
from __future__ import annotations

from alembic import context

from bot.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through SqlStore.migrate() (or `coach db upgrade`), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
