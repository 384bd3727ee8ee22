"""`coach export`: incidents as CSV or JSONL for a spreadsheet or a BI tool.

One row per incident, no customer text and no Slack user id of the customer: the customer column is
the keyed pseudonym, which still lets an analyst count repeat customers.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Literal, TextIO

from bot.storage.records import IncidentRecord

ExportFormat = Literal["csv", "jsonl"]

COLUMNS: tuple[str, ...] = (
    "id", "workspace", "channel", "thread_ts", "customer", "opened_at", "last_message_at", "status",
    "resolved_at", "language", "complaint", "complaint_last", "tone_first", "tone_last", "tone_shift",
    "recovered", "severity", "product", "order_ref", "timezone", "local_hour_of_week", "load", "load_band",
    "messages", "lifetime_value", "currency", "suggestions_used", "compensation", "compensation_state",
    "compensation_cost", "corrections", "follow_ups", "follow_ups_sent", "steps",
)


def export_row(r: IncidentRecord) -> dict:
    return {
        "id": r.id, "workspace": r.workspace, "channel": r.channel, "thread_ts": r.thread_ts,
        "customer": r.customer, "opened_at": r.opened_at.isoformat(), "last_message_at": r.last_message_at.isoformat(),
        "status": r.status, "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
        "language": r.language, "complaint": r.complaint, "complaint_last": r.complaint_last,
        "tone_first": r.tone_first, "tone_last": r.tone_last, "tone_shift": r.tone_shift, "recovered": r.recovered,
        "severity": r.severity, "product": r.product, "order_ref": r.order_ref, "timezone": r.timezone,
        "local_hour_of_week": r.hour_of_week_label, "load": r.load, "load_band": r.load_band,
        "messages": r.messages, "lifetime_value": r.lifetime_value, "currency": r.currency,
        "suggestions_used": list(r.suggestions_used), "compensation": r.compensation,
        "compensation_state": r.compensation_state, "compensation_cost": r.compensation_cost,
        "corrections": r.corrections, "follow_ups": r.follow_ups, "follow_ups_sent": r.follow_ups_sent,
        "steps": list(r.steps),  # "a complaint is a gift" steps done (bot/coach/checklist.py)
    }


def write_export(records: Sequence[IncidentRecord], out: TextIO, fmt: ExportFormat = "csv") -> int:
    """Write the records; returns the number of incidents written."""
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(export_row(record), ensure_ascii=False) + "\n")
        return len(records)
    if fmt != "csv":
        raise ValueError("format must be csv or jsonl")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = export_row(record)
        row["suggestions_used"] = ";".join(row["suggestions_used"])
        row["steps"] = ";".join(row["steps"])
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return len(records)
