"""`coach`: the command line of the recovery engine (and later the Slack bot)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bot.settings import PROJECT_ROOT, Settings

app = typer.Typer(help="Recovery Coach: service-recovery coaching for support agents.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
playbook_app = typer.Typer(help="Check the company playbook.", no_args_is_help=True)
data_app = typer.Typer(help="Build the training corpus.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")
app.add_typer(data_app, name="data")
db_app = typer.Typer(help="The incident database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DEFAULT_CORPUS = PROJECT_ROOT / "data" / "corpus.jsonl.gz"
DEFAULT_MODELS = PROJECT_ROOT / "models"
CACHE_DIR = PROJECT_ROOT / ".cache" / "embeddings"
err = Console(stderr=True)


def _engine(settings: Settings | None = None):
    from bot.engine import RecoveryEngine

    return RecoveryEngine(settings or Settings())


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _customer(raw: str | None):
    from pydantic import ValidationError

    from bot.coach.models import CustomerProfile

    if not raw:
        return None
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return CustomerProfile.model_validate_json(text)
    except ValidationError as exc:
        _fail(f"--customer: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")


def _thread(path: Path | None):
    from bot.coach.models import ThreadMessage

    if path is None:
        return None
    return [ThreadMessage.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


@app.command()
def suggest(
    text: Annotated[str, typer.Argument(help="the customer's message")],
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
    thread: Annotated[Optional[Path], typer.Option(help="JSONL of earlier messages: {text, from_customer}")] = None,
    customer: Annotated[Optional[str], typer.Option(help="JSON (or @file) of what is known of the customer")] = None,
    role: Annotated[str, typer.Option(help="the agent's role: agent, lead or supervisor")] = "agent",
) -> None:
    """A recovery plan for one customer message."""
    from bot.labels import ROLES

    if role not in ROLES:
        _fail(f"--role must be one of {', '.join(ROLES)}")
    plan = _engine().suggest(text, _thread(thread), _customer(customer), role)  # type: ignore[arg-type]
    if as_json:
        print(plan.model_dump_json(indent=2))
    else:
        from bot.render.terminal import render_card

        Console().print(render_card(plan))


@app.command()
def classify(
    jsonl: Annotated[Path, typer.Option("--jsonl", help="input lines {\"text\": ..., \"id\": ...}; '-' = stdin")],
    batch_size: Annotated[int, typer.Option(help="messages per model call")] = 64,
) -> None:
    """Classify a batch; one output line per input line, in order; bad lines get an error object."""
    engine = _engine()
    stream = sys.stdin if str(jsonl) == "-" else jsonl.open(encoding="utf-8")
    pending: list[tuple[int, object, str | None, str | None]] = []  # (line no, id, text, error)

    def flush() -> None:
        texts = [t for _, _, t, e in pending if e is None]
        results = iter(engine.classifier.classify_many(texts)) if texts else iter(())
        for number, ident, _, error in pending:
            if error is not None:
                print(json.dumps({"id": ident, "line": number, "error": error}, ensure_ascii=False))
                continue
            c = next(results)
            print(json.dumps({"id": ident, "tone": c.tone.label, "tone_confidence": c.tone.confidence,
                              "complaint": c.complaint.label, "complaint_confidence": c.complaint.confidence,
                              "language": c.language}, ensure_ascii=False))
        pending.clear()

    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        ident, text, error = None, None, None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("line is not a JSON object")
            ident = obj.get("id")
            text = obj.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ValueError("missing or empty 'text'")
        except (ValueError, json.JSONDecodeError) as exc:
            error = f"bad input line: {exc}"
        pending.append((number, ident, text, error))
        if len(pending) >= batch_size:
            flush()
    flush()


@playbook_app.command("validate")
def playbook_validate(path: Annotated[Path, typer.Argument(help="playbook YAML file")]) -> None:
    """Exit 0 if the playbook is valid, else 1 with each field and line at fault."""
    from bot.playbook import PlaybookError, load_playbook

    try:
        playbook = load_playbook(path)
    except PlaybookError as exc:
        err.print(f"[red]invalid playbook[/red] {exc.source}")
        for problem in exc.problems:
            err.print(f"  - {problem}")
        raise typer.Exit(1)
    options = sum(len(v) for v in playbook.compensation.values())
    Console().print(f"[green]ok[/green] {path}: {playbook.company}, languages {', '.join(playbook.languages)}, "
                    f"{options} compensation options")


@data_app.command("build")
def data_build(
    shared: Annotated[Path, typer.Option(help="the public datasets folder")] = PROJECT_ROOT.parent / "shared" / "data",
    handwritten: Annotated[Path, typer.Option(help="our own labelled lines")] = PROJECT_ROOT / "data" / "handwritten",
    out: Annotated[Path, typer.Option(help="corpus to write")] = DEFAULT_CORPUS,
    seed: int = 13,
) -> None:
    """Map the public datasets to our labels, add our own lines, write the compact corpus."""
    from bot.classify.datasets import build_corpus, summarise, write_corpus

    if not shared.is_dir():
        _fail(f"{shared} not found: pass --shared")
    examples = build_corpus(shared, handwritten, seed)
    write_corpus(examples, out)
    Console().print_json(data={"rows": len(examples), "by_split": summarise(examples), "written": str(out)})


def _next_version(models_dir: Path) -> str:
    numbers = [int(m.group(1)) for p in models_dir.glob("v*") if (m := re.fullmatch(r"v(\d+)", p.name))]
    return f"v{max(numbers, default=0) + 1}"


@app.command()
def train(
    corpus: Annotated[Path, typer.Option(help="training corpus (JSONL.gz)")] = DEFAULT_CORPUS,
    models_dir: Annotated[Path, typer.Option(help="where versions live")] = DEFAULT_MODELS,
    version: Annotated[Optional[str], typer.Option(help="version name (default: next vN)")] = None,
    epochs: int = 14,
    seed: int = 13,
    set_current: Annotated[bool, typer.Option(help="make it the served version")] = True,
    cache: Annotated[bool, typer.Option(help="cache encoder outputs under .cache/")] = True,
) -> None:
    """Rebuild the model from the training data, reproducibly (fixed seed)."""
    from bot.classify.pipeline import evaluate_version, load_corpus, train_version
    from bot.classify.training import TrainOptions

    examples = load_corpus(corpus)
    version = version or _next_version(models_dir)
    options = TrainOptions(version=version, epochs=epochs, seed=seed)
    directory = train_version(examples, models_dir, options, CACHE_DIR if cache else None)
    report = evaluate_version(directory, examples, CACHE_DIR if cache else None)
    if set_current:
        (models_dir / "CURRENT").write_text(version + "\n")
    _print_report(report)
    Console().print(f"[green]trained[/green] {directory}" + (" (now current)" if set_current else ""))


@app.command("eval")
def evaluate_cmd(
    model: Annotated[Optional[Path], typer.Option(help="model version folder (default: current)")] = None,
    corpus: Annotated[Path, typer.Option(help="corpus whose 'val' split is evaluated")] = DEFAULT_CORPUS,
) -> None:
    """Metrics per head and per language on the validation split; confusion-matrix PNGs."""
    from bot.classify.model import resolve_model_dir
    from bot.classify.pipeline import evaluate_version, load_corpus

    directory = resolve_model_dir(model or DEFAULT_MODELS)
    report = evaluate_version(directory, load_corpus(corpus))
    _print_report(report)
    Console().print(f"metrics and confusion matrices written to {directory}")


def _print_report(report: dict) -> None:
    from bot.classify.evaluation import summary_table

    table = Table(title="validation (never trained on)")
    for column in ("head", "lang", "n", "macro-F1", "accuracy", "ECE"):
        table.add_column(column)
    for head, lang, n, f1, acc, ece in summary_table(report):
        table.add_row(head, lang, str(n), f"{f1:.3f}", f"{acc:.3f}", f"{ece:.3f}")
    Console().print(table)


def _store(settings: Settings | None = None, ready: bool = True):
    """The incident store at COACH_DATABASE_URL; with `ready`, fail unless it has been migrated."""
    from bot.storage.store import SqlStore

    settings = settings or Settings()
    store = SqlStore(settings.coach_database_url, text_retention_days=settings.coach_text_retention_days)
    if ready and store.schema_revision() is None:
        store.close()
        _fail("the incident database is empty: run `coach db upgrade` first")
    return store


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the incident database schema (alembic upgrade head)."""
    with _store(ready=False) as store:
        store.migrate()
        Console().print(f"[green]database at revision {store.schema_revision()}[/green]")


