"""The base packed for a lent GPU machine unpacks to the same model: identical hidden states and token ids for the
texts it was packed for, and version vocabularies mapped back to the full ids."""
from __future__ import annotations

import numpy as np
import torch

from bot.classify.e5_base import load_bert, load_tokenizer
from bot.classify.gpu_bundle import full_ids, pack, unpack
from bot.classify.inputs import InputEncoder

TEXTS = ["I was charged twice for my order, refund it now!", "Посылка опаздывает уже на неделю",
         "我被重复扣款了，马上退款！", "Minult võeti raha kaks korda, makske tagasi!", "@user 👍 http"]


def test_pack_and_unpack_give_back_the_same_model_for_its_texts(e5_base, tmp_path):
    bundle = pack(tmp_path / "bundle", e5_base, TEXTS, layers=2)
    assert (tmp_path / "bundle" / "base.npz").stat().st_size < 15 << 20  # 2 layers + ~25k rows of q4 blocks
    base = unpack(bundle, tmp_path / "base")
    outputs, ids = [], []
    for directory in (e5_base, base):
        encoder = InputEncoder(load_tokenizer(directory, 64))
        batch = encoder.batch(TEXTS)
        with torch.no_grad():
            hidden = load_bert(directory, layers=2)(torch.from_numpy(batch.input_ids),
                                                    attention_mask=torch.from_numpy(batch.attention_mask))
        outputs.append(hidden.last_hidden_state)
        ids.append(encoder.ids(TEXTS))
    assert torch.equal(outputs[0], outputs[1])  # the same q4_0 blocks, dequantised the same way
    # ids differ (a pruned vocabulary), and map back to the full ones
    assert [list(full_ids(base, np.array(row))) for row in ids[1]] == ids[0]
