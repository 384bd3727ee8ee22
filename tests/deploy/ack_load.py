"""Ack latency of `coach serve` (gunicorn) under a steady rate of signed customer messages.

    python -m tests.deploy.ack_load --workers 4 --rate 100 --seconds 30

Starts the recording fake Slack (in this process), a fresh SQLite database and `coach serve --workers N`
with the served model, waits until every worker has loaded it, then sends Slack-signed `message` events
open-loop at `--rate` per second (each send is scheduled on the clock, so a slow answer does not slow the
sender, as with Slack) and measures, per event, the time until the HTTP answer (Slack's 3 s clock).
The work after the ack (inference, storage, cards) runs on the same machine and competes for its CPUs;
the fake Slack and this sender do too, so the figures are pessimistic for a real deployment.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.slack.driver import SlackDriver
from bot.slack.fake_api import FakeSlack
from tests.slack.serve_process import ServeProcess, http

SECRET = "load-signing-secret"
TOKEN = "xoxb-load-token"
CHANNEL = "CSUPPORT"
AGENTS = ["UAGENT1", "UAGENT2"]
CUSTOMERS = [f"UCUST{i}" for i in range(20)]
TEXTS = ["I was charged twice for my order 48213", "My parcel is still not here after two weeks",
         "The blender arrived broken, this is unacceptable", "Где мой заказ? Жду уже неделю",
         "我的订单还没到，已经等了十天", "Tellimus on ikka veel tulemata", "Thanks, that solved it!",
         "I cannot log into my account since yesterday"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(workers: int, rate: float, seconds: float, model_dir: str | None, warmup: float) -> dict:
    fake = FakeSlack(team_id="TOURS")
    for user in AGENTS:
        fake.add_user(user)
    for customer in CUSTOMERS:
        fake.add_user(customer, team_id="TCUSTOMER")  # Slack Connect: customers of another workspace
    fake.add_channel(CHANNEL, ["UBOT", *AGENTS, *CUSTOMERS])
    fake.start()
    work = Path(tempfile.mkdtemp(prefix="coach-load-"))
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
           "COACH_DATABASE_URL": f"sqlite:///{work / 'coach.sqlite'}", "COACH_LOG_LEVEL": "WARNING"}
    if model_dir:
        env["COACH_MODEL_DIR"] = model_dir
    for name in ("SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    serve = ServeProcess(env, work, workers=workers)
    try:
        deadline = time.monotonic() + 300
        ready = 0
        while ready < 3 * workers:  # consecutive 200s from /readyz: every worker has its model most likely
            assert serve.process.poll() is None, serve.output[-3000:]
            assert time.monotonic() < deadline, "not ready: " + serve.output[-3000:]
            try:
                ready = ready + 1 if http(serve.base + "/readyz", timeout=5)[0] == 200 else 0
            except OSError:
                ready = 0
            time.sleep(0.2)
        driver = SlackDriver(serve.base, SECRET, fake)
        latencies: list[tuple[float, float, int]] = []  # (scheduled offset, seconds, status)
        lock = threading.Lock()

        def send(i: int, offset: float) -> None:
            customer = CUSTOMERS[i % len(CUSTOMERS)]
            message = fake.add_message(CHANNEL, customer, TEXTS[i % len(TEXTS)])
            event = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "team": fake.team_id,
                     "event_ts": message["ts"], **message}
            started = time.perf_counter()
            try:
                status = driver.event(event, event_id=f"EvLoad{i:07d}").status
            except OSError:
                status = 0
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append((offset, elapsed, status))

        total = int(rate * seconds)
        pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="load")
        t0 = time.perf_counter() + 0.5
        for i in range(total):
            offset = i / rate
            delay = t0 + offset - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i, offset)
        pool.shutdown(wait=True)
        sent_for = time.perf_counter() - t0
        time.sleep(5)  # let the work after the acks finish before counting cards
        measured = [s for offset, s, status in latencies if offset >= warmup]
        failed = sum(1 for _, _, status in latencies if status != 200)
        cards = len(fake.calls_of("chat.postEphemeral"))
        return {
            "workers": workers, "rate": rate, "seconds": seconds, "events": total, "sent_in_s": round(sent_for, 2),
            "warmup_s": warmup, "measured": len(measured), "non_200": failed,
            "ack_ms": {"p50": round(percentile(measured, 50) * 1000, 1), "p95": round(percentile(measured, 95) * 1000, 1),
                       "p99": round(percentile(measured, 99) * 1000, 1), "max": round(max(measured) * 1000, 1),
                       "mean": round(statistics.fmean(measured) * 1000, 1)},
            "over_3s": sum(1 for s in measured if s > 3.0),
            "cards_posted": cards, "load_avg": os.getloadavg(), "cpus": os.cpu_count(),
        }
    finally:
        serve.stop()
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at the start left out of the figures")
    parser.add_argument("--model-dir", default=None, help="COACH_MODEL_DIR (default: the served model)")
    args = parser.parse_args()
    print(json.dumps(run(args.workers, args.rate, args.seconds, args.model_dir, args.warmup), indent=2))


if __name__ == "__main__":
    main()
