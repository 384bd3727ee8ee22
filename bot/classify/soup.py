"""A uniform weight soup: runs of one recipe that differ only in seed, averaged into one version.

Fine-tuned from the same base with a small learning rate, such runs stay in one basin, so their weights
average into a model that generalises at least as well as a typical run ("model soups", Wortsman et al.
2022) at one run's size and speed; an ensemble would cost a forward pass per run per message. It answers the
seed spread the held-out figures showed (2-4 points from the seed alone). Adapters average exactly by
concatenation: mean_i(B_i A_i) = [B_1 .. B_N] [A_1; ..; A_N] / N, a rank N*r update.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from bot.classify.datasets import Example
from bot.classify.version import WEIGHTS, ModelConfig, read_config

# what must be equal for runs to be souped: the same model shape over the same base
SAME = ("base_sha256", "layers", "trained_layers", "max_tokens", "heads", "adapter_scale", "normalizer")


def soup_state(states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = {k for k in states[0] if k != "vocab.kept"}
    for state in states[1:]:
        if {k for k in state if k != "vocab.kept"} != keys:
            raise ValueError("the runs store different tensors: only runs of one recipe can be souped")
    out: dict[str, np.ndarray] = {}
    n = len(states)
    for key in sorted(keys):
        if key.startswith("adapter.") and key.endswith(".a"):
            out[key] = np.concatenate([s[key] for s in states], axis=0)
        elif key.startswith("adapter.") and key.endswith(".b"):
            out[key] = (np.concatenate([s[key].astype(np.float32) for s in states], axis=1) / n).astype(np.float16)
        else:
            out[key] = np.mean([s[key].astype(np.float32) for s in states], axis=0).astype(np.float16)
    kept = [s["vocab.kept"] for s in states if "vocab.kept" in s]
    if kept:  # every run's pieces: the soup serves whatever any of them learned from
        out["vocab.kept"] = np.unique(np.concatenate(kept)).astype(np.int32)
    return out


def soup_version(runs: list[Path], out_dir: Path, version: str, base_dir: Path, examples: list[Example],
                 device: str = "cpu") -> Path:
    """Average `runs` into out_dir/version and fit its temperatures again (an average is a new model)."""
    from bot.classify.e5_base import load_tokenizer
    from bot.classify.inputs import InputEncoder
    from bot.classify.modeling import RecoveryModel
    from bot.classify.train import calibrate

    if len(runs) < 2:
        raise ValueError("a soup needs at least two runs")
    configs = [read_config(r) for r in runs]
    for field in SAME:
        if len({json.dumps(getattr(c, field), sort_keys=True) for c in configs}) > 1:
            raise ValueError(f"the runs differ in {field}: only runs of one recipe can be souped")
    config: ModelConfig = dataclasses.replace(
        configs[0], version=version, adapter_rank=sum(c.adapter_rank for c in configs),
        temperatures={h: 1.0 for h in configs[0].heads}, souped_from=[f"{c.version} (seed {c.seed})" for c in configs])
    directory = out_dir / version
    directory.mkdir(parents=True, exist_ok=True)
    config.save(directory)
    save_file(soup_state([load_file(str(r / WEIGHTS)) for r in runs]), str(directory / WEIGHTS),
              metadata={"version": version})
    model = RecoveryModel.load_version(directory, base_dir, config).to(device)
    calibrate(model, InputEncoder(load_tokenizer(base_dir, config.max_tokens)), examples)
    config.save(directory)
    trainings = [json.loads((r / "training.json").read_text()) for r in runs if (r / "training.json").is_file()]
    (directory / "training.json").write_text(json.dumps({
        "version": version, "souped_from": config.souped_from,
        "seconds": round(sum(t.get("seconds", 0) for t in trainings), 1),
        "runs": trainings}, indent=2) + "\n")
    return directory
