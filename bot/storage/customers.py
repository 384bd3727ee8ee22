"""Customer value from the business's own records (issue 12, item 2): `coach customers import FILE.csv`.

One row per customer: id (the business's key; upserts), email and/or Slack user id + team (to find them in
Slack), lifetime value, tier, currency. Emails and Slack user ids are stored only as keyed pseudonyms (the
store's HMAC key, as incidents keep customers; bot/storage/privacy.py), so a leaked table names nobody and a
lookup needs the key. Customers belong to a workspace (the installing Slack team id, as incidents; issue 11,
item 2): ids, emails and Slack users are unique within it and a lookup only sees its own workspace's rows, so
one workspace's import never values (or alerts on) another's customer. Import is one transaction: good rows
are written, each bad row is reported with its line and reason, and with `all_or_nothing` one bad row writes
nothing.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.db import with_retry
from bot.storage.repository import Repository
from bot.storage.tables import Customer, to_utc, utc_now

COLUMNS = ("id", "email", "slack_user_id", "slack_team_id", "lifetime_value", "tier", "currency")
REQUIRED = ("id", "lifetime_value")
MAX_VALUE = 1e9                       # the playbook's high-value threshold is capped there too
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_SLACK_TEAM = re.compile(r"^[TE][A-Z0-9]{2,20}$")
_WORKSPACE = re.compile(r"^[TE][A-Z0-9]{1,63}$")   # the installing team's id, as incidents record it
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NUMBER = re.compile(r"^\d+(\.\d{1,2})?$")


@dataclass(frozen=True)
class CustomerValue:
    """What the card needs of a customers row."""

    customer_id: str
    lifetime_value: float
    currency: str
    tier: str | None


@dataclass(frozen=True)
class CustomerRow:
    """One validated CSV row (email and Slack user still in clear; pseudonymised on write)."""

    line: int
    id: str
    email: str | None
    slack_user_id: str | None
    slack_team_id: str | None
    lifetime_value: float
    tier: str | None
    currency: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)   # (line in the file, reason)
    written: bool = True                                            # False: all_or_nothing and a row was bad

    @property
    def ok(self) -> bool:
        return not self.rejected


class _NothingWritten(Exception):
    def __init__(self, report: ImportReport) -> None:
        self.report = report


class CsvError(ValueError):
    """The file as a whole cannot be read (missing or unknown columns, not CSV)."""


def email_key_source(email: str) -> str:
    """What is pseudonymised for an email: trimmed and lower-cased, apart from Slack user ids by a prefix."""
    return "email:" + email.strip().lower()


def valid_workspace(workspace: str) -> bool:
    """A Slack team (or Enterprise) id such as T0123ABC: what incidents and the lookup scope by; never ""."""
    return bool(_WORKSPACE.match(workspace or ""))


def parse_row(line: int, raw: dict[str, str | None], default_currency: str) -> CustomerRow | str:
    """A validated row, or the reason it is rejected (never the email itself: reasons are printed and logged)."""
    def cell(name: str) -> str:
        return (raw.get(name) or "").strip()

    cid = cell("id")
    if not cid:
        return "id is empty"
    if len(cid) > 128:
        return "id is longer than 128 characters"
    email = cell("email") or None
    if email is not None and (not _EMAIL.match(email) or len(email) > 254):
        return "email is not an email address"
    user, team = cell("slack_user_id").upper() or None, cell("slack_team_id").upper() or None
    if user is not None and not _SLACK_USER.match(user):
        return f"slack_user_id {user[:24]!r} is not a Slack user id (U… or W…)"
    if team is not None and not _SLACK_TEAM.match(team):
        return f"slack_team_id {team[:24]!r} is not a Slack team id (T… or E…)"
    if user is not None and team is None:
        return "slack_user_id needs slack_team_id (customers are matched by user and team)"
    if email is None and user is None:
        return "neither email nor slack_user_id: the customer could never be found in Slack"
    value = cell("lifetime_value").replace(" ", "")
    if not value:
        return "lifetime_value is empty"
    if not _NUMBER.match(value):
        return f"lifetime_value {value[:24]!r} is not a plain amount such as 2500 or 2500.50 (no thousands separators)"
    amount = float(value)
    if not math.isfinite(amount) or amount > MAX_VALUE:
        return f"lifetime_value {value[:24]} is above {MAX_VALUE:,.0f}"
    currency = cell("currency").upper() or default_currency
    if not _CURRENCY.match(currency):
        return f"currency {currency[:8]!r} is not a three-letter code such as USD"
    tier = cell("tier") or None
    if tier is not None and len(tier) > 32:
        return "tier is longer than 32 characters"
    return CustomerRow(line, cid, email, user, team, amount, tier, currency)


def read_csv(text: str, default_currency: str) -> tuple[list[CustomerRow], list[tuple[int, str]]]:
    """Rows and rejections of a CSV text (header line first); raises CsvError when the header is wrong."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise CsvError("the file is empty: expected a header line " + ",".join(COLUMNS))
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvError(f"unknown column(s) {', '.join(unknown)}: the columns are {', '.join(COLUMNS)}")
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise CsvError(f"missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    rows: list[CustomerRow] = []
    rejected: list[tuple[int, str]] = []
    for raw in reader:
        line = reader.line_num
        if None in raw:
            rejected.append((line, "more cells than columns"))
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue  # a blank line
        parsed = parse_row(line, raw, default_currency)
        (rejected.append((line, parsed)) if isinstance(parsed, str) else rows.append(parsed))
    return rows, rejected


class Customers(Repository):
    """The customers table on the store's database."""

    def __init__(self, write_sessions: sessionmaker[Session], read_sessions: sessionmaker[Session],
                 pseudonym: Callable[[str], str], clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(write_sessions, read_sessions, clock)
        self._pseudonym = pseudonym

    def import_rows(self, workspace: str, rows: Sequence[CustomerRow], rejected: Iterable[tuple[int, str]] = (),
                    all_or_nothing: bool = False) -> ImportReport:
        """Upsert `workspace`'s rows by id in one transaction. A row whose email or Slack user belongs to another
        id of this workspace (in the file or the table) is rejected, so a lookup never has two answers; other
        workspaces' rows are neither read nor touched."""
        if not valid_workspace(workspace):
            raise ValueError(f"workspace {workspace[:24]!r} is not a Slack team id (T…): customers belong to one")
        file_rejected = list(rejected)

        def work() -> ImportReport:
            result = ImportReport(rejected=list(file_rejected))
            now = to_utc(self._clock())
            try:
                result = self._write_all(workspace, rows, result, now, all_or_nothing)
            except _NothingWritten as stop:
                result = stop.report
            result.rejected.sort()
            return result

        return with_retry(work)

    def _write_all(self, workspace: str, rows: Sequence[CustomerRow], result: ImportReport, now: datetime,
                   all_or_nothing: bool) -> ImportReport:
        with self._write_sessions.begin() as s:
            seen: dict[str, int] = {}
            owner_of: dict[tuple[str, ...], str] = {}   # keys claimed in this file -> id
            for row in rows:
                if row.id in seen:
                    result.rejected.append((row.line, f"id {row.id[:32]!r} repeats line {seen[row.id]}"))
                    continue
                email_key = self._pseudonym(email_key_source(row.email)) if row.email else None
                user_key = self._pseudonym(row.slack_user_id) if row.slack_user_id else None
                clash = self._clash(s, workspace, row, email_key, user_key, owner_of)
                if clash:
                    result.rejected.append((row.line, clash))
                    continue
                seen[row.id] = row.line
                if email_key:
                    owner_of[("email", email_key)] = row.id
                if user_key:
                    owner_of[("slack", row.slack_team_id or "", user_key)] = row.id
                values = {"email_key": email_key, "slack_team": row.slack_team_id if user_key else None,
                          "slack_user_key": user_key, "lifetime_value": round(row.lifetime_value, 2),
                          "tier": row.tier, "currency": row.currency}
                existing = s.get(Customer, (workspace, row.id))
                if existing is None:
                    s.add(Customer(workspace=workspace, id=row.id, updated_at=now, **values))
                    result.imported += 1
                elif all(getattr(existing, k) == v for k, v in values.items()):
                    result.unchanged += 1
                else:
                    for k, v in values.items():
                        setattr(existing, k, v)
                    existing.updated_at = now
                    result.updated += 1
                s.flush()  # the next row's clash check sees this one
            if all_or_nothing and result.rejected:
                result.written = False
                result.imported = result.updated = result.unchanged = 0
                raise _NothingWritten(result)  # leaves the transaction by rolling it back
        return result

    def _clash(self, s: Session, workspace: str, row: CustomerRow, email_key: str | None, user_key: str | None,
               owner_of: dict[tuple[str, ...], str]) -> str | None:
        """Why this row's email or Slack user cannot be its own (another id of this workspace holds it), else None."""
        if email_key:
            other = owner_of.get(("email", email_key)) or s.scalar(
                select(Customer.id).where(Customer.workspace == workspace, Customer.email_key == email_key,
                                          Customer.id != row.id))
            if other and other != row.id:
                return f"email already belongs to customer {other[:32]!r}"
        if user_key:
            other = owner_of.get(("slack", row.slack_team_id or "", user_key)) or s.scalar(
                select(Customer.id).where(Customer.workspace == workspace, Customer.slack_team == row.slack_team_id,
                                          Customer.slack_user_key == user_key, Customer.id != row.id))
            if other and other != row.id:
                return f"slack_user_id already belongs to customer {other[:32]!r}"
        return None

    def find(self, workspace: str, teams: Iterable[str | None], user_id: str | None,
             email: str | None = None) -> CustomerValue | None:
        """`workspace`'s customer by Slack user in one of `teams`, else by email; None when neither is on file
        there (and always None with no workspace: another workspace's row is never an answer)."""
        if not workspace:
            return None
        with self._read_sessions() as s:
            found: Customer | None = None
            team_ids = [t for t in teams if t]
            if user_id and team_ids:
                found = s.scalars(select(Customer).where(
                    Customer.workspace == workspace, Customer.slack_user_key == self._pseudonym(user_id),
                    Customer.slack_team.in_(team_ids)).order_by(Customer.id)).first()
            if found is None and email:
                found = s.scalar(select(Customer).where(
                    Customer.workspace == workspace, Customer.email_key == self._pseudonym(email_key_source(email))))
            if found is None:
                return None
            return CustomerValue(found.id, float(found.lifetime_value), found.currency, found.tier)

    def count(self, workspace: str | None = None) -> int:
        """Rows on file: `workspace`'s, or all workspaces' with None."""
        from sqlalchemy import func

        query = select(func.count()).select_from(Customer)
        if workspace is not None:
            query = query.where(Customer.workspace == workspace)
        with self._read_sessions() as s:
            return int(s.scalar(query) or 0)

    def installed_workspaces(self) -> list[str]:
        """Team ids with a bot installed here (multi-workspace mode's slack_bots), and the workspaces recorded for
        an organisation that is still installed org-wide (slack_org_teams: those that have sent the bot a request
        since); [] in single-workspace mode, whose one team id is only known to Slack (auth.test)."""
        from bot.storage.org_teams import org_workspaces
        from bot.storage.slack_tables import slack_bots

        with self._read_sessions() as s:
            teams = set(s.scalars(select(slack_bots.c.team_id).where(slack_bots.c.team_id.is_not(None)).distinct()))
            teams |= set(org_workspaces(s.connection()))
            return sorted(t for t in teams if t)

    def installed_orgs(self) -> list[str]:
        """Enterprise ids installed org-wide: their workspaces become known one request at a time."""
        from bot.storage.org_teams import org_installs

        with self._read_sessions() as s:
            return org_installs(s.connection())
