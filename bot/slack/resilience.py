"""A Web API client that survives Slack's bad moments, and two ways to call it.

Retries are slack_sdk's RetryHandlers, bounded: 429 honours Retry-After only up to `MAX_RETRY_AFTER_S`
(a longer wait would hold a worker thread; the inbox schedules that retry instead), 5xx and connection
errors back off exponentially, and read timeouts are retried too (slack_sdk's handler only knows
URLError, so a socket timeout was given up at once).

`safe_call` logs what is left after retries and returns None: for best-effort calls (alerts, feedback).
`must_call` raises `SlackUnavailable` for what may pass (429, 5xx, timeouts, connection errors) so the
inbox retries the whole step later, and returns None for a permanent refusal (channel not found).
"""
from __future__ import annotations

import http.client
from typing import Any, Callable
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import RandomJitter
from slack_sdk.web import SlackResponse

from bot.slack.logging import get_logger

log = get_logger("slack.api")
MAX_RETRY_AFTER_S = 5.0
# transport errors worth another try: resets, refusals, a server that hung up, and timeouts while reading
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (URLError, ConnectionError, http.client.RemoteDisconnected,
                                                      http.client.IncompleteRead, TimeoutError)
# Slack error codes that can clear up by themselves (or by an admin fixing the token) within the give-up time
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "invalid_auth", "not_authed", "account_inactive", "token_revoked"})


class ServerOrGatewayErrorRetryHandler(ServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a load balancer in between also answers 502 and 504."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        return response is not None and response.status_code in (500, 502, 503, 504)


def _retry_after(response: Any) -> float | None:
    for key, values in (getattr(response, "headers", None) or {}).items():
        if key.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Waits out a 429 only when Retry-After is short; a long one goes back to the caller (the inbox)."""

    def __init__(self, max_retry_count: int = 3, max_wait_s: float = MAX_RETRY_AFTER_S):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return wait is None or wait <= self.max_wait_s


def retry_handlers(max_rate_limit_retries: int = 3, max_server_retries: int = 2,
                   backoff_factor: float = 0.5) -> list:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor, jitter=RandomJitter())
    return [
        BoundedRateLimitRetryHandler(max_retry_count=max_rate_limit_retries),
        ServerOrGatewayErrorRetryHandler(max_retry_count=max_server_retries, interval_calculator=backoff),
        ConnectionErrorRetryHandler(max_retry_count=max_server_retries, interval_calculator=backoff,
                                    error_types=list(CONNECTION_ERRORS)),
    ]


def build_web_client(token: str | None, base_url: str, timeout: int = 10, backoff_factor: float = 0.5) -> WebClient:
    """The one WebClient of the app (Bolt uses it too), pointed at Slack or at the local fake."""
    if not base_url.endswith("/"):
        base_url += "/"
    client = WebClient(token=token, base_url=base_url, timeout=timeout,
                       retry_handlers=retry_handlers(backoff_factor=backoff_factor))
    return client


class SlackUnavailable(RuntimeError):
    """A Web API call failed in a way that may pass (after the client's own retries): try the step later."""

    def __init__(self, method: str, reason: str, retry_after: float | None = None):
        super().__init__(f"{method}: {reason}")
        self.method, self.reason, self.retry_after = method, reason, retry_after


def safe_call(method: str, call: Callable[..., SlackResponse], /, **kwargs: Any) -> SlackResponse | None:
    """Run one Web API call; on a Slack or transport error (after retries) log it and return None."""
    try:
        return call(**kwargs)
    except SlackApiError as exc:
        log.warning("slack call failed", extra={"method": method, "error": exc.response.get("error"),
                                                "status": exc.response.status_code})
    except (SlackClientError, OSError) as exc:
        log.warning("slack call failed", extra={"method": method, "error": type(exc).__name__})
    return None


def must_call(method: str, call: Callable[..., SlackResponse], /, **kwargs: Any) -> SlackResponse | None:
    """Run one Web API call that the step cannot do without.

    Raises SlackUnavailable when the failure may pass (429, 5xx, timeouts, connection errors, a bad token);
    returns None, logged, when Slack refused for good (channel_not_found, user_not_in_channel, ...).
    """
    try:
        return call(**kwargs)
    except SlackApiError as exc:
        status, error = exc.response.status_code, exc.response.get("error")
        if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
            raise SlackUnavailable(method, str(error or status), _retry_after(exc.response)) from None
        log.warning("slack call refused", extra={"method": method, "error": error, "status": status})
        return None
    except (SlackClientError, OSError, http.client.HTTPException) as exc:
        raise SlackUnavailable(method, type(exc).__name__) from None
