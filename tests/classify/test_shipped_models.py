"""What models/ ships: the served version and at most one to roll back to, each small and complete (issue 14:
base weights come from the pip package; a version in git holds only what training changed, ≤ 10 MB)."""
from __future__ import annotations

from pathlib import Path

from safetensors import safe_open

from bot.classify.e5_base import E5_SHA256
from bot.classify.modeling import ADAPTED
from bot.classify.version import WEIGHTS, list_versions, read_config, resolve_model_dir

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_the_served_version_and_at_most_one_more():
    served = resolve_model_dir(MODELS)
    versions = list_versions(MODELS)
    assert served.parent == MODELS and served.name in versions
    assert len(versions) <= 2, sorted(versions)


def test_each_version_is_small_complete_and_built_on_the_checked_base():
    for name, directory in list_versions(MODELS).items():
        config = read_config(directory)
        assert config.version == name and config.base_sha256 == E5_SHA256
        assert (directory / WEIGHTS).stat().st_size <= 10 << 20, name
        with safe_open(str(directory / WEIGHTS), "np") as weights:
            keys = set(weights.keys())
        tuned = {int(k.split(".")[1]) for k in keys if k.startswith("layer.")}
        assert tuned == set(range(config.layers - config.trained_layers, config.layers)), name
        adapters = {k.rsplit(".", 1)[0] for k in keys if k.startswith("adapter.")}
        below = range(config.layers - config.trained_layers) if config.adapter_rank else range(0)
        assert adapters == {f"adapter.{i}.{path}" for i in below for path in ADAPTED}, name
        heads = {k.split(".")[1] for k in keys if k.startswith("heads.")}
        assert "vocab.kept" in keys and heads == set(config.heads), name
        assert (directory / "metrics.json").is_file() and (directory / "metrics-onnx-int8.json").is_file(), name
