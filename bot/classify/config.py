"""A model version's configuration and where versions live; no torch import, so the ONNX path can use it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bot.labels import COMPLAINTS, TONES

EMBEDDING_DIM = 384
EXPECTED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@dataclass
class HeadsConfig:
    version: str
    tones: list[str] = field(default_factory=lambda: list(TONES))
    complaints: list[str] = field(default_factory=lambda: list(COMPLAINTS))
    buckets: int = 1 << 15
    ngram_dim: int = 64
    hidden: int = 256
    dropout: float = 0.2
    temperatures: dict[str, float] = field(default_factory=lambda: {"tone": 1.0, "complaint": 1.0})
    encoder_sha256: str = EXPECTED_SHA256
    trained_on: dict[str, int] = field(default_factory=dict)
    seed: int = 13
    wide: bool = False  # a linear n-gram -> label layer beside the deep path (from v5 on)
    idf: bool = False   # n-gram weights scaled by an idf table stored with the heads (from v6 on)
    encoder_layers: int = 6  # how many of MiniLM's 6 layers feed the heads (v7: 4; v10: 2, as good and 2x faster)
    linear: bool = False  # a tf-idf logistic regression per head in linear.safetensors, fused (from v8 on)
    fusion: dict[str, list[float]] = field(default_factory=dict)  # head -> [neural weight, linear weight]

    def labels(self, head: str) -> list[str]:
        return self.tones if head == "tone" else self.complaints


def read_config(directory: Path) -> HeadsConfig:
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no model at {directory} (expected config.json and heads.safetensors)")
    return HeadsConfig(**json.loads(config_path.read_text()))


def resolve_model_dir(path: Path) -> Path:
    """Accept a version folder, or a models/ folder with a CURRENT file naming the version."""
    if (path / "config.json").is_file():
        return path
    current = path / "CURRENT"
    if current.is_file():
        return path / current.read_text().strip()
    if path.name == "current" and (path.parent / "CURRENT").is_file():
        return path.parent / (path.parent / "CURRENT").read_text().strip()
    raise FileNotFoundError(f"no model version at {path}: run `coach train` or set COACH_MODEL_DIR")
