"""Engine commands: suggest, classify, playbook validate, sandbox."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated, BinaryIO, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from bot.cli.common import app, err, fail
from bot.cli import common

playbook_app = typer.Typer(help="Check the company playbook.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")


# A jsonl line longer than this is answered with an error object, unparsed (README, CLI reference).
MAX_LINE_CHARS = 100_000
# Read at most this many bytes of a line (4 UTF-8 bytes per character, plus "\r\n"): a longer line is
# skipped without ever being held in memory whole.
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS + 2
# A chunk is classified and its answers flushed at `batch_size` lines or at this many characters.
MAX_CHUNK_CHARS = 1_000_000


def _is_utf8(text: str) -> bool:
    """False for lone surrogates: what JSON's "\\ud800" and undecodable argv bytes (surrogateescape) become."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{what}: no such file {path}", code=2)
    except UnicodeDecodeError as exc:
        fail(f"{what}: {path} is not valid UTF-8 (byte {exc.start})", code=2)
    except OSError as exc:
        fail(f"{what}: cannot read {path}: {exc.strerror}", code=2)
    raise AssertionError("unreachable")


def _customer(raw: str | None):
    from pydantic import ValidationError

    from bot.coach.models import CustomerProfile

    if not raw:
        return None
    text = _read_text(Path(raw[1:]), "--customer") if raw.startswith("@") else raw
    if not _is_utf8(text):
        fail("--customer is not valid UTF-8", code=2)
    try:
        return CustomerProfile.model_validate_json(text)
    except ValidationError as exc:
        fail(f"--customer: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")


def _thread(path: Path | None):
    from pydantic import ValidationError

    from bot.coach.models import ThreadMessage

    if path is None:
        return None
    messages = []
    for number, line in enumerate(_read_text(path, "--thread").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages.append(ThreadMessage.model_validate_json(line))
        except ValidationError as exc:
            fail(f"--thread line {number}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", code=2)
    return messages


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

    if not _is_utf8(text):  # undecodable argv bytes arrive as lone surrogates (surrogateescape)
        fail("the message is not valid UTF-8; pass it in UTF-8", code=2)
    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}")
    plan = common.engine().suggest(text, _thread(thread), _customer(customer), role)  # type: ignore[arg-type]
    if as_json:
        print(plan.model_dump_json(indent=2))
    else:
        from bot.render.terminal import render_card

        Console().print(render_card(plan))


def _lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Each line's bytes, or None for one over MAX_LINE_BYTES (skipped in 64 KB reads, never held whole)."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 16)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield line


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _parse_line(raw: bytes | None, first: bool) -> tuple[object, str | None, str | None]:
    """(id, text, None) for a good line, (id or None, None, error) for a bad one; errors never quote the line."""
    if raw is None:
        return None, None, f"line longer than {MAX_LINE_CHARS:,} characters: not read"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, f"line is not valid UTF-8 (byte {exc.start})"
    if first:
        line = line.removeprefix("\ufeff")
    line = line.rstrip("\r\n")
    if len(line) > MAX_LINE_CHARS:
        return None, None, f"line longer than {MAX_LINE_CHARS:,} characters: not read"
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except RecursionError:
        return None, None, "bad input line: JSON nested too deeply"
    except ValueError as exc:  # JSONDecodeError included; its message holds a position, not the text
        return None, None, f"bad input line: {exc}"
    if not isinstance(obj, dict):
        return None, None, "bad input line: line is not a JSON object"
    ident = obj.get("id")
    if isinstance(ident, float) and not math.isfinite(ident) or not isinstance(ident, (str, int, float, type(None))):
        return None, None, "bad input line: 'id' must be a string, a number or null"
    if isinstance(ident, str) and not _is_utf8(ident):
        return None, None, "bad input line: 'id' holds a lone surrogate (not UTF-8)"
    text = obj.get("text")
    if "text" not in obj:
        return ident, None, "bad input line: missing 'text'"
    if not isinstance(text, str):
        return ident, None, f"bad input line: 'text' must be a string, not {type(text).__name__}"
    if not text.strip():
        return ident, None, "bad input line: empty 'text'"
    if not _is_utf8(text):
        return ident, None, "bad input line: 'text' holds a lone surrogate (not UTF-8)"
    return ident, text, None


