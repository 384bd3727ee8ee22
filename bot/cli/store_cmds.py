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
) -> None:
    """Incidents by type, tone, hour of week, product, region and load; money; recovery; patterns."""
    from datetime import datetime, timezone

    from bot.storage.stats import compute_stats

    with common.store() as store:
        stats = compute_stats(store, days, datetime.now(timezone.utc))
    if heatmap is not None:
        from bot.storage.heatmap import render_heatmap

        render_heatmap(stats, heatmap)
    if as_json:
        print(json.dumps(stats.to_dict(), ensure_ascii=False, indent=2))
        return
    from bot.storage.report import stats_tables

    console = Console()
    for table in stats_tables(stats):
        console.print(table)
    if heatmap is not None:
        console.print(f"heat map written to {heatmap}")


@app.command("export")
def export_cmd(
    days: Annotated[int, typer.Option(min=1, help="incidents opened in the last N days")] = 30,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    out: Annotated[Optional[Path], typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Incidents as CSV or JSONL for a spreadsheet or BI tool (no customer text, no customer ids)."""
    from datetime import datetime, timedelta, timezone

    from bot.storage.export import write_export
    from bot.storage.records import load_records

    if fmt not in ("csv", "jsonl"):
        fail("--format must be csv or jsonl")
    now = datetime.now(timezone.utc)
    with common.store() as store, store.read_session() as session:
        records = load_records(session, now - timedelta(days=days), now)
    if out is None:
        write_export(records, sys.stdout, fmt)  # type: ignore[arg-type]
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        count = write_export(records, handle, fmt)  # type: ignore[arg-type]
    err.print(f"{count} incidents written to {out}")
