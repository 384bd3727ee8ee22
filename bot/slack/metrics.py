"""Prometheus metrics of the Slack bot, served at GET /metrics; one-line calls from where things happen.

Why functions and not the metric objects at the call sites: under gunicorn every worker writes its own
files in PROMETHEUS_MULTIPROC_DIR and any worker answers a scrape from all of them; that mode has to be
chosen before the first value exists, so `enable_multiprocess` rebuilds the metrics in the master before
the fork, and the call sites, which only call these functions, never hold a stale object. The functions
also keep label values bounded (Slack error codes are cut to a safe shape) and never raise.

Labels never carry customer text: team ids, Slack method names and error codes, reasons we chose.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bot.slack.logging import get_logger

log = get_logger("slack.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LABEL = re.compile(r"[^A-Za-z0-9_.:-]")
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: object, default: str = "unknown", limit: int = 64) -> str:
    text = _LABEL.sub("_", str(value)) if value not in (None, "") else default
    return text[:limit]


@dataclass
class _Metrics:
    registry: CollectorRegistry | None
    events_received: Counter
    events_deduplicated: Counter
    events_dropped: Counter
    cards_sent: Counter
    slack_api_errors: Counter
    inference_seconds: Histogram
    inference_queue_depth: Gauge
    inference_queue_full: Counter
    followups_due: Counter
    followups_sent: Counter
    model_info: Gauge
    playbook_version: Gauge


def _build(multiprocess: bool) -> _Metrics:
    registry = None if multiprocess else CollectorRegistry()
    kw: dict[str, Any] = {"registry": registry}
    return _Metrics(
        registry=registry,
        events_received=Counter("coach_events_received", "Slack requests received (events, commands, "
                                "interactions), by workspace and kind", ["team", "kind"], **kw),
        events_deduplicated=Counter("coach_events_deduplicated", "Slack events seen before (a retry or a "
                                    "re-delivery) and not handled again", ["team"], **kw),
        events_dropped=Counter("coach_events_dropped", "Events not handled: refused with 503 (database and "
                               "spool down) or given up after retries", ["reason"], **kw),
        cards_sent=Counter("coach_cards_sent", "Coaching cards posted to agents", ["team"], **kw),
        slack_api_errors=Counter("coach_slack_api_errors", "Slack Web API calls that failed after the "
                                 "client's retries, by method and error code", ["method", "code"], **kw),
        inference_seconds=Histogram("coach_inference_seconds", "Time to classify one customer message",
                                    buckets=INFERENCE_BUCKETS, **kw),
        inference_queue_depth=Gauge("coach_inference_queue_depth", "Tasks running or waiting in the bounded "
                                    "inference pool (summed over live workers)", multiprocess_mode="livesum",
                                    **kw),
        inference_queue_full=Counter("coach_inference_queue_full", "Work the inference pool refused because "
                                     "it was full (the inbox retries it)", **kw),
        followups_due=Counter("coach_followups_due", "Follow-ups found due and claimed for delivery", **kw),
        followups_sent=Counter("coach_followups_sent", "Follow-up DMs sent", **kw),
        model_info=Gauge("coach_model_info", "1 for the model version and backend a live worker serves",
                         ["version", "backend"], multiprocess_mode="livemax", **kw),
        playbook_version=Gauge("coach_playbook_version", "Live playbook version number, by the workspace whose "
                               "configuration it is: a team id, or an enterprise id for an org-wide install",
                               ["workspace"], multiprocess_mode="livemax", **kw),
    )


_m = _build(multiprocess=bool(os.environ.get(MULTIPROC_ENV)))
_multiproc_dir: Path | None = Path(os.environ[MULTIPROC_ENV]) if os.environ.get(MULTIPROC_ENV) else None
_owned_dir = False


# ---------------------------------------------------------------------------------- call sites
def _safely(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # a metric must never break the work it counts
        log.debug("metric update failed", extra={"error": type(exc).__name__})


def event_received(team: str | None, kind: str | None) -> None:
    _safely(lambda: _m.events_received.labels(_label(team), _label(kind)).inc())


def event_deduplicated(team: str | None) -> None:
    _safely(lambda: _m.events_deduplicated.labels(_label(team)).inc())


def event_dropped(reason: str) -> None:
    _safely(lambda: _m.events_dropped.labels(_label(reason)).inc())


def cards_sent(team: str | None, count: int = 1) -> None:
    if count > 0:
        _safely(lambda: _m.cards_sent.labels(_label(team)).inc(count))


def slack_api_error(method: str | None, code: object) -> None:
    _safely(lambda: _m.slack_api_errors.labels(_label(method, limit=80), _label(code, limit=40)).inc())


def observe_inference(seconds: float) -> None:
    _safely(lambda: _m.inference_seconds.observe(seconds))


def timed_classify(engine: Any, text: str) -> Any:
    """engine.classify(text), its duration observed in coach_inference_seconds (also when it raises)."""
    started = time.perf_counter()
    try:
        return engine.classify(text)
    finally:
        observe_inference(time.perf_counter() - started)


def inference_queue_full() -> None:
    _safely(lambda: _m.inference_queue_full.inc())


def followup_due() -> None:
    _safely(lambda: _m.followups_due.inc())


def followup_sent() -> None:
    _safely(lambda: _m.followups_sent.inc())


def set_queue_depth(depth: int) -> None:
    _safely(lambda: _m.inference_queue_depth.set(depth))


def set_model(version: str | None, backend: str | None) -> None:
    if version:
        _safely(lambda: _m.model_info.labels(_label(version), _label(backend)).set(1))


def set_playbook_version(workspace: str | None, version: int | None) -> None:
    """`workspace`: the configuration's owner (team or enterprise id; None: the default playbook, "all")."""
    if version is not None:
        _safely(lambda: _m.playbook_version.labels(_label(workspace, default="all")).set(version))


