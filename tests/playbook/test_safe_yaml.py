"""The YAML layer refuses what could hurt before it expands, each refusal with its field and line."""
from __future__ import annotations

import time

import pytest

from bot.playbook import MAX_PLAYBOOK_BYTES, PlaybookError, load_playbook, parse_playbook
from bot.playbook import loader

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _problems(text: str | bytes) -> list[str]:
    with pytest.raises(PlaybookError) as info:
        parse_playbook(text, "test.yaml")
    return [str(p) for p in info.value.problems]


def _line_of(problem: str) -> int:
    return int(problem.split("(line ")[1].split(")")[0])


def test_billion_laughs_is_refused_at_the_first_anchor_in_milliseconds():
    started = time.perf_counter()
    problems = _problems(BOMB)
    assert time.perf_counter() - started < 0.5
    assert problems == ["a (line 1): anchors (&a) are not allowed in a playbook"]


def test_an_alias_to_a_real_section_is_refused_with_its_line(playbook_text):
    text = playbook_text.replace("customer_value:", "customer_value: &cv", 1) + "\nextra: *cv\n"
    [problem] = _problems(text)
    assert problem.startswith("customer_value (line ") and "anchors (&cv)" in problem
    text = playbook_text + "\nextra: *nothing\n"
    [problem] = _problems(text)
    assert problem.startswith("extra (line ") and "aliases (*nothing)" in problem
    assert "extra: *nothing" in text.splitlines()[_line_of(problem) - 1]


def test_merge_keys_are_refused(playbook_text):
    text = playbook_text.replace("  margin: 0.3\n", "  margin: 0.3\n  <<: {margin: 0.9}\n", 1)
    [problem] = _problems(text)
    assert problem.startswith("customer_value (line") and "merge keys" in problem


def test_duplicate_key_names_the_second_line(playbook_text):
    text = playbook_text.replace("  margin: 0.3\n", "  margin: 0.3\n  margin: 0.9\n", 1)
    [problem] = _problems(text)
    second = _line_of(problem)
    assert problem.startswith("customer_value.margin (line") and f"first on line {second - 1}" in problem
    assert text.splitlines()[second - 1].strip() == "margin: 0.9"


def test_duplicate_key_in_a_flow_mapping(playbook_text):
    text = playbook_text.replace("{medium: 2, high: 3, critical: 5}", "{medium: 2, high: 3, critical: 5, medium: 1}")
    [problem] = _problems(text)
    assert problem.startswith("severity.thresholds.medium (line") and "duplicate key" in problem


def test_every_duplicate_is_listed(playbook_text):
    text = playbook_text.replace("company: Acme Store\n", "company: Acme Store\ncompany: Evil\n", 1).replace(
        "  years: 4\n", "  years: 4\n  years: 40\n", 1)
    problems = _problems(text)
    assert [p.split(" ")[0] for p in problems] == ["company", "customer_value.years"]


@pytest.mark.parametrize("depth", [13, 200, 50_000])
def test_deep_nesting_is_refused_without_recursing(depth):
    text = "company: " + "[" * depth + "]" * depth + "\n"
    [problem] = _problems(text)  # libyaml's own scanner limit may speak first on the deepest
    assert ("nested deeper than 12 levels" in problem or "nesting depth" in problem) and "(line 1)" in problem


def test_too_many_values_are_refused():
    text = "x: [" + ",".join("1" for _ in range(25_000)) + "]\n"
    assert "more than 20,000 values" in _problems(text)[0]


def test_size_is_checked_before_parsing(playbook_text):
    padded = playbook_text + "#" * (MAX_PLAYBOOK_BYTES - len(playbook_text.encode()) + 1)
    [problem] = _problems(padded)
    assert "at most 262,144 bytes" in problem
    [problem] = _problems(padded.encode())
    assert "at most 262,144 bytes" in problem
    fits = playbook_text + "\n#" + "x" * (MAX_PLAYBOOK_BYTES - len(playbook_text.encode()) - 3) + "\n"
    assert len(fits.encode()) <= MAX_PLAYBOOK_BYTES
    assert parse_playbook(fits).company == "Acme Store"


def test_load_playbook_reads_no_more_than_the_limit(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (20 * MAX_PLAYBOOK_BYTES))
    with pytest.raises(PlaybookError) as info:
        load_playbook(big)
    assert "larger than 262,144 bytes" in str(info.value.problems[0])
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path)  # a directory
    assert "cannot read file" in str(info.value.problems[0])


def test_non_utf8_names_byte_and_line(playbook_text):
    raw = playbook_text.encode()
    broken = raw.replace(b"company: Acme Store", b"company: Acme \xff Store", 1)
    [problem] = _problems(broken)
    assert "not UTF-8" in problem and "(line 6)" in problem
    assert "not UTF-8" in _problems(playbook_text.encode("utf-16"))[0]
    assert parse_playbook(b"\xef\xbb\xbf" + raw).company == "Acme Store"  # a BOM is fine


@pytest.mark.parametrize("bad, expected", [
    ("company: !!python/object/apply:os.system ['true']\n", "YAML tag"),
    ("company: !!binary aGVsbG8=\n", "YAML tag"),
    ("company: !custom x\n", "YAML tag"),
    ("company: \"Acme\\x00\"\n", "control character U+0000"),
    ("company: Acme\x1b\n", "not valid YAML"),
    ("company: \"\\ud800\"\n", "not valid YAML"),
    ("company: Acme\ud800\n", "lone surrogate"),
    ("years: " + "9" * 5000 + "\n", "more than 18 digits"),
    ("? [a, b]\n: 1\n", "keys must be plain text"),
    ("company: [unclosed\n", "not valid YAML"),
    ("a: 1\n---\nb: 2\n", "only one YAML document"),
    ("\tcompany: x\n", "not valid YAML"),
    ("", "must be a YAML mapping"),
    ("# only a comment\n", "must be a YAML mapping"),
    ("- a list\n", "must be a YAML mapping"),
    ("42\n", "must be a YAML mapping"),
])
def test_hostile_yaml_is_refused_with_a_sentence(bad, expected):
    problems = _problems(bad)
    assert any(expected in p for p in problems), problems
    assert all("Traceback" not in p for p in problems)


def test_a_date_is_text_not_a_crash(playbook_text):
    problems = _problems(playbook_text.replace("years: 4", "years: 2024-13-45", 1))
    assert problems == ["customer_value.years (line 13): Input should be a valid number"]


def test_an_unexpected_exception_becomes_one_clear_problem(monkeypatch, playbook_text):
    def broken(_text):
        raise KeyError("boom")

    monkeypatch.setattr(loader, "compose", broken)
    problems = _problems(playbook_text)
    assert problems == ["<root>: could not be checked (KeyError); the live playbook stays"]
