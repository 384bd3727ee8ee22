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


def _workspace(store, given: str | None) -> str:  # type: ignore[no-untyped-def]
    """The workspace the import is for: --workspace (checked against the installations, when there are any),
    else the one installed workspace. Single-workspace mode keeps no team id in the database (only Slack knows
    it, through auth.test), so there --workspace is required rather than guessed. Under an org-wide install
    (Enterprise Grid) a workspace is known once it has sent the bot a request, so none is ever the default."""
    from sqlalchemy.exc import DBAPIError

    from bot.storage.customers import valid_workspace

    try:
        installed = store.customers.installed_workspaces()
        orgs = store.customers.installed_orgs()
    except DBAPIError as exc:  # a database from before migration 0008: no slack_org_teams table
        fail(f"the database refused to list the installed workspaces ({type(exc.orig).__name__}); "
             "run `coach db upgrade` first", 2)
    if given is not None:
        team = given.strip().upper()
        if not valid_workspace(team):
            fail(f"--workspace {escape(given[:24])!r} is not a Slack team id such as T0123ABC", 2)
        if (installed or orgs) and team not in installed:
            known = ", ".join(installed) or "none yet"
            hint = ""
            if orgs:
                hint = (f"; a workspace of an organisation installed org-wide ({', '.join(orgs)}) is known here once "
                        "it has sent the bot at least one event since the org install (a message in a channel the "
                        "bot is in, or a /recover), and customers belong to a workspace (T…), not to the "
                        "organisation")
            fail(f"workspace {team} is not installed here (installed: {known}){hint}", 2)
        return team
    if len(installed) == 1 and not orgs:
        return installed[0]
    if orgs:
        fail(f"--workspace is required: organisation(s) {', '.join(orgs)} are installed org-wide, so this "
             f"database may serve workspaces it has not seen yet (known: {', '.join(installed) or 'none yet'})", 2)
    if installed:
        fail(f"--workspace is required: this database holds {len(installed)} workspaces' installations "
             f"({', '.join(installed)}) and customers belong to one", 2)
    fail("--workspace is required in single-workspace mode: the bot's Slack team id (T…, as in "
         "https://app.slack.com/client/T…/…) is not stored in the database, so it cannot be defaulted", 2)


@customers_app.command("import")
def customers_import(
    path: Annotated[Path, typer.Argument(help="CSV with a header: id,email,slack_user_id,slack_team_id,"
                                              "lifetime_value,tier,currency (id and lifetime_value required)")],
    currency: Annotated[Optional[str], typer.Option(
        help="currency of rows with no currency cell; default: the playbook's")] = None,
    all_or_nothing: Annotated[bool, typer.Option(
        "--all-or-nothing", help="write nothing when any row is rejected")] = False,
    workspace: Annotated[Optional[str], typer.Option(
        help="the Slack team id (T…) these customers belong to; required in single-workspace mode and when "
             "more than one workspace is installed, else the installed one")] = None,
) -> None:
    """Upsert one workspace's customers by id; each rejected row is listed with its line and reason. Exit 0 when
    every row was taken, 1 when a row was rejected (the others are written unless --all-or-nothing), 2 for a bad
    file or workspace."""
    from sqlalchemy.exc import DBAPIError

    from bot.storage.customers import CsvError, read_csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {escape(str(path))}: {escape(str(exc))}", 2)
    with common.store() as store:
        team = _workspace(store, workspace)
        default = (currency or _playbook_currency(store)).upper()
        try:
            rows, rejected = read_csv(text, default)
        except CsvError as exc:
            fail(f"{escape(str(path))}: {escape(str(exc))}", 2)
        try:
            report = store.customers.import_rows(team, rows, rejected, all_or_nothing=all_or_nothing)
        except DBAPIError as exc:  # most often a database from before migration 0006: no customers table
            fail(f"the database refused the import ({type(exc.orig).__name__}); "
                 "if it predates the customers table, run `coach db upgrade` first", 2)
    for line, reason in report.rejected:
        err.print(f"[red]rejected[/red] line {line}: {escape(reason)}")
    written = "" if report.written else " [red](nothing written: --all-or-nothing and a row was rejected)[/red]"
    Console(soft_wrap=True).print(f"workspace {team}: imported {report.imported}, updated {report.updated}, "
                                  f"unchanged {report.unchanged}, rejected {len(report.rejected)}{written}")
    if report.rejected:
        raise typer.Exit(1)
