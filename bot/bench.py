"""`coach bench`: latency, throughput, cold start and memory of each serving path (a benchmark, not a test).

Each backend runs in a fresh subprocess, so cold start counts the interpreter and imports, peak RSS is
that path's alone, and the ONNX paths can show they never import torch. A shared 2-core VM is noisy (the same
run moved p50 by 25 % from one minute to the next here), so `rounds` runs every backend several times,
interleaved, and reports percentiles over the pooled latencies and the median of the per-round figures.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

# ~30 tokens each, the four languages, the shapes agents meet
MESSAGES = [
    "I was charged twice for order 48213 and nobody answers my emails, this is really not okay!!",
    "My parcel was supposed to arrive on Monday and the tracking has not moved for five days now.",
    "You sent me a blue jacket in size S but I ordered the black one in M, what is going on?",
    "The app crashes every time I try to pay with my card, I have tried three times already today.",
    "Thanks a lot for your help yesterday, the replacement arrived and everything works perfectly now.",
    "I have been waiting on hold for forty minutes and still nobody has picked up the phone at all.",
    "Мне дважды списали деньги за заказ 48213, и никто не отвечает на мои письма уже неделю!",
    "Посылка должна была прийти в понедельник, но трекинг не обновляется уже пять дней.",
    "我的订单48213被重复扣款了，客服一直不回复，你们到底怎么回事？",
    "快递说周一到，可是物流信息五天都没有更新了，我很着急。",
    "Minult võeti tellimuse 48213 eest raha kaks korda ja keegi ei vasta mu kirjadele!",
    "Pakk pidi esmaspäeval kohale jõudma, aga jälgimisinfo pole viis päeva muutunud.",
]


@dataclass
class BenchResult:
    backend: str
    cores: int
    rounds: int
    cold_start_s: float             # median over rounds
    p50_ms: float                   # percentiles over every round's single-message latencies
    p95_ms: float
    p99_ms: float
    throughput_msgs_s: float        # median over rounds
    throughput_min_msgs_s: float    # the slowest round
    peak_rss_mb: float              # the largest of any round
    torch_imported: bool
    n_single: int                   # per round
    n_batched: int


def peak_rss_mb() -> float:
    """This process's own high-water mark. Not ru_maxrss: Linux carries that over from the parent across
    fork + exec, so a worker started by a CLI that had imported torch reported the CLI's 250 MB."""
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(backend: str, n_single: int, n_batched: int, batch: int) -> None:
    from bot.engine import RecoveryEngine
    from bot.settings import Settings

    engine = RecoveryEngine(Settings(coach_backend=backend))
    engine.suggest(MESSAGES[0])
    print("READY", flush=True)  # the parent's clock for cold start stops here
    for text in MESSAGES:  # warm-up
        engine.suggest(text)
    latencies = []
    for i in range(n_single):
        started = time.perf_counter()
        engine.suggest(MESSAGES[i % len(MESSAGES)])
        latencies.append(time.perf_counter() - started)
    texts = [MESSAGES[i % len(MESSAGES)] for i in range(n_batched)]
    started = time.perf_counter()
    for s in range(0, len(texts), batch):
        chunk = texts[s : s + batch]
        for text, c in zip(chunk, engine.classifier.classify_many(chunk)):
            engine.suggest(text, classification=c)
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "latencies_ms": [round(x * 1000, 4) for x in latencies], "throughput_msgs_s": n_batched / elapsed,
        "peak_rss_mb": peak_rss_mb(),
        "torch_imported": "torch" in sys.modules,
    }), flush=True)


def run_once(backend: str, n_single: int, n_batched: int, batch: int = 64) -> dict:
    """One fresh worker process: its cold start, raw latencies, throughput and peak RSS."""
    env = {**os.environ, "COACH_BACKEND": backend}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.bench", backend, str(n_single), str(n_batched), str(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    cold = time.perf_counter() - started
    if line.strip() != "READY":
        raise RuntimeError(f"{backend} worker failed: {line}{process.communicate()[1][-2000:]}")
    out, errors = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{backend} worker failed: {errors[-2000:]}")
    return {"cold_start_s": cold, **json.loads(out.strip().splitlines()[-1])}


def summarise(backend: str, runs: list[dict], n_single: int, n_batched: int) -> BenchResult:
    ms = np.concatenate([np.asarray(r["latencies_ms"], np.float64) for r in runs])
    throughput = [r["throughput_msgs_s"] for r in runs]
    return BenchResult(
        backend=backend, cores=os.cpu_count() or 0, rounds=len(runs),
        cold_start_s=float(np.median([r["cold_start_s"] for r in runs])),
        p50_ms=float(np.percentile(ms, 50)), p95_ms=float(np.percentile(ms, 95)), p99_ms=float(np.percentile(ms, 99)),
        throughput_msgs_s=float(np.median(throughput)), throughput_min_msgs_s=float(min(throughput)),
        peak_rss_mb=max(r["peak_rss_mb"] for r in runs), torch_imported=any(r["torch_imported"] for r in runs),
        n_single=n_single, n_batched=n_batched,
    )


def run_bench(backends: list[str], n_single: int = 300, n_batched: int = 1024, rounds: int = 1) -> list[BenchResult]:
    """Every backend `rounds` times, interleaved (a, b, c, a, b, c...) so a slow minute hits them all alike."""
    runs: dict[str, list[dict]] = {b: [] for b in backends}
    for _ in range(rounds):
        for backend in backends:
            runs[backend].append(run_once(backend, n_single, n_batched))
    return [summarise(b, runs[b], n_single, n_batched) for b in backends]


def as_dict(result: BenchResult) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(result).items()}


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
