"""Who is coached in a thread, and which card each of them holds (issue 12, item 5: less noise).

Three small tables, in the database so that every gunicorn worker and a restarted one agree:
`thread_agents` (staff who posted in a thread, from the message events the bot already sees),
`channel_on_duty` (a channel's on-duty agents, set with `/recover on-duty`) and `thread_cards` (the card
each agent holds per thread: which customer message it plans, what it said, and the response_url of the
agent's last click on it, which can replace that ephemeral card in place). No customer text is stored here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from bot.storage.db import with_retry
from bot.storage.repository import Repository
from bot.storage.tables import Base

RESPONSE_URL_TTL = timedelta(minutes=29)   # Slack honours a response_url for 30 minutes
RESPONSE_URL_USES = 5                      # ...and at most 5 times


class _PerThreadAgent:
    """One row per (workspace, channel, thread, agent): the key both per-thread tables share."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple:  # a fresh constraint per table (a shared object would keep one name)
        return (UniqueConstraint("workspace", "channel", "thread_ts", "agent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    thread_ts: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(64))


class ThreadAgent(_PerThreadAgent, Base):
    """A staff member who posted in a thread (or sent the card's apology there): they are engaged in it."""

    __tablename__ = "thread_agents"
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class ChannelOnDuty(Base):
    """The agents on duty in a channel: coached in threads nobody is engaged in yet."""

    __tablename__ = "channel_on_duty"
    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    agents: Mapped[list[str]] = mapped_column(JSON)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


class ThreadCard(_PerThreadAgent, Base):
    """The one card an agent holds in a thread; later messages replace it or post a compact update."""

    __tablename__ = "thread_cards"
    message_ts: Mapped[str] = mapped_column(String(64))          # the customer message the current card plans
    kind: Mapped[str] = mapped_column(String(16))                # full | update | replaced
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)        # labels and offer shown (what changed is said)
    updates: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    response_url: Mapped[str | None] = mapped_column(String(512))  # the agent's last click on a card here
    response_url_at: Mapped[datetime | None]
    response_url_uses: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class HeldCard:
    """The card an agent holds in a thread, as `begin_card` found it before this message."""

    message_ts: str
    kind: str
    summary: dict[str, Any]
    updates: int
    response_url: str | None     # usable now (fresh and with uses left), else None
    response_url_uses: int


class ThreadCards(Repository):
    """Engaged agents, on-duty lists and current cards, on the store's database."""

    # ---- engaged agents ------------------------------------------------------------------------
    def record_agent(self, workspace: str, channel: str, thread_ts: str, agent: str) -> None:
        """`agent` posted in the thread: from now on they are coached there (first and last time kept)."""
        def work() -> None:
            now = self._now()
            with self._write_sessions.begin() as s:
                done = s.execute(update(ThreadAgent).where(
                    ThreadAgent.workspace == workspace, ThreadAgent.channel == channel,
                    ThreadAgent.thread_ts == thread_ts, ThreadAgent.agent == agent).values(last_at=now))
                if (done.rowcount or 0) == 0:
                    try:
                        with s.begin_nested():  # another worker recording the same agent: theirs stands
                            s.add(ThreadAgent(workspace=workspace, channel=channel, thread_ts=thread_ts, agent=agent,
                                              first_at=now, last_at=now))
                    except IntegrityError:
                        pass

        with_retry(work)

    def engaged(self, workspace: str, channel: str, thread_ts: str) -> list[str]:
        """Staff who posted in the thread, first to engage first."""
        with self._read_sessions() as s:
            return list(s.scalars(select(ThreadAgent.agent).where(
                ThreadAgent.workspace == workspace, ThreadAgent.channel == channel, ThreadAgent.thread_ts == thread_ts,
            ).order_by(ThreadAgent.first_at, ThreadAgent.id)))

    # ---- on duty -------------------------------------------------------------------------------
    def set_on_duty(self, workspace: str, channel: str, agents: Sequence[str], by: str) -> None:
        """Replace the channel's on-duty list; an empty list removes it (everyone in the channel again)."""
        def work() -> None:
            with self._write_sessions.begin() as s:
                s.execute(delete(ChannelOnDuty).where(ChannelOnDuty.workspace == workspace,
                                                      ChannelOnDuty.channel == channel))
                if agents:
                    s.add(ChannelOnDuty(workspace=workspace, channel=channel, agents=list(dict.fromkeys(agents)),
                                        set_by=by, set_at=self._now()))

        with_retry(work)

    def on_duty(self, workspace: str, channel: str) -> list[str] | None:
        """The channel's on-duty agents; None when no list is set."""
        with self._read_sessions() as s:
            row = s.get(ChannelOnDuty, (workspace, channel))
            return list(row.agents) if row is not None else None

    # ---- the card each agent holds -------------------------------------------------------------
    def begin_card(self, workspace: str, channel: str, thread_ts: str, agent: str, message_ts: str,
                   summary: dict[str, Any], same_message: bool = False) -> HeldCard | None | bool:
        """Make the card for `message_ts` the agent's current one, atomically across workers.

        Returns None when the agent held no card here (post a full card), the card held before (replace it
        or post an update), or False when there is nothing to post: the held card plans a later message (it
        saw this one in the thread) or this very message (a retry), unless `same_message` (an edit of it).
        A usable response_url is counted as used here.
        """
        def work() -> HeldCard | None | bool:
            now = self._now()
            where = (ThreadCard.workspace == workspace, ThreadCard.channel == channel,
                     ThreadCard.thread_ts == thread_ts, ThreadCard.agent == agent)
            with self._write_sessions.begin() as s:
                row = s.scalars(select(ThreadCard).where(*where).with_for_update()).first()
                if row is None:
                    try:
                        with s.begin_nested():
                            s.add(ThreadCard(workspace=workspace, channel=channel, thread_ts=thread_ts, agent=agent,
                                             message_ts=message_ts, kind="full", summary=summary, updates=0,
                                             updated_at=now, response_url_uses=0))
                        return None
                    except IntegrityError:  # another worker posted the first card a moment ago
                        row = s.scalars(select(ThreadCard).where(*where)).one()
                if row.message_ts == message_ts and not same_message:
                    return False
                if float(row.message_ts) > float(message_ts):
                    return False
                fresh = (row.response_url is not None and row.response_url_at is not None
                         and now - row.response_url_at < RESPONSE_URL_TTL and row.response_url_uses < RESPONSE_URL_USES)
                held = HeldCard(row.message_ts, row.kind, dict(row.summary or {}), row.updates,
                                row.response_url if fresh else None, row.response_url_uses)
                row.message_ts, row.summary, row.updates, row.updated_at = message_ts, summary, row.updates + 1, now
                if fresh:
                    row.response_url_uses += 1
                return held

        return with_retry(work)

    def card_posted(self, workspace: str, channel: str, thread_ts: str, agent: str, kind: str) -> None:
        """What the agent now sees: a full card, a compact update, or the old card replaced in place."""
        def work() -> None:
            with self._write_sessions.begin() as s:
                s.execute(update(ThreadCard).where(
                    ThreadCard.workspace == workspace, ThreadCard.channel == channel,
                    ThreadCard.thread_ts == thread_ts, ThreadCard.agent == agent).values(kind=kind))
                if kind == "update":  # a new message: an older click's response_url points at another card
                    s.execute(update(ThreadCard).where(
                        ThreadCard.workspace == workspace, ThreadCard.channel == channel,
                        ThreadCard.thread_ts == thread_ts, ThreadCard.agent == agent).values(
                        response_url=None, response_url_at=None, response_url_uses=0))

        with_retry(work)

    def remember_click(self, workspace: str, channel: str, thread_ts: str, agent: str, response_url: str,
                       used: int = 1) -> bool:
        """The agent clicked a button on their card in this thread: keep the click's response_url (its handler
        answers on it `used` times) so that the next update replaces that card. False when no card is held."""
        def work() -> bool:
            with self._write_sessions.begin() as s:
                done = s.execute(update(ThreadCard).where(
                    ThreadCard.workspace == workspace, ThreadCard.channel == channel,
                    ThreadCard.thread_ts == thread_ts, ThreadCard.agent == agent).values(
                    response_url=response_url, response_url_at=self._now(), response_url_uses=used))
                return (done.rowcount or 0) == 1

        return with_retry(work)

    def held(self, workspace: str, channel: str, thread_ts: str, agent: str) -> ThreadCard | None:
        """The row as stored (for tests and App Home)."""
        with self._read_sessions() as s:
            return s.scalars(select(ThreadCard).where(
                ThreadCard.workspace == workspace, ThreadCard.channel == channel,
                ThreadCard.thread_ts == thread_ts, ThreadCard.agent == agent)).first()

    # ---- retention -----------------------------------------------------------------------------
    def forget_idle_threads(self, cutoff: datetime) -> dict[str, int]:
        """Delete engaged agents and cards of threads with no activity since `cutoff` (housekeeping).

        A thread is active while any of its agent rows (last_at) or cards (updated_at) is recent; an active
        thread keeps all its rows, so nobody is un-engaged mid-conversation. On-duty lists are configuration
        and are kept.
        """
        ta, tc = ThreadAgent.__table__, ThreadCard.__table__

        def active(row: Any) -> Any:
            """True when the row's thread has an agent row or a card touched since the cutoff."""
            a, c = ta.alias("recent_agent"), tc.alias("recent_card")
            return or_(
                exists().where(a.c.workspace == row.c.workspace, a.c.channel == row.c.channel,
                               a.c.thread_ts == row.c.thread_ts, a.c.last_at >= cutoff),
                exists().where(c.c.workspace == row.c.workspace, c.c.channel == row.c.channel,
                               c.c.thread_ts == row.c.thread_ts, c.c.updated_at >= cutoff))

        def work() -> dict[str, int]:
            with self._write_sessions.begin() as s:
                cards = s.execute(delete(tc).where(tc.c.updated_at < cutoff, ~active(tc)))
                agents = s.execute(delete(ta).where(ta.c.last_at < cutoff, ~active(ta)))
                return {"thread_cards_forgotten": cards.rowcount or 0,
                        "thread_agents_forgotten": agents.rowcount or 0}

        return with_retry(work)
