"""Per-workspace configuration (issue 11, item 2): each installed workspace's playbook, roles and coach channel.

Two tables (migration 0007): `workspace_settings`, one row per workspace (Slack team id) holding the role lists
and coach channel it overrides (NULL: the file/env default) plus a `revision` bumped by every change, so
that every gunicorn worker notices a change by reading one small row; and `workspace_playbooks`, each
workspace's playbook versions (append-only, like `playbook_versions` for the default playbook). A workspace
with no row uses the defaults: single-workspace mode never writes here and works as before.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage.api import PlaybookVersion
from bot.storage.db import with_retry
from bot.storage.repository import Repository
from bot.storage.tables import Base

ROLE_LISTS = ("admins", "supervisors", "leads", "agents", "customers")  # the COACH_<NAME> settings a workspace overrides


class WorkspaceSettingsRow(Base):
    """What one workspace overrides; NULL columns fall back to the file/env settings."""

    __tablename__ = "workspace_settings"
    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    admins: Mapped[list[str] | None] = mapped_column(JSON)
    supervisors: Mapped[list[str] | None] = mapped_column(JSON)
    leads: Mapped[list[str] | None] = mapped_column(JSON)
    agents: Mapped[list[str] | None] = mapped_column(JSON)
    customers: Mapped[list[str] | None] = mapped_column(JSON)
    coach_channel: Mapped[str | None] = mapped_column(String(64))      # "" turns the default channel off
    playbook_version: Mapped[int | None] = mapped_column(Integer)      # the live workspace_playbooks version
    revision: Mapped[int] = mapped_column(Integer, default=0)          # +1 on every change: workers re-read
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class WorkspacePlaybookRow(Base):
    """A workspace's playbook version (validated before it was saved; re-validated when loaded)."""

    __tablename__ = "workspace_playbooks"
    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    yaml_text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(255), default="")


@dataclass(frozen=True)
class WorkspaceConfig:
    """One workspace's overrides as stored (None: use the default)."""

    workspace: str
    revision: int = 0
    roles: dict[str, list[str] | None] = field(default_factory=dict)
    coach_channel: str | None = None
    playbook: PlaybookVersion | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    def overrides(self) -> dict[str, object]:
        """The settings this workspace changes, as `Settings` field names (coach_admins, coach_coach_channel...)."""
        out: dict[str, object] = {f"coach_{name}": users for name, users in self.roles.items() if users is not None}
        if self.coach_channel is not None:
            out["coach_coach_channel"] = self.coach_channel or None
        return out


def _version(row: WorkspacePlaybookRow) -> PlaybookVersion:
    return PlaybookVersion(version=row.version, yaml_text=row.yaml_text, author=row.author,
                           created_at=row.created_at, note=row.note)


