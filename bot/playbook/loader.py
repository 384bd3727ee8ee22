"""Load a playbook from YAML and turn every problem into 'field path (line N): message'.

Every way a playbook can be wrong ends here as a PlaybookError listing problems, never as a
traceback: the YAML layer (`safe_yaml`) refuses what could hurt before it expands, pydantic checks
the schema, and a last pass checks what only the whole playbook shows (an issue phrase that puts a
banned phrase into an apology). Anything unexpected becomes one clear problem as well.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.labels import LANGUAGES

from bot.playbook.safe_yaml import MAX_BYTES, Composed, YamlRefused, compose, decode
from bot.playbook.schema import Playbook
from bot.playbook.text import first_banned

Path_ = tuple[str | int, ...]
MAX_PROBLEMS = 100
log = logging.getLogger("coach.playbook")


@dataclass(frozen=True)
class Problem:
    field: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.field or '<root>'}{where}: {self.message}"


class PlaybookError(ValueError):
    """Raised for any playbook that must not go live; carries every problem found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__(f"invalid playbook {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def _nearest_line(index: dict[Path_, int], loc: Path_) -> int | None:
    while loc:
        if loc in index:
            return index[loc]
        loc = loc[:-1]
    return index.get(())


def _clean_loc(loc: tuple[Any, ...]) -> Path_:
    # RootModel adds a 'root' segment, dict keys a '[key]' segment: keep only document keys.
    return tuple(part for part in loc if part not in ("root", "[key]"))


def _format_field(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate_schema(composed: Composed) -> Playbook | list[Problem]:
    data = composed.data
    languages = data.get("languages")
    context = {  # only well-formed parts: a bad 'languages' is reported once, at its own line, not at every template
        "languages": [lang for lang in languages if lang in LANGUAGES] if isinstance(languages, list) else None,
        "banned_phrases": data.get("banned_phrases") if isinstance(data.get("banned_phrases"), dict) else None,
    }
    try:
        playbook = Playbook.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = _clean_loc(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(Problem(_format_field(loc), _nearest_line(composed.lines, loc), message))
        return problems
    return _whole_playbook_problems(playbook, composed.lines) or playbook


def _whole_playbook_problems(playbook: Playbook, lines: dict[Path_, int]) -> list[Problem]:
    """Apologies as the customer would read them: each template filled with each issue phrase and the company."""
    problems: list[Problem] = []
    for complaint, phrase_text in playbook.issue_phrases.items():
        for lang, issue in phrase_text.root.items():
            banned = playbook.banned_phrases.get(lang, [])
            for apology in [issue, *(a.root.get(lang, "") for a in playbook.apologies.values())]:
                rendered = apology.replace("{issue}", issue).replace("{company}", playbook.company)
                hit = first_banned(rendered, banned)
                if hit is not None:
                    loc: Path_ = ("issue_phrases", complaint, lang)
                    problems.append(Problem(_format_field(loc), _nearest_line(lines, loc),
                                            f"puts banned phrase {hit!r} into an apology"))
                    break
    return problems


def parse_playbook(text: str | bytes, source: str = "<playbook>") -> Playbook:
    """Validate a playbook; raises PlaybookError (never anything else) listing each field and line at fault.

    Args:
        text: the YAML, as text or as the raw bytes of an upload (UTF-8; at most 256 KB).
        source: how the errors name the playbook (a path, "uploaded playbook").
    """
    try:
        result = _validate(text)
    except Exception as exc:  # a bug of ours must still answer as a refusal, not a traceback
        log.error("playbook validation failed unexpectedly", extra={"error": type(exc).__name__})
        result = [Problem("", None, f"could not be checked ({type(exc).__name__}); the live playbook stays")]
    if isinstance(result, Playbook):
        return result
    problems = result
    if len(problems) > MAX_PROBLEMS:
        problems = problems[:MAX_PROBLEMS] + [Problem("", None, f"…and {len(problems) - MAX_PROBLEMS} more problems")]
    raise PlaybookError(source, problems)


def _validate(text: str | bytes) -> Playbook | list[Problem]:
    try:
        composed = compose(decode(text) if isinstance(text, bytes) else text)
    except YamlRefused as refused:
        return [Problem(_format_field(p.path), p.line, p.message) for p in refused.problems]
    if not isinstance(composed.data, dict):
        return [Problem("", 1, "the playbook must be a YAML mapping (key: value lines)")]
    return _validate_schema(composed)


def decode_playbook(raw: bytes, source: str = "<playbook>") -> str:
    """The text of an uploaded file, or PlaybookError for one over the size limit or not UTF-8."""
    try:
        return decode(raw)
    except YamlRefused as refused:
        raise PlaybookError(source, [Problem(_format_field(p.path), p.line, p.message)
                                     for p in refused.problems]) from None


def load_playbook(path: str | Path) -> Playbook:
    """Read at most the size limit (plus one byte, to tell) from `path`, then validate it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PlaybookError(str(path), [Problem("", None, f"cannot read file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise PlaybookError(str(path), [Problem("", None, f"file is larger than {MAX_BYTES:,} bytes "
                                                          f"({MAX_BYTES // 1024} KB), the limit for a playbook")])
    return parse_playbook(raw, str(path))
