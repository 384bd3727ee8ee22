"""What every listener needs, built once per app and passed explicitly (no module globals)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from slack_sdk import WebClient

from bot.engine import RecoveryEngine
from bot.playbook import parse_playbook
from bot.settings import Settings
from bot.slack.logging import get_logger
from bot.slack.resilience import safe_call
from bot.slack.roles import RoleResolver
from bot.storage.api import PlaybookVersion, Store

log = get_logger("slack.services")


class BoundedExecutor:
    """A thread pool with a bounded queue, separate from Bolt's listener pool.

    Inference is CPU-bound and slow next to Slack's 3-second ack budget: listeners ack first and hand
    the work here. When the queue is full, `submit` refuses (returns None) instead of growing memory
    without bound; the caller logs the drop.
    """

    def __init__(self, workers: int, queue: int, name: str = "coach-inference"):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(workers + queue)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future | None:
        if not self._slots.acquire(blocking=False):
            log.warning("inference queue full: work dropped", extra={"task": getattr(fn, "__name__", "?")})
            return None

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:  # a failed task must never take the worker down
                log.exception("background task failed", extra={"task": getattr(fn, "__name__", "?")})
                return None
            finally:
                self._slots.release()

        return self._pool.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class PlaybookSync:
    """Keeps this worker's engine on the database's current playbook version (hot reload).

    Every worker calls `maybe_reload` on each incoming request; it reads the current version number
    at most once per `interval` seconds, and parses and swaps only when the number changed.
    """

    def __init__(self, store: Store, engine: RecoveryEngine, interval: float, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.engine = engine
        self.interval = interval
        self.clock = clock
        self.version: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def bootstrap(self, source_text: str) -> None:
        """First worker saves the shipped playbook as version 1; every worker then loads the current one."""
        if self.store.current_playbook() is None:
            self.store.save_playbook_version(source_text, author="system", note="initial playbook from file")
        self.maybe_reload(force=True)

    def maybe_reload(self, force: bool = False) -> bool:
        now = self.clock()
        with self._lock:
            if not force and now - self._checked_at < self.interval:
                return False
            self._checked_at = now
        try:
            current = self.store.current_playbook()
        except Exception:
            log.exception("playbook check failed")
            return False
        if current is None or current.version == self.version:
            return False
        return self._load(current)

    def _load(self, version: PlaybookVersion) -> bool:
        try:
            playbook = parse_playbook(version.yaml_text, f"playbook v{version.version}")
        except Exception:
            log.exception("stored playbook does not parse; keeping the live one", extra={"version": version.version})
            self.version = version.version  # do not retry the same broken version on every request
            return False
        self.engine.replace_playbook(playbook)
        self.version = version.version
        log.info("playbook loaded", extra={"version": version.version, "author": version.author})
        return True

    def apply(self, yaml_text: str, author: str, note: str = "") -> PlaybookVersion:
        """Validate, version and make live; raises PlaybookError (and changes nothing) when invalid."""
        playbook = parse_playbook(yaml_text, "uploaded playbook")
        saved = self.store.save_playbook_version(yaml_text, author=author, note=note)
        self.engine.replace_playbook(playbook)
        self.version = saved.version
        log.info("playbook replaced", extra={"version": saved.version, "author": author})
        return saved


@dataclass
class Services:
    settings: Settings
    engine: RecoveryEngine
    store: Store
    client: WebClient
    roles: RoleResolver
    inference: BoundedExecutor
    playbooks: PlaybookSync
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    coach_threads: dict[int, str] = field(default_factory=dict)   # incident id -> parent ts in the coach channel
    alerted: set[tuple[int, str]] = field(default_factory=set)    # (incident id, kind) already alerted here

    def dm_channel(self, user_id: str) -> str | None:
        response = safe_call("conversations.open", self.client.conversations_open, users=user_id)
        return (response.get("channel") or {}).get("id") if response else None
