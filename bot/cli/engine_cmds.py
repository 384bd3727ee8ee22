"""Engine commands: suggest, classify, playbook validate, sandbox."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bot.cli.common import app, err, fail
from bot.cli import common

playbook_app = typer.Typer(help="Check the company playbook.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")


def _customer(raw: str | None):
    from pydantic import ValidationError

    from bot.coach.models import CustomerProfile

    if not raw:
        return None
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return CustomerProfile.model_validate_json(text)
    except ValidationError as exc:
        fail(f"--customer: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")


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
        fail(f"--role must be one of {', '.join(ROLES)}")
    plan = common.engine().suggest(text, _thread(thread), _customer(customer), role)  # type: ignore[arg-type]
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
    engine = common.engine()
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


@app.command()
def sandbox() -> None:
    """Type customer messages (any language) and see the coaching card an agent would see."""
    from bot.render.terminal import render_card

    console = Console()
    engine = common.engine()
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
