"""The tf-idf logistic-regression half: features, fitting, storage and fusion with the neural heads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bot.classify.datasets import Example
from bot.classify.linear import CHAR_BUCKETS, LinearHeads, fit_linear_heads, fuse, word_ids
from bot.classify.training import fit_fusion

LABELS = {"complaint": ["billing", "delivery", "none", "refund"], "tone": ["angry", "neutral"]}
ROWS = [
    ("you charged my card twice", "billing", "angry"),
    ("double charge on my statement again", "billing", "angry"),
    ("С меня дважды списали деньги", "billing", "angry"),
    ("我被重复扣款了", "billing", "angry"),
    ("my parcel never arrived", "delivery", "neutral"),
    ("where is the courier with my parcel", "delivery", "neutral"),
    ("Посылка так и не пришла", "delivery", "neutral"),
    ("我的快递还没到", "delivery", "neutral"),
    ("thanks, that is all", "none", "neutral"),
    ("thank you, all good now", "none", "neutral"),
    ("Спасибо, всё хорошо", "none", "neutral"),
    ("谢谢，没问题了", "none", "neutral"),
]


def _examples() -> list[Example]:
    return [Example(t, "en", tone, comp, "train", "fixture", 1.0, 1.0) for t, comp, tone in ROWS]


@pytest.fixture(scope="module")
def linear() -> LinearHeads:
    return fit_linear_heads(_examples(), LABELS, c=10.0)


def test_word_grams_skip_cjk_clauses_and_count_bigrams():
    assert word_ids("我的快递还没到") == {}
    ids = word_ids("Charged twice, charged twice!")
    assert sorted(ids.values()) == [1.0, 2.0, 2.0, 2.0]  # charged, twice, 'charged twice' x2; 'twice charged' x1


def test_features_are_unit_norm_per_block(linear):
    idx, values = linear.features("you charged my card twice")
    chars, words = values[idx < CHAR_BUCKETS], values[idx >= CHAR_BUCKETS]
    assert np.isclose(np.linalg.norm(chars), 1.0) and np.isclose(np.linalg.norm(words), linear.word_scale)


def test_fitted_model_separates_the_fixture_in_every_script(linear):
    logits = linear.logits([t for t, _, _ in ROWS])
    predicted = [LABELS["complaint"][i] for i in logits["complaint"].argmax(1)]
    assert predicted == [comp for _, comp, _ in ROWS]


def test_a_class_without_training_rows_never_wins(linear):
    logits = linear.logits(["please refund my money", ""])
    assert (logits["complaint"].argmax(1) != LABELS["complaint"].index("refund")).all()


def test_save_and_load_keep_the_logits(linear, tmp_path):
    linear.save(tmp_path)
    loaded = LinearHeads.load(tmp_path)
    texts = ["charged twice!!", "где моя посылка", "unseen words entirely"]
    before, after = linear.logits(texts), loaded.logits(texts)
    for head in LABELS:
        np.testing.assert_allclose(before[head], after[head], atol=2e-2)  # weights are stored as fp16
    assert (tmp_path / "linear.safetensors").stat().st_size < 2_000_000  # only used rows are stored


def test_fuse_weights_both_halves_and_falls_back_to_temperature():
    neural = {"complaint": np.array([[2.0, 0.0]], np.float32)}
    linear = {"complaint": np.array([[0.0, 3.0]], np.float32)}
    fused = fuse(neural, linear, {"complaint": [1.0, 1.0]}, {})["complaint"]
    log_neural, log_linear = np.log([[0.8808, 0.1192]]), np.log([[0.0474, 0.9526]])
    expected = np.exp(log_neural + log_linear)
    np.testing.assert_allclose(fused, expected / expected.sum(), atol=1e-3)
    tempered = fuse(neural, None, {}, {"complaint": 2.0})["complaint"]
    np.testing.assert_allclose(tempered, [[np.e / (np.e + 1), 1 / (np.e + 1)]], atol=1e-5)


def test_fit_fusion_trusts_the_half_that_is_right():
    torch.manual_seed(0)
    y = torch.randint(0, 3, (300,))
    informative = torch.nn.functional.one_hot(y, 3).float() * 4.0 + torch.randn(300, 3) * 0.5
    noise = torch.randn(300, 3) * 2.0
    a, b = fit_fusion(noise, informative, y)
    assert b > 5 * a


def test_hashes_are_the_ones_the_shipped_models_were_trained_with():
    """Seeded crc32 is an optimisation: the buckets must stay crc32('n:' + gram) and crc32('w:' + gram)."""
    import zlib

    from bot.classify.features import ngram_ids, normalise

    text = "Заказ #77 пришёл не тот, 谢谢 ok"
    norm = normalise(text)
    expected: dict[int, float] = {}
    for n in range(1, 5):
        for s in range(len(norm) - n + 1):
            if n > 1 or norm[s] != " ":
                key = zlib.crc32(f"{n}:{norm[s:s + n]}".encode()) % 4096
                expected[key] = expected.get(key, 0.0) + 1.0
    assert ngram_ids(text, 4096) == expected
    assert set(word_ids("not the one", 4096)) == {zlib.crc32(f"w:{g}".encode()) % 4096
                                                 for g in ("not", "the", "one", "not the", "the one")}
