"""Load a playbook from YAML and turn every problem into 'field path (line N): message'."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.playbook.schema import Playbook

Path_ = tuple[str | int, ...]


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


def _line_index(node: yaml.Node, path: Path_ = (), index: dict[Path_, int] | None = None) -> dict[Path_, int]:
    """Map every key path of the YAML document to the 1-based line where it starts."""
    index = {} if index is None else index
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            index[child] = key_node.start_mark.line + 1
            _line_index(value_node, child, index)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            child = path + (position,)
            index[child] = item.start_mark.line + 1
            _line_index(item, child, index)
    return index


def _nearest_line(index: dict[Path_, int], loc: Path_) -> int | None:
    while loc:
        if loc in index:
            return index[loc]
        loc = loc[:-1]
    return index.get(())


def _clean_loc(loc: tuple[Any, ...]) -> Path_:
    # RootModel adds a 'root' segment and tagged unions add type names: keep only document keys.
    return tuple(part for part in loc if part != "root")


def _format_field(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_playbook(text: str, source: str = "<playbook>") -> Playbook:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise PlaybookError(source, [Problem("", line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(data, dict):
        raise PlaybookError(source, [Problem("", 1, "the playbook must be a YAML mapping")])
    index = _line_index(node) if node is not None else {}
    context = {
        "languages": data.get("languages") if isinstance(data.get("languages"), list) else None,
        "banned_phrases": data.get("banned_phrases") if isinstance(data.get("banned_phrases"), dict) else None,
    }
    try:
        return Playbook.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = _clean_loc(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(Problem(_format_field(loc), _nearest_line(index, loc), message))
        raise PlaybookError(source, problems) from exc


def load_playbook(path: str | Path) -> Playbook:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError(str(path), [Problem("", None, f"cannot read file: {exc.strerror}")]) from exc
    return parse_playbook(text, str(path))