def _classify_chunk(classifier, texts: list[str]) -> list[object]:
    """Classifications, or an error string per text: one text that breaks the model must not sink its chunk."""
    try:
        return list(classifier.classify_many(texts))
    except Exception:
        results: list[object] = []
        for text in texts:
            try:
                results.append(classifier.classify(text))
            except Exception as exc:  # the type only: a message could quote the customer's text
                results.append(f"classification failed: {type(exc).__name__}")
        return results


@app.command()
def classify(
    jsonl: Annotated[Path, typer.Option("--jsonl", help="input lines {\"text\": ..., \"id\": ...}; '-' = stdin")],
    batch_size: Annotated[int, typer.Option(min=1, help="messages per model call (and per flushed chunk)")] = 64,
) -> None:
    """Classify a batch; one output line per input line, in order; bad lines get an error object.

    Streams: reads a chunk (batch_size lines or 1 M characters), answers it, flushes, reads on; lines over
    100,000 characters are answered with an error without being parsed.
    """
    from_stdin = str(jsonl) == "-"
    if from_stdin:
        stream: BinaryIO = sys.stdin.buffer
    else:
        try:
            stream = jsonl.open("rb")
        except FileNotFoundError:
            fail(f"--jsonl: no such file {jsonl}", code=2)
        except OSError as exc:
            fail(f"--jsonl: cannot read {jsonl}: {exc.strerror}", code=2)
    engine = common.engine()
    pending: list[tuple[int, object, str | None, str | None]] = []  # (line no, id, text, error)
    out = sys.stdout

    def write(row: dict) -> None:
        try:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:  # a terminal that is not UTF-8
            out.write(json.dumps(row) + "\n")

    def flush() -> None:
        texts = [t for _, _, t, e in pending if e is None and t is not None]
        results = iter(_classify_chunk(engine.classifier, texts) if texts else ())
        for number, ident, text, error in pending:
            if error is None:
                c = next(results)
                if isinstance(c, str):
                    error = c
                else:
                    write({"id": ident, "tone": c.tone.label, "tone_confidence": c.tone.confidence,
                           "complaint": c.complaint.label, "complaint_confidence": c.complaint.confidence,
                           "language": c.language})
                    continue
            write({"id": ident, "line": number, "error": error})
        pending.clear()
        out.flush()

    try:
        chars = 0
        for number, raw in enumerate(_lines(stream), start=1):
            if raw is not None and not raw.strip():
                continue
            ident, text, error = _parse_line(raw, first=number == 1)
            pending.append((number, ident, text, error))
            chars += len(text or "")
            if len(pending) >= batch_size or chars >= MAX_CHUNK_CHARS:
                flush()
                chars = 0
        flush()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        raise typer.Exit(1)
    finally:
        if not from_stdin:
            stream.close()


@playbook_app.command("validate")
def playbook_validate(path: Annotated[Path, typer.Argument(help="playbook YAML file")]) -> None:
    """Exit 0 if the playbook is valid, else 1 with each field and line at fault."""
    from bot.playbook import PlaybookError, load_playbook

    try:
        playbook = load_playbook(path)
    except PlaybookError as exc:
        err.print(f"[red]invalid playbook[/red] {escape(str(exc.source))}")
        for problem in exc.problems:  # problems quote the file ("[en]", "[0]"): never read them as markup
            err.print(f"  - {escape(str(problem))}")
        raise typer.Exit(1)
    options = sum(len(v) for v in playbook.compensation.values())
    Console().print(f"[green]ok[/green] {escape(str(path))}: {escape(playbook.company)}, languages {', '.join(playbook.languages)}, "
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
