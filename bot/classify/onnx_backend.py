"""The serving path without torch: the whole fine-tuned model (encoder, pooling, heads) as one int8 ONNX
graph under onnxruntime, the tokenizer from `tokenizers`, both over the version's pruned vocabulary
(vocabulary.py: ~50k of 250k pieces, so the graph is ~30 MB instead of ~110 MB).

`export_onnx` (needs torch; run by `coach model export` or once on first use) writes the graph into the
cache with a sidecar recording the sha256 of the base weights, of the version's weights and of the graph;
loading refuses a graph whose hashes do not match, as the base loader refuses a tampered weights file.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from bot.classify import ort_session  # noqa: F401 - switches onnxruntime telemetry off before it loads
from bot.classify.base import BaseClassifier
from bot.classify.e5_base import ensure_converted, load_tokenizer
from bot.classify.inputs import InputEncoder, by_length, pad
from bot.classify.version import WEIGHTS, ModelConfig, read_config
from bot.classify.vocabulary import pruned_tokenizer_json

OUTPUTS = ("tone", "complaint", "polarity")


class OnnxIntegrityError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def onnx_path(cache_dir: Path, model_dir: Path, config: ModelConfig, quantized: bool) -> Path:
    """One graph per (version weights, precision): a retrained version never reuses a stale graph."""
    weights = _sha256(model_dir / WEIGHTS)[:12]
    return cache_dir / "onnx" / f"{config.version}-{weights}-{'int8' if quantized else 'fp32'}.onnx"


def tokenizer_path(graph: Path) -> Path:
    return graph.with_name(graph.name.replace("-int8.onnx", "").replace("-fp32.onnx", "") + "-tokenizer.json")


def export_onnx(model_dir: Path, cache_dir: Path, quantized: bool = True) -> Path:
    """Trace the version (base + its top layers + heads) to ONNX (opset 17); int8 per-channel if `quantized`."""
    import warnings

    import torch
    from safetensors.torch import load_file

    from bot.classify.modeling import RecoveryModel

    config = read_config(model_dir)
    base = ensure_converted(cache_dir / "base")
    target = onnx_path(cache_dir, model_dir, config, quantized)
    fp32 = onnx_path(cache_dir, model_dir, config, quantized=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{config.version}-"
    for stale in target.parent.glob(prefix + "*"):  # graphs of this version's earlier weights
        if not stale.name.startswith(fp32.name.rsplit("-", 1)[0]) and ".tmp" not in stale.name:
            stale.unlink(missing_ok=True)
    if not fp32.is_file():
        model = RecoveryModel.load_version(model_dir, base, config)
        kept = load_file(str(model_dir / WEIGHTS)).get("vocab.kept")
        if kept is not None:  # the graph's embedding table holds the kept rows only, renumbered
            kept = kept.long()
            table = model.bert.embeddings.word_embeddings.weight.detach()[kept].clone()
            model.bert.embeddings.word_embeddings = torch.nn.Embedding.from_pretrained(table, freeze=True)
            tokenizer_json = pruned_tokenizer_json((base / "tokenizer.json").read_text(encoding="utf-8"), kept.numpy())
        else:
            tokenizer_json = (base / "tokenizer.json").read_text(encoding="utf-8")
        scratch_tokenizer = tokenizer_path(fp32).with_suffix(f".{os.getpid()}.tmp")
        scratch_tokenizer.write_text(tokenizer_json, encoding="utf-8")
        scratch_tokenizer.replace(tokenizer_path(fp32))

        class Logits(torch.nn.Module):
            def __init__(self, inner: RecoveryModel):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
                out = self.inner(input_ids, attention_mask)
                return tuple(out[h] for h in OUTPUTS)

        sample = pad(InputEncoder(load_tokenizer(tokenizer_path(fp32).parent, name=tokenizer_path(fp32).name)).ids(
            ["a short one", "a somewhat longer sample sentence"]), 1)
        scratch = fp32.with_suffix(f".{os.getpid()}.tmp.onnx")  # two processes may export at once
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Logits(model).eval(), (torch.from_numpy(sample.input_ids), torch.from_numpy(sample.attention_mask)),
                str(scratch), input_names=["input_ids", "attention_mask"], output_names=list(OUTPUTS),
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              **{h: {0: "batch"} for h in OUTPUTS}},
                opset_version=17, dynamo=False,
            )
        scratch.replace(fp32)
        _write_sidecar(fp32, config, model_dir)
    if not quantized:
        return fp32
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    scratch = target.with_suffix(f".{os.getpid()}.tmp.onnx")
    quantize_dynamic(str(fp32), str(scratch), per_channel=True, weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    scratch.replace(target)
    _write_sidecar(target, config, model_dir)
    return target


def _write_sidecar(path: Path, config: ModelConfig, model_dir: Path) -> None:
    sidecar = {"base_sha256": config.base_sha256, "weights_sha256": _sha256(model_dir / WEIGHTS),
               "onnx_sha256": _sha256(path), "tokenizer_sha256": _sha256(tokenizer_path(path))}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")


def verify_onnx(path: Path, config: ModelConfig, model_dir: Path) -> None:
    sidecar_path = path.with_suffix(".json")
    if not path.is_file() or not sidecar_path.is_file():
        raise FileNotFoundError(f"{path} not exported yet: run `coach model export`")
    sidecar = json.loads(sidecar_path.read_text())
    if sidecar.get("base_sha256") != config.base_sha256 or sidecar.get("weights_sha256") != _sha256(model_dir / WEIGHTS):
        raise OnnxIntegrityError(f"{path} was exported from other weights than {model_dir}")
    if sidecar.get("onnx_sha256") != _sha256(path):
        raise OnnxIntegrityError(f"refusing to load {path}: its sha256 does not match the one recorded at export")
    if sidecar.get("tokenizer_sha256") != _sha256(tokenizer_path(path)):
        raise OnnxIntegrityError(f"refusing to load {tokenizer_path(path)}: it is not the tokenizer exported with {path.name}")


class OnnxClassifier(BaseClassifier):
    """Args (load): version folder, cache dir (base model + graphs), int8 or fp32, onnxruntime threads, thresholds."""

    BATCH = 8  # fp32 rows per session call; sorted by length so padding stays small

    def __init__(self, config: ModelConfig, session, encoder: InputEncoder, batch: int = BATCH, **thresholds):
        super().__init__(config, **thresholds)
        self.session, self.encoder, self.batch = session, encoder, batch

    @classmethod
    def load(cls, model_dir: Path, cache_dir: Path, quantized: bool = True, threads: int | None = None,
             export_if_missing: bool = True, batch: int | None = None, **thresholds) -> "OnnxClassifier":
        """int8 scores one message per session call (batch 1) unless told otherwise: dynamic int8 quantises
        activations per batch, so in a batch a message's probabilities move with its batch-mates (by up to 0.19
        on the served model), and `/recover` would then read a thread differently from the live cards. One at a
        time costs about a fifth of batched throughput (about 450 against 580 msgs/s here)."""
        batch = batch or (1 if quantized else cls.BATCH)
        config = read_config(model_dir)
        path = onnx_path(cache_dir, model_dir, config, quantized)
        if not path.is_file() and export_if_missing:
            print(f"exporting model {config.version} to ONNX once, into {path.parent} (about a minute)...",
                  file=sys.stderr)
            export_onnx(model_dir, cache_dir, quantized)
        verify_onnx(path, config, model_dir)
        tokenizer = load_tokenizer(path.parent, config.max_tokens, name=tokenizer_path(path).name)
        encoder = InputEncoder(tokenizer)
        return cls(config, ort_session.make_session(path, threads or 0), encoder, batch, **thresholds)

    def logits(self, texts: list[str]) -> dict[str, np.ndarray]:
        ids = self.encoder.ids(texts)
        out = {h: np.zeros((len(texts), len(self.config.heads[h])), np.float32) for h in OUTPUTS}
        for chunk in by_length(ids, self.batch):
            batch = pad([ids[i] for i in chunk], pad_id=1)
            results = self.session.run(list(OUTPUTS), {"input_ids": batch.input_ids,
                                                       "attention_mask": batch.attention_mask})
            for head, values in zip(OUTPUTS, results):
                out[head][chunk] = values
        return out
