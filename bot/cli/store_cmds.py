"""Incident store commands: db upgrade|purge, stats, export."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bot.cli.common import app, err, fail
from bot.cli import common

db_app = typer.Typer(help="The incident database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


WorkspaceOption = Annotated[Optional[str], typer.Option(
    "--workspace", help="only this workspace's incidents (Slack team id, T… or E…); default: all workspaces")]


def _checked_workspace(given: str | None) -> str | None:
    """--workspace as given, refused (exit 2) unless it is a Slack team id: a typo must not read as an empty
    report. A valid id with no incidents is not an error; its report is simply empty."""
    if given is None:
        return None
    from rich.markup import escape

    from bot.storage.customers import valid_workspace

    if not valid_workspace(given):
        fail(f"--workspace {escape(given[:24])!r} is not a Slack team id such as T0123ABC", 2)
    return given


def _scope(store, workspace: str | None) -> str | None:  # type: ignore[no-untyped-def]
    """What the human output says it covers: the workspace given, or "all N workspaces" when incidents of more
    than one are mixed in the database (multi-workspace mode), else nothing (one workspace, nothing to say)."""
    if workspace is not None:
        return f"workspace {workspace}"
    from sqlalchemy import func, select

    from bot.storage.tables import Incident

    with store.read_session() as session:
        count = session.scalar(select(func.count(func.distinct(Incident.workspace)))) or 0
    return f"all workspaces ({count})" if count > 1 else None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the incident database schema (alembic upgrade head)."""
    with common.store(ready=False) as store:
        store.migrate()
        Console().print(f"[green]database at revision {store.schema_revision()}[/green]")


@db_app.command("purge")
def db_purge() -> None:
    """Blank customer text past COACH_TEXT_RETENTION_DAYS and forget old Slack event ids now."""
    from datetime import datetime, timezone

    with common.store() as store:
        Console().print_json(data=store.housekeeping(datetime.now(timezone.utc)))


@app.command("stats")
def stats_cmd(
    days: Annotated[int, typer.Option(min=1, help="period: the last N days")] = 28,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    heatmap: Annotated[Optional[Path], typer.Option(help="write the hour-of-week heat map PNG here")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Incidents by type, tone, hour of week, product, region and load; money; recovery; patterns."""
    from datetime import datetime, timezone

    from bot.storage.stats import compute_stats

    team = _checked_workspace(workspace)
    with common.store() as store:
        stats = compute_stats(store, days, datetime.now(timezone.utc), team)
        scope = None if as_json else _scope(store, team)
    if heatmap is not None:
        from bot.storage.heatmap import render_heatmap

        render_heatmap(stats, heatmap)
    if as_json:
        print(json.dumps(stats.to_dict(), ensure_ascii=False, indent=2))
        return
    from bot.storage.report import stats_tables

    console = Console()
    if scope is not None:
        console.print(scope)
    for table in stats_tables(stats):
        console.print(table)
    if heatmap is not None:
        console.print(f"heat map written to {heatmap}")


@app.command("export")
def export_cmd(
    days: Annotated[int, typer.Option(min=1, help="incidents opened in the last N days")] = 30,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out: Annotated[Optional[Path], typer.Option(help="file to write (default: stdout)")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Incidents as CSV or JSONL for a spreadsheet or BI tool (no customer text, no customer ids)."""
    from datetime import datetime, timedelta, timezone

    from bot.storage.export import write_export
    from bot.storage.records import load_records

    if fmt not in ("csv", "jsonl"):
        fail("--format must be csv or jsonl")
    team = _checked_workspace(workspace)
    now = datetime.now(timezone.utc)
    with common.store() as store:
        with store.read_session() as session:
            records = load_records(session, now - timedelta(days=days), now, team)
        scope = _scope(store, team)
    if out is None:
        write_export(records, sys.stdout, fmt)  # type: ignore[arg-type]
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        count = write_export(records, handle, fmt)  # type: ignore[arg-type]
    err.print(f"{count} incidents written to {out}" + (f" ({scope})" if scope else ""))
