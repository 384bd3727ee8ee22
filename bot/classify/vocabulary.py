"""The serving vocabulary: the 250k XLM-R pieces pruned to those the bot can meet (no torch import).

e5-small's embedding matrix is 250,037 x 384 (384 MB in fp32, 96 MB in int8) and its tokenizer holds
275 MB once loaded, for 100 languages. A version keeps the pieces its training text uses plus every
single-character piece (so any character the base knows still has a piece), about a fifth of the
vocabulary. Unigram segmentation over a subset picks the same pieces whenever they are all kept (a subset
offers no better path), so such texts get identical ids and outputs; a word made of dropped pieces is
spelled with smaller kept ones. `coach eval --backend onnx-int8` measures what that costs.
"""
from __future__ import annotations

import json

import numpy as np

SPECIAL_IDS = (0, 1, 2, 3)  # <s>, <pad>, </s>, <unk>: first, so their ids do not move


def kept_pieces(tokenizer, id_rows: list[list[int]]) -> np.ndarray:
    """Sorted piece ids to keep: specials, every id in `id_rows` (tokenised training text), every 1-char piece."""
    kept = set(SPECIAL_IDS)
    for row in id_rows:
        kept.update(row)
    for piece, index in tokenizer.get_vocab().items():
        if len(piece.lstrip("\u2581")) == 1 and not (piece.startswith("<") and piece.endswith(">")):
            kept.add(index)
    return np.array(sorted(kept), dtype=np.int64)


def pruned_tokenizer_json(full_tokenizer_json: str, kept: np.ndarray) -> str:
    """The same tokenizer over the kept pieces only, renumbered 0..len(kept)-1 in the original order."""
    spec = json.loads(full_tokenizer_json)
    vocab = spec["model"]["vocab"]
    if list(kept[: len(SPECIAL_IDS)]) != list(SPECIAL_IDS):
        raise ValueError("the special pieces must be kept first")
    spec["model"]["vocab"] = [vocab[int(i)] for i in kept]
    spec["model"]["unk_id"] = 3
    new_id = {int(old): new for new, old in enumerate(kept)}
    spec["added_tokens"] = [dict(t, id=new_id[t["id"]]) for t in spec.get("added_tokens", []) if t["id"] in new_id]
    return json.dumps(spec, ensure_ascii=False)
