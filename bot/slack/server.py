"""HTTP mode: Bolt's WSGI adapter behind a small router, served by a threaded stdlib WSGI server.

Why this: slack_bolt.adapter.wsgi turns a WSGI request into Bolt's own BoltRequest/dispatch, so we
reuse Bolt's signature check, retries headers, ack and interactivity handling unchanged; the WSGI
callable (`wsgi_app`) also runs under any production WSGI server (e.g. gunicorn) if wanted. For
`coach serve` a ThreadingMixIn + wsgiref server handles each request on its own thread with no extra
dependency; the heavy work is never on these threads anyway (acks are immediate).
"""
from __future__ import annotations

import hmac
import io
import json
import re
import threading
from socketserver import ThreadingMixIn
from typing import Callable, Iterable
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.slack.logging import get_logger

log = get_logger("slack.http")
EVENTS_PATH = "/slack/events"
SERVER_NAME = "coach"  # the Server header: no product version, no Python version
# Slack's payloads are small: a 40,000-character message, URL-encoded and repeated in its blocks, stays
# under 1 MB; 4 MB leaves room and still keeps one request from filling memory.
MAX_BODY_BYTES = 4_000_000
# What Slack sends: a Unix time in seconds, and "v0=" + 64 hex digits. Anything else is refused
# before Bolt, whose verifier raises on int("abc") (HTTP 500) and on non-ASCII signatures.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"[\x21-\x7e]{1,200}")
INVALID = {"error": "invalid request"}  # Bolt's own 401 body


def _json(start_response: Callable, status: str, payload: dict, head: bool = False) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [] if head else [body]


def _refusal(environ: dict) -> tuple[str, dict, str] | None:
    """(status, body, reason) when a POST cannot be a Slack request; None to hand it to Bolt."""
    length = environ.get("CONTENT_LENGTH") or "0"
    if not length.isascii() or not length.isdigit():
        return "400 Bad Request", {"error": "bad Content-Length"}, "bad content length"
    if int(length) > MAX_BODY_BYTES:
        return "413 Payload Too Large", {"error": "body too large"}, "body too large"
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE")
    if timestamp is None or not TIMESTAMP.fullmatch(timestamp):
        return "401 Unauthorized", INVALID, "bad or missing timestamp"
    if signature is None or not SIGNATURE.fullmatch(signature):
        return "401 Unauthorized", INVALID, "bad or missing signature"
    return None


def _metrics(environ: dict, start_response: Callable, token: str | None, head: bool) -> list[bytes]:
    """GET /metrics: Prometheus text format (every worker's under gunicorn); a bearer token when one is set."""
    if token is not None:
        given = environ.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode()):
            start_response("401 Unauthorized", [("Content-Type", "application/json"), ("Content-Length", "2"),
                                                ("WWW-Authenticate", "Bearer")])
            return [] if head else [b"{}"]
    from bot.slack import metrics

    body, content_type = metrics.exposition()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [] if head else [body]


def wsgi_app(bolt: App, ready: Callable[[], object], metrics_token: str | None = None) -> Callable:
    """POST /slack/events -> Bolt (events, commands, interactivity); GET /healthz: alive; GET /readyz: ready;
    GET /metrics: Prometheus (with `metrics_token`, only for `Authorization: Bearer <token>`).

    `ready` returns a bool or a CoachApp.Readiness (truthy when ready, `as_json()` naming what is not).
    """
    slack = SlackRequestHandler(bolt, path=EVENTS_PATH)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        head = method == "HEAD"
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"ok": True, "status": "alive"}, head)
        if path == "/metrics" and method in ("GET", "HEAD"):
            return _metrics(environ, start_response, metrics_token, head)
        if path == "/readyz" and method in ("GET", "HEAD"):
            try:
                result = ready()
                payload = result.as_json() if hasattr(result, "as_json") else {
                    "ok": bool(result), "status": "ready" if result else "not ready"}
            except Exception as exc:
                log.error("readiness check failed", extra={"error": type(exc).__name__})
                payload = {"ok": False, "status": "not ready", "not_ready": {"readiness": type(exc).__name__}}
            return _json(start_response, "200 OK" if payload["ok"] else "503 Service Unavailable", payload, head)
        if path == EVENTS_PATH and method == "POST":
            refusal = _refusal(environ)
            if refusal is not None:
                status, payload, reason = refusal
                log.info("request refused", extra={"status": int(status[:3]), "reason": reason})
                return _json(start_response, status, payload)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                log.info("request refused", extra={"status": 400, "reason": "body is not UTF-8"})
                return _json(start_response, "400 Bad Request", {"error": "body is not UTF-8"})
            environ = {**environ, "wsgi.input": io.BytesIO(raw)}
        try:
            return slack(environ, start_response)
        except Exception as exc:  # the type only: an exception message may quote the body
            log.error("request failed", extra={"path": path[:80], "error": type(exc).__name__})
            return _json(start_response, "500 Internal Server Error", {"error": "internal error"})

    return application


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietServerHandler(ServerHandler):
    """wsgiref's handler without the version banner, and without tracebacks on stderr."""

    server_software = SERVER_NAME

    def log_exception(self, exc_info) -> None:  # type: ignore[override]
        log.error("wsgi error", extra={"error": exc_info[0].__name__ if exc_info and exc_info[0] else "?"})


class QuietHandler(WSGIRequestHandler):
    server_version = SERVER_NAME  # also what error pages (400, 414) of http.server announce
    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Method and path only: a query string is never logged."""
        request = f"{getattr(self, 'command', '') or ''} {(getattr(self, 'path', '') or '').split('?')[0][:80]}"
        log.debug("http", extra={"request": request, "status": args[1] if len(args) > 1 else None})

    def handle(self) -> None:
        """wsgiref's handle(), with QuietServerHandler instead of its banner-sending ServerHandler."""
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = QuietServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())


def make_http_server(application: Callable, host: str = "127.0.0.1", port: int = 3000) -> ThreadingWSGIServer:
    return make_server(host, port, application, server_class=ThreadingWSGIServer, handler_class=QuietHandler)


class BackgroundServer:
    """The HTTP server on a thread (tests and the sandbox); `url` knows the ephemeral port."""

    def __init__(self, application: Callable, host: str = "127.0.0.1", port: int = 0):
        self.server = make_http_server(application, host, port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="coach-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "BackgroundServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
