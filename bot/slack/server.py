"""HTTP mode: Bolt's WSGI adapter behind a small router, served by a threaded stdlib WSGI server.

Why this: slack_bolt.adapter.wsgi turns a WSGI request into Bolt's own BoltRequest/dispatch, so we
reuse Bolt's signature check, retries headers, ack and interactivity handling unchanged; the WSGI
callable (`wsgi_app`) also runs under any production WSGI server (e.g. gunicorn) if wanted. For
`coach serve` a ThreadingMixIn + wsgiref server handles each request on its own thread with no extra
dependency; the heavy work is never on these threads anyway (acks are immediate).
"""
from __future__ import annotations

import json
import threading
from socketserver import ThreadingMixIn
from typing import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.slack.logging import get_logger

log = get_logger("slack.http")
EVENTS_PATH = "/slack/events"


def wsgi_app(bolt: App, ready: Callable[[], bool]) -> Callable:
    """POST /slack/events -> Bolt (events, commands, interactivity); GET /healthz -> 200 when ready."""
    slack = SlackRequestHandler(bolt, path=EVENTS_PATH)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            ok = ready()
            body = json.dumps({"ok": ok, "status": "ready" if ok else "loading"}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return slack(environ, start_response)

    return application


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("http", extra={"request": self.requestline.split(" ?")[0][:80], "status": args[1] if len(args) > 1 else None})


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
