"""YAML loading for untrusted playbooks: bounded before anything expands.

A playbook comes from an admin's upload, so it is read as hostile. The size is checked before
parsing; the document is then composed from libyaml's event stream by our own loop, which refuses an
anchor or alias on the event that declares it (a 500-byte "billion laughs" file took the bot from
305 MB to 4.7 GB before this), stops at a nesting depth or node count no playbook needs, refuses
duplicate keys with the line of the second one, explicit tags other than the core ones, merge keys,
non-text keys, integers too long to convert, and control characters. Only then are Python values
built, from a tree already known to be small.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 256 * 1024
MAX_DEPTH = 12          # the shipped playbook nests 5 deep
MAX_NODES = 20_000      # the shipped playbook has about 1,400
MAX_INT_DIGITS = 18
CORE_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map"))
SURROGATE = re.compile(r"[\ud800-\udfff]")
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

Path_ = tuple[str | int, ...]
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 5x faster on 256 KB


@dataclass(frozen=True)
class YamlProblem:
    """One refusal from the YAML layer: the key path (may be empty) and the 1-based line."""

    path: Path_
    line: int | None
    message: str


class YamlRefused(Exception):
    def __init__(self, problems: list[YamlProblem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class Composed:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def decode(raw: bytes) -> str:
    """UTF-8 (a BOM is allowed) or a refusal naming the byte offset and line."""
    if len(raw) > MAX_BYTES:
        raise YamlRefused([YamlProblem((), None, _too_big(len(raw)))])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlRefused([YamlProblem((), line, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]) from None


def _too_big(size: int) -> str:
    return f"file is {size:,} bytes; a playbook may be at most {MAX_BYTES:,} bytes ({MAX_BYTES // 1024} KB)"


class _Composer:
    """Builds yaml nodes from events, checking every limit as each event arrives."""

    def __init__(self, text: str):
        self.loader = _Loader(text)
        self.nodes = 0
        self.lines: dict[Path_, int] = {}
        self.duplicates: list[YamlProblem] = []

    def refuse(self, path: Path_, mark: Any, message: str) -> YamlRefused:
        return YamlRefused([YamlProblem(path, _line(mark), message)])

    def document(self) -> Node | None:
        loader = self.loader
        loader.get_event()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStart
        node = self.node((), 0)
        loader.get_event()  # DocumentEnd
        if not loader.check_event(yaml.StreamEndEvent):
            raise self.refuse((), loader.peek_event().start_mark, "only one YAML document is allowed (remove '---')")
        return node

    def node(self, path: Path_, depth: int, record: bool = True) -> Node:
        event = self.loader.get_event()
        if record:
            self.lines.setdefault(path, event.start_mark.line + 1)
        if isinstance(event, yaml.AliasEvent):
            raise self.refuse(path, event.start_mark, f"aliases (*{event.anchor}) are not allowed in a playbook")
        if getattr(event, "anchor", None) is not None:
            raise self.refuse(path, event.start_mark, f"anchors (&{event.anchor}) are not allowed in a playbook")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.refuse(path, event.start_mark, f"more than {MAX_NODES:,} values; no playbook needs that many")
        if depth > MAX_DEPTH:
            raise self.refuse(path, event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        tag = event.tag if event.tag not in (None, "!") else None
        if tag is not None and tag not in CORE_TAGS:
            raise self.refuse(path, event.start_mark, f"YAML tag {tag!r} is not allowed")
        if isinstance(event, yaml.ScalarEvent):
            return self.scalar(event, tag, path)
        if isinstance(event, yaml.SequenceStartEvent):
            items: list[Node] = []
            node = SequenceNode(tag or "tag:yaml.org,2002:seq", items, event.start_mark, None,
                                flow_style=event.flow_style)
            while not self.loader.check_event(yaml.SequenceEndEvent):
                items.append(self.node(path + (len(items),), depth + 1))
            node.end_mark = self.loader.get_event().end_mark
            return node
        if isinstance(event, yaml.MappingStartEvent):
            return self.mapping(event, tag, path, depth)
        raise self.refuse(path, event.start_mark, f"unexpected YAML event {type(event).__name__}")

    def scalar(self, event: Any, tag: str | None, path: Path_) -> ScalarNode:
        value: str = event.value
        resolved = tag or self.loader.resolve(ScalarNode, value, event.implicit)
        if resolved == "tag:yaml.org,2002:timestamp":
            resolved = "tag:yaml.org,2002:str"  # no playbook field is a date; '2024-13-45' would not even convert
        bad = CONTROL.search(value)
        if bad:
            raise self.refuse(path, event.start_mark, f"control character U+{ord(bad.group()):04X} is not allowed")
        if resolved == "tag:yaml.org,2002:int" and len(value.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
            raise self.refuse(path, event.start_mark, f"number with more than {MAX_INT_DIGITS} digits")
        return ScalarNode(resolved, value, event.start_mark, event.end_mark, style=event.style)

    def mapping(self, event: Any, tag: str | None, path: Path_, depth: int) -> MappingNode:
        pairs: list[tuple[Node, Node]] = []
        node = MappingNode(tag or "tag:yaml.org,2002:map", pairs, event.start_mark, None, flow_style=event.flow_style)
        first_line: dict[str, int] = {}
        while not self.loader.check_event(yaml.MappingEndEvent):
            key_event = self.loader.peek_event()
            if not isinstance(key_event, yaml.ScalarEvent):
                raise self.refuse(path, key_event.start_mark, "keys must be plain text, not lists or mappings")
            key = self.node(path, depth + 1, record=False)
            if key.tag == MERGE_TAG:
                raise self.refuse(path, key.start_mark, "merge keys (<<) are not allowed in a playbook")
            if key.tag != STR_TAG:
                raise self.refuse(path, key.start_mark, f"key {key.value!r} is read as {key.tag.rsplit(':', 1)[-1]}, "
                                                        "not text; quote it or rename it")
            name = key.value
            line = key.start_mark.line + 1
            child = path + (name,)
            if name in first_line:
                self.duplicates.append(YamlProblem(child, line, f"duplicate key (first on line {first_line[name]})"))
            else:
                first_line[name] = line
            self.lines[child] = line
            value = self.node(child, depth + 1)
            self.lines[child] = line  # the key's line, not its value's
            pairs.append((key, value))
        node.end_mark = self.loader.get_event().end_mark
        return node


def compose(text: str) -> Composed:
    """Parse `text` into Python data plus a key-path -> line index; raises YamlRefused with line numbers."""
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > MAX_BYTES else len(text)
    if size > MAX_BYTES:
        raise YamlRefused([YamlProblem((), None, _too_big(size))])
    surrogate = SURROGATE.search(text)
    if surrogate:  # libyaml would fail to encode it, outside its own error handling
        line = text.count("\n", 0, surrogate.start()) + 1
        raise YamlRefused([YamlProblem((), line, "not valid text: a lone surrogate character")])
    composer = _Composer(text)
    try:
        try:
            root = composer.document()
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
            shown = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
            raise YamlRefused([YamlProblem((), line, f"not valid YAML: character {shown} is not allowed "
                                                     f"({exc.reason})")]) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "syntax error"
            raise YamlRefused([YamlProblem((), _line(mark), f"not valid YAML: {problem}")]) from None
        if composer.duplicates:
            raise YamlRefused(composer.duplicates)
        if root is None:
            return Composed(None, composer.lines)
        try:
            data = composer.loader.construct_document(root)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise YamlRefused([YamlProblem((), _line(mark), f"not valid YAML: {exc.problem or exc.context}")]) from None
        return Composed(data, composer.lines)
    finally:
        composer.loader.dispose()
