"""Shared pieces of the `coach` command line: the app, error exit, engine and store factories."""
from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from bot.settings import PROJECT_ROOT, Settings

app = typer.Typer(help="Recovery Coach: service-recovery coaching for support agents.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
DEFAULT_CORPUS = PROJECT_ROOT / "data" / "corpus.jsonl.gz"
DEFAULT_MODELS = PROJECT_ROOT / "models"
DEFAULT_THREADS = PROJECT_ROOT / "data" / "threads" / "labelled_threads.jsonl"
DEFAULT_AUDIT = PROJECT_ROOT / "data" / "audit" / "positive_audit.jsonl"  # clearly positive rows, read one by one
DEFAULT_TWINS = PROJECT_ROOT / "data" / "chat_twins"  # our English chat lines, translated: the same-sentence gap
DEFAULT_PAIRS = (PROJECT_ROOT / "data" / "handwritten", PROJECT_ROOT / "data" / "trials")  # for --agreement
err = Console(stderr=True, soft_wrap=True)  # one problem per line, never wrapped


def engine(settings: Settings | None = None):
    from bot.engine import RecoveryEngine

    return RecoveryEngine(settings or Settings())


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def store(settings: Settings | None = None, ready: bool = True):
    """The incident store at COACH_DATABASE_URL; with `ready`, fail unless it has been migrated."""
    from bot.storage.store import SqlStore

    settings = settings or Settings()
    store = SqlStore.from_settings(settings)
    if ready and store.schema_revision() is None:
        store.close()
        fail("the incident database is empty: run `coach db upgrade` first")
    return store