@db_app.command("purge")
def db_purge() -> None:
    """Blank customer text past COACH_TEXT_RETENTION_DAYS and forget old Slack event ids now."""
    from datetime import datetime, timezone

    with _store() as store:
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

    with _store() as store:
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
        _fail("--format must be csv or jsonl")
    now = datetime.now(timezone.utc)
    with _store() as store, store.read_session() as session:
        records = load_records(session, now - timedelta(days=days), now)
    if out is None:
        write_export(records, sys.stdout, fmt)  # type: ignore[arg-type]
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        count = write_export(records, handle, fmt)  # type: ignore[arg-type]
    err.print(f"{count} incidents written to {out}")


@app.command()
def sandbox() -> None:
    """Type customer messages (any language) and see the coaching card an agent would see."""
    from bot.render.terminal import render_card

    console = Console()
    engine = _engine()
    console.print("[bold]Recovery Coach sandbox[/bold]: type a customer message, empty line or Ctrl-D to quit.")
    from bot.coach.models import ThreadMessage

    thread: list[ThreadMessage] = []
    while True:
        try:
            text = console.input("[cyan]customer>[/cyan] ")
        except (EOFError, KeyboardInterrupt):
            break
        if not text.strip():
            break
        console.print(render_card(engine.suggest(text, thread=list(thread))))
        thread.append(ThreadMessage(text=text))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port for POST /slack/events and GET /healthz")] = 3000,
    host: Annotated[str, typer.Option(help="interface to bind")] = "0.0.0.0",
) -> None:
    """The Slack bot in HTTP mode (production: several workers behind a load balancer, one database)."""
    from bot.slack.runner import ConfigError, serve_http

    try:
        serve_http(Settings(), host, port)
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def run() -> None:
    """The Slack bot in Socket Mode (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN; no public URL)."""
    from bot.slack.runner import ConfigError, run_socket_mode

    try:
        run_socket_mode(Settings())
    except ConfigError as exc:
        _fail(str(exc))


@app.command()
def start(
    port: Annotated[int, typer.Option(help="HTTP mode port, when no SLACK_APP_TOKEN is set")] = 3000,
) -> None:
    """What `make run` starts: Socket Mode or HTTP mode with Slack tokens in env/.env, else the Slack sandbox."""
    settings = Settings()
    if settings.slack_bot_token is not None and settings.slack_app_token is not None:
        run()
    elif settings.slack_bot_token is not None and settings.slack_signing_secret is not None:
        serve(port=port, host="0.0.0.0")
    else:
        from bot.slack.sandbox import run_sandbox

        run_sandbox(settings)


def main() -> None:  # pragma: no cover
    app()
