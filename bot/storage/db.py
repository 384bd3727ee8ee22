"""Engines for SQLite and PostgreSQL that are safe when several worker processes share the database.

SQLite: WAL (readers never block the writer), a busy timeout (writers queue instead of failing), and
``BEGIN IMMEDIATE`` on the write engine so a transaction takes the write lock *before* it reads.
Without it, two processes that read then write get SQLITE_BUSY at once (the busy timeout does not
apply to a lock upgrade), and the pysqlite driver's own transaction handling is switched off so that
SQLAlchemy's BEGIN is the one that counts (the recipe in the SQLAlchemy SQLite dialect docs).
PostgreSQL needs nothing special: READ COMMITTED plus unique constraints and row locks.
Both hide bound parameters from error messages and logs, so an exception never carries customer text.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_S = 30.0
T = TypeVar("T")


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, immediate: bool) -> Engine:
    """An engine for `url`; on SQLite, `immediate` makes every transaction BEGIN IMMEDIATE (for writers)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
                    "hide_parameters": True}
    if path is None:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if path is not None:
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switching a file to WAL takes an exclusive lock, and SQLite's busy handler does not wait for it when
    two processes open a new file at once ("database is locked" at connect): retry until the busy timeout.
    WAL is stored in the file, so once one process has set it the others only read it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: SQLite lock contention, PostgreSQL deadlock or serialization failure."""
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower():
        return True
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "sqlstate", None) in {"40001", "40P01"}
    return False


def with_retry(work: Callable[[], T], attempts: int = 5, pause_s: float = 0.05) -> T:
    """Run `work` (one whole transaction) again after a transient error, with a growing pause."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            time.sleep(pause_s * attempt)
    raise AssertionError("unreachable")