class WorkspaceConfigs(Repository):
    """Reads and changes workspaces' configuration on the store's database (every write bumps `revision`)."""

    def revision(self, workspace: str) -> int | None:
        """The workspace's revision (None: nothing configured): the one cheap read a worker's cache makes."""
        with self._read_sessions() as s:
            return s.scalar(select(WorkspaceSettingsRow.revision).where(WorkspaceSettingsRow.workspace == workspace))

    def get(self, workspace: str) -> WorkspaceConfig | None:
        with self._read_sessions() as s:
            row = s.get(WorkspaceSettingsRow, workspace)
            if row is None:
                return None
            playbook = s.get(WorkspacePlaybookRow, (workspace, row.playbook_version)) if row.playbook_version else None
            return WorkspaceConfig(workspace, row.revision, {name: getattr(row, name) for name in ROLE_LISTS},
                                   row.coach_channel, _version(playbook) if playbook else None,
                                   row.updated_at, row.updated_by)

    def _change(self, workspace: str, by: str, apply: Callable[[Session, WorkspaceSettingsRow], None]) -> int:
        """Run `apply` on the workspace's row (created when missing), bump its revision; returns the new one."""
        def work() -> int:
            with self._write_sessions.begin() as s:
                row = s.scalars(select(WorkspaceSettingsRow).where(WorkspaceSettingsRow.workspace == workspace)
                                .with_for_update()).one_or_none()
                if row is None:
                    row = WorkspaceSettingsRow(workspace=workspace, revision=0, updated_at=self._now(), updated_by=by)
                    try:
                        with s.begin_nested():
                            s.add(row)
                    except IntegrityError:  # another worker created it first: change theirs
                        row = s.scalars(select(WorkspaceSettingsRow)
                                        .where(WorkspaceSettingsRow.workspace == workspace).with_for_update()).one()
                apply(s, row)
                row.revision = (row.revision or 0) + 1
                row.updated_at, row.updated_by = self._now(), by
                return row.revision

        return with_retry(work)

    def set_roles(self, workspace: str, role: str, users: list[str] | None, by: str) -> int:
        """Replace one role list (None: back to the COACH_<ROLE> default)."""
        if role not in ROLE_LISTS:
            raise ValueError(f"role must be one of {', '.join(ROLE_LISTS)}")
        return self._change(workspace, by, lambda s, row: setattr(row, role, list(dict.fromkeys(users))
                                                                  if users is not None else None))

    def adopt_installer(self, workspace: str, installer: str, default_admins: list[str]) -> bool:
        """Make the user who installed the app an admin of a workspace whose admins were never set here.

        Without it a newly installed workspace has no admin of its own (COACH_ADMINS names users of the
        operator's workspace), so nobody there could set its playbook or roles. True when the list was written;
        a workspace that already set its admins (a re-install, say) keeps them."""
        existing = self.get(workspace)
        if existing is not None and existing.roles.get("admins") is not None:
            return False
        wrote = False

        def apply(s: Session, row: WorkspaceSettingsRow) -> None:
            nonlocal wrote
            if row.admins is None:
                row.admins, wrote = list(dict.fromkeys([installer, *default_admins])), True

        self._change(workspace, installer, apply)
        return wrote

    def set_coach_channel(self, workspace: str, channel: str | None, by: str) -> int:
        """A channel id, "" for none, or None for the COACH_COACH_CHANNEL default."""
        return self._change(workspace, by, lambda s, row: setattr(row, "coach_channel", channel))

    def save_playbook(self, workspace: str, yaml_text: str, author: str, note: str = "") -> PlaybookVersion:
        """Append the workspace's next playbook version and make it live (the caller validated it)."""
        saved: list[WorkspacePlaybookRow] = []

        def apply(s: Session, row: WorkspaceSettingsRow) -> None:
            latest = s.scalar(select(func.max(WorkspacePlaybookRow.version))
                              .where(WorkspacePlaybookRow.workspace == workspace)) or 0
            version = WorkspacePlaybookRow(workspace=workspace, version=latest + 1, yaml_text=yaml_text,
                                           author=author, created_at=self._now(), note=note[:255])
            s.add(version)
            row.playbook_version = version.version
            saved[:] = [version]

        self._change(workspace, author, apply)
        return _version(saved[0])

    def use_default_playbook(self, workspace: str, by: str) -> int:
        """Back to the default playbook (history kept)."""
        return self._change(workspace, by, lambda s, row: setattr(row, "playbook_version", None))

    def playbook_history(self, workspace: str, limit: int = 20) -> list[PlaybookVersion]:
        with self._read_sessions() as s:
            rows = s.scalars(select(WorkspacePlaybookRow).where(WorkspacePlaybookRow.workspace == workspace)
                             .order_by(WorkspacePlaybookRow.version.desc()).limit(limit))
            return [_version(r) for r in rows]

    def playbook_version(self, workspace: str, version: int) -> PlaybookVersion | None:
        with self._read_sessions() as s:
            row = s.get(WorkspacePlaybookRow, (workspace, version))
            return _version(row) if row else None
