"""`coach export` contents (CSV / JSONL, no customer ids or text) and the storage CLI commands."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.storage.export import COLUMNS, write_export
from bot.storage.records import load_records
from bot.storage.store import SqlStore
from tests.storage.helpers import record
from tests.storage.test_migrations import HEAD

T0 = datetime(2026, 3, 18, 13, 30, tzinfo=timezone.utc)
SECRET_TEXT = "Order #A-48213 is late, call +44 20 7946 0958"


@pytest.fixture
def history(store, book):
    a = record(store, book, "1.1", customer="U0RAW1", at=T0, text=SECRET_TEXT, timezone_name="Europe/Tallinn",
               product="kettle", lifetime_value=900)
    store.record_suggestion_used(a, "apology", "U0AGENT1")
    store.record_suggestion_used(a, "compensation", "U0AGENT1")
    store.record_compensation(a, "express_reship", "Free express re-shipment", 15, "USD", "given", "U0AGENT1")
    record(store, book, "1.1", "1.2", tone="positive", complaint="none", customer="U0RAW1",
           at=T0 + timedelta(minutes=3), text="thanks!", lifetime_value=900)
    store.resolve_incident(a, "U0AGENT1", [], now=T0 + timedelta(minutes=5))
    record(store, book, "2.1", customer="U0RAW2", tone="frustrated", complaint="billing",
           at=T0 + timedelta(hours=1))
    record(store, book, "3.1", customer="U0RAW1", at=T0 - timedelta(days=30))  # outside the period
    return store


def _records(store: SqlStore):
    with store.read_session() as session:
        return load_records(session, T0 - timedelta(days=1), T0 + timedelta(days=1))


def test_csv_export(history):
    out = io.StringIO()
    assert write_export(_records(history), out, "csv") == 2
    text = out.getvalue()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    first, second = rows
    assert (first["thread_ts"], first["complaint"], first["tone_first"], first["tone_last"]) == (
        "1.1", "delivery", "angry", "positive")
    assert first["tone_shift"] == "3" and first["recovered"] == "True" and first["status"] == "resolved"
    assert first["local_hour_of_week"] == "Wed 15h" and first["timezone"] == "Europe/Tallinn"
    assert first["product"] == "kettle" and "48213" in first["order_ref"]
    assert first["suggestions_used"] == "apology;compensation"
    assert first["steps"] == "fix" and second["steps"] == ""  # the offer given; the other has done nothing yet
    assert (first["compensation"], first["compensation_state"], first["compensation_cost"]) == (
        "express_reship", "given", "15.0")
    assert first["messages"] == "2" and first["lifetime_value"] == "900.0" and first["load_band"] == "0-2"
    assert second["complaint"] == "billing" and second["resolved_at"] == "" and second["load"] == "0"
    assert len(first["customer"]) == 32 and first["customer"] != second["customer"]
    visible = "\n".join(str({k: v for k, v in row.items() if k != "customer"}) for row in rows)
    for secret in ("U0RAW1", "U0RAW2", "7946", "late, call"):  # (a random hex pseudonym may hold "7946")
        assert secret not in visible
    assert "U0RAW" not in text


def test_jsonl_export(history):
    out = io.StringIO()
    write_export(_records(history), out, "jsonl")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["thread_ts"] for line in lines] == ["1.1", "2.1"]
    assert lines[0]["suggestions_used"] == ["apology", "compensation"] and lines[1]["resolved_at"] is None
    assert set(lines[0]) == set(COLUMNS) and lines[0]["steps"] == ["fix"]
    with pytest.raises(ValueError):
        write_export([], io.StringIO(), "xml")  # type: ignore[arg-type]


def test_cli_db_stats_export(sqlite_url, book, tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    refused = runner.invoke(app, ["stats"])
    assert refused.exit_code == 1 and "coach db upgrade" in refused.output
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and f"revision {HEAD}" in upgraded.output
    now = datetime.now(timezone.utc)
    with SqlStore(sqlite_url) as store:
        record(store, book, "9.1", at=now - timedelta(hours=2), customer="U0RAW9")
        record(store, book, "9.2", at=now - timedelta(hours=1), complaint="billing", tone="frustrated")
        record(store, book, "9.3", at=now - timedelta(days=20))

    heat = tmp_path / "heat.png"
    result = runner.invoke(app, ["stats", "--days", "7", "--json", "--heatmap", str(heat)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 2 and data["by_complaint"] == {"delivery": 1, "billing": 1}
    assert data["patterns"] == [] and heat.read_bytes()[:4] == b"\x89PNG"

    tables = runner.invoke(app, ["stats", "--days", "30"])
    assert tables.exit_code == 0 and "Incidents by complaint type" in tables.output and "(none found)" in tables.output
    assert "offers given" in tables.output and "Steps of 'a complaint is a gift'" in tables.output

    out = tmp_path / "incidents.jsonl"
    exported = runner.invoke(app, ["export", "--days", "7", "--format", "jsonl", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text().splitlines()) == 2 and "U0RAW9" not in out.read_text()
    as_csv = runner.invoke(app, ["export", "--days", "30"])
    assert as_csv.exit_code == 0 and len(as_csv.output.strip().splitlines()) == 4  # header + 3
    assert runner.invoke(app, ["export", "--format", "xml"]).exit_code == 1

    purged = runner.invoke(app, ["db", "purge"])
    assert purged.exit_code == 0 and "texts_blanked" in purged.output


def test_cli_stats_and_export_of_one_workspace(sqlite_url, book, tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    now = datetime.now(timezone.utc)
    with SqlStore(sqlite_url) as store:
        record(store, book, "1.1", at=now - timedelta(hours=3), workspace="TA")
        record(store, book, "1.2", at=now - timedelta(hours=2), workspace="TA", complaint="billing")
        record(store, book, "1.1", at=now - timedelta(hours=1), workspace="TB")  # same thread ts, other team
        record(store, book, "2.1", at=now - timedelta(hours=1), workspace="TB", complaint="product_quality")
        record(store, book, "3.1", at=now - timedelta(hours=1), workspace="TB")

    both = json.loads(runner.invoke(app, ["stats", "--days", "7", "--json"]).output)
    assert both["total"] == 5
    only_a = runner.invoke(app, ["stats", "--days", "7", "--json", "--workspace", "TA"])
    assert only_a.exit_code == 0, only_a.output
    data = json.loads(only_a.output)
    assert data["total"] == 2 and data["by_complaint"] == {"delivery": 1, "billing": 1}
    tables = runner.invoke(app, ["stats", "--days", "7"])
    assert tables.exit_code == 0 and "all workspaces (2)" in tables.output
    assert "workspace TA" in runner.invoke(app, ["stats", "--workspace", "TA"]).output

    as_csv = runner.invoke(app, ["export", "--days", "7", "--workspace", "TA"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert sorted(r["thread_ts"] for r in rows) == ["1.1", "1.2"] and {r["workspace"] for r in rows} == {"TA"}
    out = tmp_path / "b.jsonl"
    to_file = runner.invoke(app, ["export", "--format", "jsonl", "--out", str(out), "--workspace", "TB"])
    assert to_file.exit_code == 0 and "3 incidents written" in to_file.output and "workspace TB" in to_file.output
    assert {json.loads(line)["workspace"] for line in out.read_text().splitlines()} == {"TB"}
    assert "all workspaces (2)" in runner.invoke(app, ["export", "--out", str(out)]).output

    empty = runner.invoke(app, ["stats", "--json", "--workspace", "TZZZ"])  # valid id, no incidents: empty report
    assert empty.exit_code == 0 and json.loads(empty.output)["total"] == 0
    assert runner.invoke(app, ["export", "--workspace", "TZZZ"]).output.strip() == ",".join(COLUMNS)
    for bad in ("ta", "X123", "T-A", ""):
        refused = runner.invoke(app, ["stats", "--workspace", bad])
        assert refused.exit_code == 2 and "not a Slack team id" in refused.output
        assert runner.invoke(app, ["export", "--workspace", bad]).exit_code == 2
