"""Database fixtures: a fresh SQLite file, or a fresh PostgreSQL schema, per test.

PostgreSQL tests use COACH_TEST_POSTGRES_URL (set by .ci/run); each test gets its own schema through
the connection's search_path, dropped afterwards, so reruns start clean and tests never collide.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.storage.store import SqlStore
from tests.storage import helpers

PG_ENV = "COACH_TEST_POSTGRES_URL"
PG_SKIP = (f"{PG_ENV} is not set: PostgreSQL tests need a server, e.g. "
           f"{PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run sets it in CI)")


@pytest.fixture(scope="session")
def book():
    return helpers.playbook()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'coach.sqlite'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    schema = f"coach_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def make_store(db_url) -> Iterator[Callable[..., SqlStore]]:
    """New SqlStore instances on the test database (a new one = a restarted worker); closed at the end."""
    stores: list[SqlStore] = []

    def make(**kwargs) -> SqlStore:
        store = SqlStore(db_url, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store) -> SqlStore:
    s = make_store()
    s.migrate()
    return s
