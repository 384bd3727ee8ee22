"""Issue 13, rows on the server's edges and bad input: readiness, forged requests in the logs, a non-numeric
request timestamp, the Server banner, and `coach classify --jsonl` on hostile batches.

Before: a forged request's body (customer text, e-mail, card number) was logged by Bolt at INFO; a
non-numeric X-Slack-Request-Timestamp got HTTP 500; /healthz said 200 through a database outage; the
stdlib server announced `WSGIServer/0.2 CPython/3.11`; one lone surrogate crashed a whole classify run and
64 lines of 1 MB gave no output in 120 s.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]

# The CLI with a fast stand-in classifier injected (the engine factory is the CLI's seam).
FAKE_CLI = r"""
import atexit, os, sys

def report_peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over fork + exec)
    if os.environ.get("COACH_PEAK_FILE"):
        status = open("/proc/self/status").read()
        kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        open(os.environ["COACH_PEAK_FILE"], "w").write(kb)

atexit.register(report_peak)
import bot.cli.common as common
from bot.coach.models import Classification, Prediction
from bot.engine import RecoveryEngine
from bot.settings import Settings

class Fast:
    def classify(self, text):
        return Classification(language="en", tone=Prediction(label="neutral", confidence=0.9),
                              complaint=Prediction(label="none", confidence=0.9))
    def classify_many(self, texts):
        return [self.classify(t) for t in texts]

engine = RecoveryEngine(Settings(_env_file=None), classifier=Fast())
common.engine = lambda settings=None: engine
from bot.cli import app
app(sys.argv[1:], prog_name="coach")
"""


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", FAKE_CLI, *args], cwd=ROOT, **kwargs)


def test_classify_64_lines_of_1mb_answered_within_400mb(tmp_path):
    text = ("card 4111 1111 1111 1111 charged twice " * 26000)[:999_970]
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(64):
            f.write(json.dumps({"id": i, "text": text}) + "\n")  # valid JSON, 1 MB a line
            if i % 16 == 0:
                f.write(json.dumps({"id": f"ok{i}", "text": "Where is my parcel?"}) + "\n")
    out_path, peak_path = tmp_path / "out.jsonl", tmp_path / "peak_kb"
    started = time.monotonic()
    with out_path.open("wb") as out:
        process = _cli("classify", "--jsonl", str(path), stdout=out, stderr=subprocess.PIPE,
                       env={**os.environ, "COACH_PEAK_FILE": str(peak_path)})
        _, stderr = process.communicate(timeout=300)
    seconds = time.monotonic() - started
    assert process.returncode == 0, stderr.decode()[-2000:]
    peak_mb = int(peak_path.read_text()) / 1024
    print(f"64 x 1 MB: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    rows = [json.loads(line) for line in out_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 68
    assert sum("longer than 100,000 characters" in r.get("error", "") for r in rows) == 64
    assert [r["id"] for r in rows if "error" not in r] == ["ok0", "ok16", "ok32", "ok48"]
    assert peak_mb < 400
    assert seconds < 60


def test_classify_streams_each_chunk_before_input_ends():
    process = _cli("classify", "--jsonl", "-", "--batch-size", "2", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    try:
        process.stdin.write(b'{"id": 1, "text": "hello"}\n{"id": 2, "text": "\\ud800"}\n')
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no answer for the first chunk while stdin is still open"
        first = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert first[0]["id"] == 1 and first[1]["error"]
        process.stdin.write(b'{"id": 3, "text": "again"}\n')
        process.stdin.close()
        rest = [json.loads(line) for line in process.stdout.read().splitlines()]
        assert [r["id"] for r in rest] == [3]
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
