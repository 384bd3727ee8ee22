"""Structured JSON logs that never carry customer text, tokens or secrets in clear.

Listeners log ids, lengths and short hashes (see `fingerprint`); as a second line of defence the
formatter masks anything that looks like a Slack token or a signing secret before writing.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

TOKEN_PATTERN = re.compile(r"\b(xox[abposr]|xapp|xoxe(?:\.xox[bp])?)-[A-Za-z0-9-]+")
SECRET_KEYS = re.compile(r"(token|secret|signature|authorization|password)", re.IGNORECASE)
STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def fingerprint(text: str | None) -> dict[str, object]:
    """Length and a short hash: enough to correlate log lines, useless to read a customer's words."""
    data = (text or "").encode("utf-8")
    return {"len": len(text or ""), "sha": hashlib.sha256(data).hexdigest()[:12]}


def scrub(value: Any) -> Any:
    """Mask Slack tokens anywhere in a value, and whole values under secret-looking keys."""
    if isinstance(value, str):
        return TOKEN_PATTERN.sub(lambda m: m.group(1) + "-***", value)
    if isinstance(value, dict):
        return {k: ("***" if SECRET_KEYS.search(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields become keys (scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(scrub(entry), ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route the root logger (ours, Bolt's and slack_sdk's) through the JSON formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slack_sdk at DEBUG prints request bodies (customer text): keep it at INFO or above.
    for noisy in ("slack_sdk", "slack_bolt", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"coach.{name}")
