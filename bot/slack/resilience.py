"""A Web API client that survives Slack's bad moments, and a wrapper so one failing call never kills the app.

Retries are slack_sdk's own RetryHandlers (429 honours Retry-After; 5xx and connection errors back
off exponentially); `safe_call` logs what is left after retries and returns None instead of raising.
"""
from __future__ import annotations

from typing import Any, Callable

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


class ServerOrGatewayErrorRetryHandler(ServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a load balancer in between also answers 502 and 504."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        return response is not None and response.status_code in (500, 502, 503, 504)


def retry_handlers(max_rate_limit_retries: int = 3, max_server_retries: int = 2,
                   backoff_factor: float = 0.5) -> list:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor, jitter=RandomJitter())
    return [
        RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries),
        ServerOrGatewayErrorRetryHandler(max_retry_count=max_server_retries, interval_calculator=backoff),
        ConnectionErrorRetryHandler(max_retry_count=max_server_retries, interval_calculator=backoff),
    ]


def build_web_client(token: str | None, base_url: str, timeout: int = 10, backoff_factor: float = 0.5) -> WebClient:
    """The one WebClient of the app (Bolt uses it too), pointed at Slack or at the local fake."""
    if not base_url.endswith("/"):
        base_url += "/"
    client = WebClient(token=token, base_url=base_url, timeout=timeout,
                       retry_handlers=retry_handlers(backoff_factor=backoff_factor))
    return client


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
