"""Customer commands: `coach customers import FILE.csv` fills the customers table the card reads values from."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from bot.cli import common
from bot.cli.common import app, err, fail

customers_app = typer.Typer(help="Customer lifetime values (the customers table).", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


def _playbook_currency(store) -> str:  # type: ignore[no-untyped-def]
    """The currency of the playbook in use: the database's current version, else COACH_PLAYBOOK's file."""
    from bot.playbook import load_playbook
    from bot.playbook.loader import parse_playbook
    from bot.settings import Settings

    current = store.current_playbook()
    playbook = parse_playbook(current.yaml_text) if current else load_playbook(Settings().coach_playbook)
    return playbook.currency


@customers_app.command("import")
def customers_import(
    path: Annotated[Path, typer.Argument(help="CSV with a header: id,email,slack_user_id,slack_team_id,"
                                              "lifetime_value,tier,currency (id and lifetime_value required)")],
    currency: Annotated[Optional[str], typer.Option(
        help="currency of rows with no currency cell; default: the playbook's")] = None,
    all_or_nothing: Annotated[bool, typer.Option(
        "--all-or-nothing", help="write nothing when any row is rejected")] = False,
) -> None:
    """Upsert customers by id; each rejected row is listed with its line and reason. Exit 0 when every row
    was taken, 1 when a row was rejected (the others are written unless --all-or-nothing), 2 for a bad file."""
    from sqlalchemy.exc import DBAPIError

    from bot.storage.customers import CsvError, read_csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {escape(str(path))}: {escape(str(exc))}", 2)
    with common.store() as store:
        default = (currency or _playbook_currency(store)).upper()
        try:
            rows, rejected = read_csv(text, default)
        except CsvError as exc:
            fail(f"{escape(str(path))}: {escape(str(exc))}", 2)
        try:
            report = store.customers.import_rows(rows, rejected, all_or_nothing=all_or_nothing)
        except DBAPIError as exc:  # most often a database from before migration 0006: no customers table
            fail(f"the database refused the import ({type(exc.orig).__name__}); "
                 "if it predates the customers table, run `coach db upgrade` first", 2)
    for line, reason in report.rejected:
        err.print(f"[red]rejected[/red] line {line}: {escape(reason)}")
    written = "" if report.written else " [red](nothing written: --all-or-nothing and a row was rejected)[/red]"
    Console().print(f"imported {report.imported}, updated {report.updated}, unchanged {report.unchanged}, "
                    f"rejected {len(report.rejected)}{written}")
    if report.rejected:
        raise typer.Exit(1)
