"""Structured JSON logs that never carry customer text, tokens or secrets in clear.

Listeners log ids, lengths and short hashes (see `fingerprint`); as a second line of defence the
formatter masks anything that looks like a Slack token or a signing secret before writing.

Libraries log bodies too: Bolt's RequestVerification writes the whole body of every request whose
signature fails at INFO (anyone who reaches the port could fill our logs with customer text), and
slack_sdk writes request parameters at DEBUG. `RedactBodies` sits on those loggers themselves, so the
record is cut before any handler sees it (ours, pytest's caplog, a host's log shipper).
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
BODY_KEYS = {"body", "raw_body", "text", "payload", "blocks", "attachments"}
# "body: ...", "request body: ...", "json_body=..." : everything after the marker goes
BODY_MARKER = re.compile(r"(?i)(body|payload|params)(\s*[:=]\s*|\s*\(\s*)[\s\S]*")
# a dict/JSON repr anywhere in a library message ("Unhandled request ({'type': ...})")
STRUCTURE = re.compile(r"[{\[][\s\S]*[}\]]")
# loggers whose records can hold request or response bodies; Bolt copies the filters of its base logger
# (coach.bolt) onto every logger it creates, the rest get it from install_redaction()
LIBRARY_PREFIXES = ("slack_bolt", "slack_sdk", "coach.bolt", "urllib3", "wsgiref")


def fingerprint(text: str | None) -> dict[str, object]:
    """Length and a short hash: enough to correlate log lines, useless to read a customer's words."""
    data = (text or "").encode("utf-8")
    return {"len": len(text or ""), "sha": hashlib.sha256(data).hexdigest()[:12]}


def redact_message(message: str) -> str:
    """A library's log line without the body it quotes: the text after 'body:' and any dict/list repr."""
    message = STRUCTURE.sub("{redacted}", message)
    return BODY_MARKER.sub(lambda m: m.group(1) + m.group(2) + "[redacted]", message)


def _scrub_key(key: object, value: Any) -> Any:
    if SECRET_KEYS.search(str(key)):
        return "***"
    if str(key) in BODY_KEYS:
        if isinstance(value, str):
            return fingerprint(value)
        return value if isinstance(value, dict) and set(value) == {"len", "sha"} else "[redacted]"
    return scrub(value)


def scrub(value: Any) -> Any:
    """Mask Slack tokens anywhere in a value, whole values under secret-looking keys, bodies under body keys."""
    if isinstance(value, str):
        return TOKEN_PATTERN.sub(lambda m: m.group(1) + "-***", value)
    if isinstance(value, dict):
        return {k: _scrub_key(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


class RedactBodies(logging.Filter):
    """On library loggers: rewrites a record that quotes a body before any handler formats it.

    A logger's own filters do not run for records propagated from its children, so this is installed
    on each library logger (see install_redaction), never only on a parent.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: keep nothing of it
            message = str(record.msg)
        redacted = redact_message(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for key in BODY_KEYS & set(vars(record)):
            setattr(record, key, "[redacted]")
        return True


REDACT_BODIES = RedactBodies()


def install_redaction() -> None:
    """Put REDACT_BODIES on every library logger that exists now (idempotent; cheap to call again)."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith(LIBRARY_PREFIXES)]
    for name in {*names, *LIBRARY_PREFIXES}:
        logger = logging.getLogger(name)
        if REDACT_BODIES not in logger.filters:
            logger.addFilter(REDACT_BODIES)


def _exception_summary(exc_info: Any) -> str:
    """'KeyError at bot/slack/messages.py:120 in on_message': enough to find the bug, no text of a message."""
    exc_type, _, tb = exc_info if isinstance(exc_info, tuple) else (type(exc_info), None, exc_info.__traceback__)
    name = getattr(exc_type, "__name__", "Exception")
    frame = None
    while tb is not None:
        frame, tb = tb, tb.tb_next
    if frame is None:
        return name
    code = frame.tb_frame.f_code
    path = code.co_filename.replace("\\", "/")
    short = path[path.rfind("/bot/") + 1:] if "/bot/" in path else path.rsplit("/", 1)[-1]
    return f"{name} at {short}:{frame.tb_lineno} in {code.co_name}"


def _ours(logger_name: str) -> bool:
    """Our own loggers log constant messages plus ids; everything else (Bolt included) is redacted."""
    return logger_name.startswith("coach.") and not logger_name.startswith("coach.bolt")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields become keys (scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage() if _ours(record.name) else redact_message(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            # type and where, never the message: KeyError('a customer's e-mail') is customer text too
            entry["error"] = _exception_summary(record.exc_info)
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
    install_redaction()


def get_logger(name: str) -> logging.Logger:
    """Our logger `coach.<name>`; also (re)installs body redaction on the library loggers that exist now,
    so Bolt's loggers, created after `get_logger("bolt")` from it as their base, inherit the filter."""
    install_redaction()
    return logging.getLogger(f"coach.{name}")
