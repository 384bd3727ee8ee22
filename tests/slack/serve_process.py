"""`coach serve` as a child process (gunicorn and its workers) for the deploy tests: start, wait, read logs, stop."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """GET `url`: (status, headers, body), also for 4xx/5xx."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class ServeProcess:
    """`coach serve --port P --workers N` in `cwd` with `env`; its output collected line by line."""

    def __init__(self, env: dict[str, str], cwd: Path, workers: int = 2, extra: list[str] | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-c", "from bot.cli import app; app()", "serve", "--port", str(self.port),
                "--workers", str(workers), *(extra or [])]
        self.process = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict]:
        out = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def worker_pids(self) -> set[int]:
        return {r["pid"] for r in self.records() if r.get("msg") == "worker ready"}

    def wait_workers(self, count: int, timeout: float = 90, exclude: set[int] = frozenset()) -> set[int]:
        """Wait until `count` workers (not in `exclude`) said 'worker ready' and the port answers."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids() - set(exclude)
            if len(pids) >= count:
                try:
                    if http(self.base + "/healthz", timeout=2)[0] == 200:
                        return pids
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
            assert self.process.poll() is None, "coach serve exited:\n" + self.output[-4000:]
            assert time.monotonic() < deadline, "workers did not start:\n" + self.output[-4000:]
            time.sleep(0.2)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process supervisor does; the exit code (killed after `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._reader.join(timeout=5)
        return code

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.stop()