def instrument_client(client: Any) -> Any:
    """Count every failed Web API call of `client` (Bolt's and ours: they share it) by method and code.

    Wraps the instance's `api_call`, through which every slack_sdk method goes, so no call site is
    missed; SlackApiError counts Slack's `error` (or the HTTP status), a transport error its type.
    """
    from slack_sdk.errors import SlackApiError, SlackClientError

    if getattr(client, "_coach_metrics", False) or not hasattr(client, "api_call"):
        return client
    original = client.api_call

    def api_call(api_method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(api_method, *args, **kwargs)
        except SlackApiError as exc:
            response = exc.response
            slack_api_error(api_method, (response.get("error") if hasattr(response, "get") else None)
                            or getattr(response, "status_code", "error"))
            raise
        except (SlackClientError, OSError) as exc:
            slack_api_error(api_method, type(exc).__name__)
            raise

    client.api_call = api_call
    client._coach_metrics = True
    return client


# ---------------------------------------------------------------------------------- sampling
class GaugeSampler:
    """Refreshes the gauges of one app (queue depth, model, playbook) every `interval` seconds.

    A thread, not the request path: after a burst the queue drains with no request coming in, and a
    scrape can reach any worker, so each worker keeps its own share of the gauges current.
    """

    def __init__(self, sample: Callable[[], None], interval: float = 1.0):
        self.sample, self.interval = sample, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="coach-metrics", daemon=True)

    def start(self) -> "GaugeSampler":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            _safely(self.sample)
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()


# ---------------------------------------------------------------------------------- exposition
def exposition() -> tuple[bytes, str]:
    """The text format of every metric: this process's, or all live and dead workers' in multiprocess mode."""
    if _m.registry is not None:
        return generate_latest(_m.registry), CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def enable_multiprocess(path: str | os.PathLike[str] | None = None) -> Path:
    """Switch to multiprocess mode (gunicorn master, before the fork): PROMETHEUS_MULTIPROC_DIR or `path`
    or a new temporary folder, emptied of an earlier run's files; the metrics are rebuilt in that mode."""
    global _m, _multiproc_dir, _owned_dir
    given = path or os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # counters of a previous run would be added to ours
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="coach-metrics-"))
        _owned_dir = True
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()
    _m = _build(multiprocess=True)
    _multiproc_dir = directory
    return directory


def mark_process_dead(pid: int) -> None:
    """gunicorn child_exit: drop a dead worker's live gauges (its counters stay in the totals)."""
    if _multiproc_dir is not None:
        from prometheus_client import multiprocess

        _safely(lambda: multiprocess.mark_process_dead(pid, str(_multiproc_dir)))


def cleanup_multiprocess() -> None:
    """At the master's exit: remove the folder if we created it."""
    if _owned_dir and _multiproc_dir is not None:
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
