"""`coach bench`: rounds are interleaved and pooled correctly, bad backends are refused, a real worker answers."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import bot.bench as bench
import bot.cli as cli


def _run(latencies: list[float], throughput: float, cold: float = 0.5, rss: float = 190.0) -> dict:
    return {"latencies_ms": latencies, "throughput_msgs_s": throughput, "cold_start_s": cold,
            "peak_rss_mb": rss, "torch_imported": False}


def test_latency_percentiles_pool_every_round_and_the_rest_take_the_median():
    runs = [_run([1.0] * 90 + [10.0] * 10, 300.0, cold=0.4, rss=180.0),
            _run([2.0] * 100, 250.0, cold=0.9, rss=200.0),
            _run([3.0] * 100, 400.0, cold=0.5, rss=190.0)]
    result = bench.summarise("onnx-int8", runs, n_single=100, n_batched=1024)
    pooled = np.array([1.0] * 90 + [10.0] * 10 + [2.0] * 100 + [3.0] * 100)
    assert result.rounds == 3
    assert result.p50_ms == pytest.approx(np.percentile(pooled, 50))
    assert result.p95_ms == pytest.approx(np.percentile(pooled, 95))
    assert result.p99_ms == 10.0
    assert result.throughput_msgs_s == 300.0 and result.throughput_min_msgs_s == 250.0
    assert result.cold_start_s == 0.5
    assert result.peak_rss_mb == 200.0  # the worst round, not a typical one
    assert result.torch_imported is False


def test_rounds_interleave_the_backends(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "run_once", lambda b, n, m: calls.append(b) or _run([1.0] * n, 100.0))
    results = bench.run_bench(["onnx-int8", "torch"], n_single=4, n_batched=8, rounds=3)
    assert calls == ["onnx-int8", "torch"] * 3
    assert [r.backend for r in results] == ["onnx-int8", "torch"] and all(r.rounds == 3 for r in results)


def test_cli_refuses_an_unknown_backend_before_running_anything(monkeypatch):
    monkeypatch.setattr(bench, "run_once", lambda *a: pytest.fail("no worker should start"))
    result = CliRunner().invoke(cli.app, ["bench", "--backends", "onnx-int8,tensorrt"])
    assert result.exit_code != 0
    assert "tensorrt" in result.output and "onnx-int8" in result.output


@pytest.mark.slow
def test_a_real_worker_reports_raw_latencies_without_torch():
    from bot.classify.onnx_backend import export_onnx, onnx_path
    from bot.classify.version import read_config, resolve_model_dir
    from bot.settings import Settings

    settings = Settings(_env_file=None)
    served = resolve_model_dir(settings.coach_model_dir, settings.coach_model_store)
    if not onnx_path(settings.coach_cache_dir, served, read_config(served), True).is_file():
        export_onnx(served, settings.coach_cache_dir, True)  # what `coach bench` does before measuring
    run = bench.run_once("onnx-int8", n_single=5, n_batched=16)
    assert len(run["latencies_ms"]) == 5 and all(x > 0 for x in run["latencies_ms"])
    assert run["throughput_msgs_s"] > 0 and run["cold_start_s"] > 0 and run["peak_rss_mb"] > 0
    assert run["torch_imported"] is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and the carried-over ru_maxrss are Linux's")
def test_peak_rss_is_the_workers_own_not_inherited_from_a_big_parent():
    ballast = b"x" * (300 << 20)  # the parent is now > 300 MB resident
    code = ("import resource; from bot.bench import peak_rss_mb; "
            "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    own, inherited = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True).stdout.split())
    assert len(ballast) and inherited > 300  # what ru_maxrss says (Linux carries it across fork + exec)
    assert own < 150  # what the child really used: the interpreter and numpy
