"""Contracts of `coach suggest --json` and `coach classify --jsonl`, on the shipped model."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import bot.cli as cli
import bot.cli.common as cli_common
from bot.labels import COMPLAINTS, LANGUAGES, TONES
from tests.conftest import write

runner = CliRunner()


@pytest.fixture(autouse=True)
def shipped_engine(engine, monkeypatch):
    monkeypatch.setattr(cli_common, "engine", lambda settings=None: engine)


def test_suggest_json_contract():
    result = runner.invoke(cli.app, ["suggest", "--json", "I was charged twice for order 48213 and nobody answers!!"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["language"] == "en"
    assert plan["tone"]["label"] in TONES and 0 <= plan["tone"]["confidence"] <= 1
    assert plan["complaint"]["label"] in COMPLAINTS and 0 <= plan["complaint"]["confidence"] <= 1
    assert plan["severity"] in ("low", "medium", "high", "critical")
    assert isinstance(plan["apology"], str) and plan["apology"]
    assert plan["question"] is None or isinstance(plan["question"], str)
    assert plan["question_detail"] != "order_id"  # the order number was given
    if plan["compensation"] is not None:
        assert set(plan["compensation"]) >= {"offer", "value", "currency", "authority", "needs_approval"}
    assert all(set(f) == {"when", "action"} for f in plan["follow_up"])
    assert plan["why"] and all(isinstance(w, str) for w in plan["why"])


def test_suggest_human_readable_card():
    result = runner.invoke(cli.app, ["suggest", "Мне дважды списали деньги за заказ!"], env={"COLUMNS": "100", "LINES": "60"})
    assert result.exit_code == 0, result.output
    assert "only you see this" in result.stdout and "Apology" in result.stdout


def test_suggest_rejects_bad_role_and_customer():
    assert runner.invoke(cli.app, ["suggest", "--role", "ceo", "hi"]).exit_code == 1
    bad = runner.invoke(cli.app, ["suggest", "--customer", '{"lifetime_value": -3}', "hi"])
    assert bad.exit_code == 1 and "lifetime_value" in bad.output


def test_suggest_uses_customer_and_thread(tmp_path):
    thread = write(tmp_path, "t.jsonl", json.dumps({"text": "order 48213, charged $40 yesterday"}) + "\n")
    result = runner.invoke(cli.app, ["suggest", "--json", "--thread", str(thread), "--customer",
                                     '{"lifetime_value": 9000, "previous_contacts": 2}', "I was charged twice!!"])
    plan = json.loads(result.stdout)
    assert plan["value_at_stake"]["high_value"] is True
    assert plan["question_detail"] not in ("order_id", "amount", "date")


def test_classify_jsonl_in_order_with_errors_per_line(tmp_path):
    lines = [
        json.dumps({"id": 1, "text": "Where is my parcel? It is two weeks late!"}),
        "this is not json",
        json.dumps({"id": "b", "text": ""}),
        json.dumps({"id": "c", "text": "我的快递还没到，急死了"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "d", "text": "Tere, mu parool ei tööta ja ma ei saa sisse logida"}),
    ]
    path = write(tmp_path, "m.jsonl", "\n".join(lines) + "\n")
    result = runner.invoke(cli.app, ["classify", "--jsonl", str(path), "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 6
    assert [o.get("id") for o in out] == [1, None, "b", "c", None, "d"]
    assert "error" in out[1] and "error" in out[2] and "error" in out[4]
    for row in (out[0], out[3], out[5]):
        assert set(row) == {"id", "tone", "tone_confidence", "complaint", "complaint_confidence", "language"}
        assert row["tone"] in TONES and row["complaint"] in COMPLAINTS and row["language"] in LANGUAGES
    assert out[3]["language"] == "zh" and out[5]["language"] == "et"


def test_classify_answers_every_bad_line_without_crashing(tmp_path):
    """One error object per bad line (issue 13: a lone surrogate used to crash the whole run)."""
    from bot.cli.engine_cmds import MAX_LINE_CHARS

    lines = [
        b'{"id": 1, "text": "\\ud800 lone surrogate"}',
        b'{"id": 2, "text": "I was charged twice!"}',
        b"{not json",
        b'{"id": 3}',
        b'{"id": 4, "text": ["a list"]}',
        b'{"id": 5, "text": "bad bytes \xff\xfe here"}',
        b'{"id": 6, "text": "' + b"x" * (MAX_LINE_CHARS + 1) + b'"}',
        b'{"id": NaN, "text": "x"}',
        b"[" * 30000 + b"]" * 30000,
        b'{"id": "\\udc80", "text": "hi"}',
        b'{"id": 7, "text": "Where is my parcel? It is two weeks late!"}',
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = runner.invoke(cli.app, ["classify", "--jsonl", str(path), "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(lines)
    errors = {o["line"]: o["error"] for o in out if "error" in o}
    assert set(errors) == {1, 3, 4, 5, 6, 7, 8, 9, 10}
    assert all(set(o) == {"id", "line", "error"} for o in out if "error" in o)
    assert "surrogate" in errors[1] and "missing" in errors[4] and "string" in errors[5]
    assert "UTF-8" in errors[6] and "longer than" in errors[7] and "nested" in errors[9]
    assert [out[1]["id"], out[10]["id"]] == [2, 7] and out[1]["complaint"] in COMPLAINTS
    assert not any("here" in e or "xxxx" in e for e in errors.values())  # no input echoed


def test_classify_stdin_and_missing_file(tmp_path):
    piped = runner.invoke(cli.app, ["classify", "--jsonl", "-"],
                          input=b'\xef\xbb\xbf{"id": "a", "text": "Where is my refund?"}\n\n')
    assert piped.exit_code == 0, piped.output
    assert [json.loads(line)["id"] for line in piped.stdout.splitlines()] == ["a"]  # BOM skipped, blank line too
    missing = runner.invoke(cli.app, ["classify", "--jsonl", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_suggest_rejects_invalid_utf8_argument(tmp_path):
    undecodable = b"charged twice \xff\xfe".decode("utf-8", "surrogateescape")  # what argv gives on Linux
    result = runner.invoke(cli.app, ["suggest", undecodable])
    assert result.exit_code == 2 and "not valid UTF-8" in result.output
    bad_thread = tmp_path / "t.jsonl"
    bad_thread.write_bytes(b'{"text": "order \xff"}\n')
    result = runner.invoke(cli.app, ["suggest", "--thread", str(bad_thread), "hi"])
    assert result.exit_code == 2 and "not valid UTF-8" in result.output
    bad_thread.write_text('{"txt": 1}\n', encoding="utf-8")
    result = runner.invoke(cli.app, ["suggest", "--thread", str(bad_thread), "hi"])
    assert result.exit_code == 2 and "--thread line 1" in result.output
