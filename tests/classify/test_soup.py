"""A weight soup averages runs of one recipe exactly, adapters included, and refuses runs that differ."""
from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from bot.classify.soup import soup_state, soup_version
from bot.classify.version import WEIGHTS, ModelConfig


def run_state(rng: np.random.Generator, rank: int = 2) -> dict[str, np.ndarray]:
    return {"heads.tone.weight": rng.normal(size=(6, 4)).astype(np.float16),
            "layer.1.output.dense.bias": rng.normal(size=(4,)).astype(np.float16),
            "adapter.0.output.dense.a": rng.normal(size=(rank, 8)).astype(np.float16),
            "adapter.0.output.dense.b": rng.normal(size=(4, rank)).astype(np.float16),
            "vocab.kept": np.sort(rng.choice(np.arange(4, 100), 20, replace=False)).astype(np.int32)}


def test_layers_and_heads_are_averaged_and_adapters_concatenated_exactly():
    rng = np.random.default_rng(0)
    runs = [run_state(rng) for _ in range(3)]
    soup = soup_state(runs)
    expected = np.mean([r["heads.tone.weight"].astype(np.float32) for r in runs], axis=0)
    np.testing.assert_allclose(soup["heads.tone.weight"].astype(np.float32), expected, atol=2e-3)
    # the merged update of the soup is the mean of the runs' merged updates
    delta = [r["adapter.0.output.dense.b"].astype(np.float32) @ r["adapter.0.output.dense.a"].astype(np.float32)
             for r in runs]
    souped = soup["adapter.0.output.dense.b"].astype(np.float32) @ soup["adapter.0.output.dense.a"].astype(np.float32)
    np.testing.assert_allclose(souped, np.mean(delta, axis=0), atol=5e-3)
    assert soup["adapter.0.output.dense.a"].shape == (6, 8)
    assert set(soup["vocab.kept"]) == set(np.concatenate([r["vocab.kept"] for r in runs]))
    assert (np.diff(soup["vocab.kept"]) > 0).all()


def test_runs_storing_different_tensors_are_refused():
    rng = np.random.default_rng(1)
    other = run_state(rng)
    del other["layer.1.output.dense.bias"]
    with pytest.raises(ValueError, match="one recipe"):
        soup_state([run_state(rng), other])


def test_runs_of_different_recipes_or_a_single_run_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    runs = []
    for name, layers in (("a", 2), ("b", 3)):
        config = ModelConfig(version=name, layers=layers, trained_layers=1, adapter_rank=2)
        config.save(tmp_path / name)
        save_file(run_state(rng), str(tmp_path / name / WEIGHTS))
        runs.append(tmp_path / name)
    with pytest.raises(ValueError, match="differ in layers"):
        soup_version(runs, tmp_path, "soup", tmp_path, [])
    with pytest.raises(ValueError, match="at least two"):
        soup_version(runs[:1], tmp_path, "soup", tmp_path, [])
