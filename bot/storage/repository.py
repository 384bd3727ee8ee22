"""The base of every table group beside the incident store (inbox, thread cards, workspace config, customers)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.storage.clock import to_utc, utc_now


class Repository:
    """Short transactions on the store's own session factories (so SQLite's single writer and PostgreSQL's pool are
    shared with it), and one clock that tests can move."""

    def __init__(self, write_sessions: sessionmaker[Session], read_sessions: sessionmaker[Session],
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._write_sessions = write_sessions
        self._read_sessions = read_sessions
        self._clock = clock

    def _now(self) -> datetime:
        return to_utc(self._clock())
