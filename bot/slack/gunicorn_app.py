"""`coach serve`: HTTP mode under gunicorn, N worker processes, each building its own Bolt app after the fork.

Why gunicorn: the stdlib server (`server.BackgroundServer`, kept for tests and the sandbox) is one process
with a thread per connection and no supervision; gunicorn restarts a dead worker, drains on SIGTERM and
spreads requests over processes, which is what a load balancer expects behind it.
Why post-fork: a Bolt app owns threads (listener pool, inference pool, follow-up scheduler, model loader),
a database pool and onnxruntime sessions, none of which survive a fork; so the master only migrates the
database and binds the port, and every worker builds its runtime in `load()` (gunicorn calls it in the
worker when `preload_app` is off).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable

import gunicorn.http.wsgi
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.errors import HaltServer

from bot.settings import Settings
from bot.slack.logging import get_logger

log = get_logger("slack.gunicorn")
SERVER_NAME = "coach"  # gunicorn sends "Server: gunicorn"; the stdlib server sends "coach", so do we
gunicorn.http.wsgi.SERVER = SERVER_NAME  # read by gunicorn.http.wsgi.Response.__init__ for every response


@dataclass(frozen=True)
class ServeOptions:
    """How `coach serve` listens: interface, port (0: any free one), processes and threads per process."""

    host: str = "127.0.0.1"
    port: int = 3000
    workers: int = 2
    threads: int = 8
    timeout: int = 30           # a worker silent this long is killed and replaced (gunicorn's heartbeat)
    graceful_timeout: int = 20  # on SIGTERM, requests in flight get this long

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class JsonGunicornLogger(glogging.Logger):
    """gunicorn's own lines through our JSON handler on the root logger; no access log.

    No access log because a request line carries its query string, and /slack/oauth_redirect's holds
    the OAuth code and state; requests are logged by the app (method and path) where that is wanted.
    """

    def setup(self, cfg: Any) -> None:  # noqa: D401 (gunicorn's hook)
        self.cfg = cfg
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self.error_log.handlers[:] = []
        self.error_log.propagate = True
        self.access_log.handlers[:] = []
        self.access_log.propagate = False

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        return None


def check_bind(host: str, port: int) -> None:
    """Raise OSError now when the address cannot be bound (gunicorn would retry 5 s, then exit 1)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


def _listening(server: Any) -> None:
    """when_ready (master): the line operators and tests look for, with the port actually bound."""
    for listener in server.LISTENERS:
        host, port = listener.sock.getsockname()[:2]
        log.info("listening", extra={"host": host, "port": port, "path": "/slack/events",
                                     "workers": server.num_workers, "server": "gunicorn"})


def _child_exit(server: Any, worker: Any) -> None:
    """child_exit (master): a worker's live gauges leave /metrics with it; its counters stay in the totals."""
    from bot.slack import metrics

    metrics.mark_process_dead(worker.pid)


def _worker_exit(server: Any, worker: Any) -> None:
    """worker_exit (in the worker): stop its scheduler and pools, close its database pool."""
    runtime = getattr(worker.app, "runtime", None)
    if runtime is not None:
        try:
            runtime.close()
        except Exception as exc:  # noqa: BLE001 (exiting anyway: say what, not the message)
            log.warning("worker shutdown incomplete", extra={"error": type(exc).__name__})


class CoachApplication(BaseApplication):
    """gunicorn configured in code (no gunicorn.conf.py, no argv): `coach serve`'s options and hooks."""

    def __init__(self, settings: Settings, options: ServeOptions,
                 build: Callable[[Settings], tuple[Callable, Any]] | None = None):
        self.settings, self.options = settings, options
        self.build = build or build_worker_app
        self.runtime: Any = None
        super().__init__()

    def init(self, parser: Any, opts: Any, args: Any) -> None:  # BaseApplication's abstract hook
        return None

    def load_config(self) -> None:
        config: dict[str, object] = {
            "bind": [self.options.bind],
            "workers": self.options.workers,
            "worker_class": "gthread",
            "threads": self.options.threads,
            "timeout": self.options.timeout,
            "graceful_timeout": self.options.graceful_timeout,
            "keepalive": 5,
            "preload_app": False,          # load() in each worker, after the fork
            "proc_name": "coach",
            "logger_class": JsonGunicornLogger,
            "loglevel": self.settings.coach_log_level.lower(),
            "accesslog": None,
            "errorlog": "-",
            "capture_output": False,
            "forwarded_allow_ips": "127.0.0.1",
            "when_ready": _listening,
            "worker_exit": _worker_exit,
            "child_exit": _child_exit,
            # gunicorn >= 24 opens a control socket under ~/.gunicorn by default: one more thing to secure,
            # and two instances on one host would fight over it
            "control_socket_disable": True,
        }
        for key, value in config.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Callable:
        """In the worker: its own store, engine, Bolt app, pools and scheduler; the WSGI callable."""
        application, self.runtime = self.build(self.settings)
        log.info("worker ready", extra={"pid": os.getpid()})
        return application


def build_worker_app(settings: Settings) -> tuple[Callable, Any]:
    """The WSGI app of one worker and the runtime to close when it exits."""
    from bot.slack.runner import create_runtime
    from bot.slack.server import wsgi_app

    runtime = create_runtime(settings)
    token = settings.coach_metrics_token.get_secret_value() if settings.coach_metrics_token else None
    return wsgi_app(runtime.app.bolt, runtime.app.ready, metrics_token=token), runtime


def serve(settings: Settings, options: ServeOptions) -> None:
    """Migrate once in the master, check the address, switch metrics to multiprocess mode (before the
    fork), then run gunicorn until SIGTERM/SIGINT."""
    from bot.slack import metrics
    from bot.slack.logging import configure_logging
    from bot.slack.runner import open_store

    configure_logging(settings.coach_log_level)
    check_bind(options.host, options.port)
    open_store(settings).close()  # workers find the schema at head and do not race to create it
    directory = metrics.enable_multiprocess()
    log.info("metrics in multiprocess mode", extra={"dir": str(directory)})
    try:
        CoachApplication(settings, options).run()
    except HaltServer as exc:  # a worker could not boot (its error is logged above): exit, no traceback
        log.error("server stopped", extra={"reason": exc.reason, "exit_status": exc.exit_status})
        raise SystemExit(exc.exit_status or 1) from None
    finally:
        metrics.cleanup_multiprocess()


def bind_error(exc: OSError) -> bool:
    """True when `exc` means 'cannot listen there' (an operator's mistake, not a bug)."""
    return isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)
