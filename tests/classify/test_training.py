"""A tiny model trains on a small fixture in seconds; saving, loading and integrity checks work."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bot.classify.classifier import Classifier
from bot.classify.datasets import Example, read_corpus, write_corpus
from bot.classify.encoder import EncoderIntegrityError, SentenceEncoder, verify_encoder
from bot.classify.evaluation import expected_calibration_error, head_metrics
from bot.classify.model import load_heads, resolve_model_dir, save_heads
from bot.classify.pipeline import evaluate_version, predict_probs
from bot.classify.training import TrainOptions, fit_temperature, train_heads

FIXTURE = [
    ("I was charged twice for my order", "angry", "billing"),
    ("there is an extra fee on my statement, why??", "frustrated", "billing"),
    ("you took money from my card two times!!!", "angry", "billing"),
    ("С меня дважды списали деньги", "angry", "billing"),
    ("我被重复扣款了", "angry", "billing"),
    ("Minult võeti raha kaks korda", "angry", "billing"),
    ("my parcel has not arrived yet", "anxious", "delivery"),
    ("where is my package, it is a week late", "frustrated", "delivery"),
    ("the courier never came", "frustrated", "delivery"),
    ("Посылка до сих пор не пришла", "anxious", "delivery"),
    ("我的快递还没到", "anxious", "delivery"),
    ("Mu pakk pole ikka veel kohale jõudnud", "anxious", "delivery"),
    ("thank you so much, all sorted!", "positive", "none"),
    ("great service, thanks a lot", "positive", "none"),
    ("what are your opening hours?", "neutral", "none"),
    ("Спасибо большое, всё отлично", "positive", "none"),
    ("谢谢你们，服务很好", "positive", "none"),
    ("Aitäh, kõik on korras", "positive", "none"),
]


def _examples(split: str = "train", repeat: int = 4) -> list[Example]:
    return [Example(t, "en", tone, comp, split, "fixture") for t, tone, comp in FIXTURE] * repeat


@pytest.fixture(scope="module")
def tiny(encoder, tmp_path_factory):
    options = TrainOptions(version="tiny", epochs=25, batch_size=16, lr=5e-3, calib_fraction=0.2,
                           buckets=1 << 12, ngram_dim=16, hidden=32, progress=False)
    model, stats = train_heads(_examples(), encoder.encode, options)
    directory = tmp_path_factory.mktemp("models") / "tiny"
    save_heads(model, directory)
    return model, stats, directory


def test_tiny_model_learns_the_fixture(tiny, encoder):
    model, stats, _ = tiny
    probs = predict_probs(model, encoder.encode, [t for t, _, _ in FIXTURE])
    complaints = [model.config.complaints[i] for i in probs["complaint"].argmax(1)]
    accuracy = np.mean([c == comp for c, (_, _, comp) in zip(complaints, FIXTURE)])
    assert accuracy >= 0.9
    assert stats["temperature_tone"] > 0 and stats["temperature_complaint"] > 0


def test_training_is_reproducible(encoder, tiny):
    model, _, _ = tiny
    options = TrainOptions(version="tiny", epochs=25, batch_size=16, lr=5e-3, calib_fraction=0.2,
                           buckets=1 << 12, ngram_dim=16, hidden=32, progress=False)
    again, _ = train_heads(_examples(), encoder.encode, options)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_save_load_roundtrip_and_classifier(tiny, encoder):
    model, _, directory = tiny
    loaded = load_heads(directory)
    texts = ["charged twice!!", "parcel late"]
    a, b = predict_probs(model, encoder.encode, texts), predict_probs(loaded, encoder.encode, texts)
    assert np.allclose(a["complaint"], b["complaint"], atol=1e-2)  # fp16 n-gram table
    sure = Classifier(loaded, encoder, unsure_threshold=0.0).classify("Посылка не пришла")
    assert sure.language == "ru" and sure.complaint.label == "delivery" and not sure.complaint.unsure
    unsure = Classifier(loaded, encoder, unsure_threshold=1.01).classify("Посылка не пришла")
    assert unsure.complaint.unsure and unsure.tone.unsure


def test_evaluate_version_writes_metrics_and_plots(tiny, encoder):
    _, _, directory = tiny
    report = evaluate_version(directory, _examples("val", 1), encoder=encoder)
    assert (directory / "metrics.json").is_file()
    assert (directory / "confusion_complaint_all.png").stat().st_size > 1000
    assert set(report["complaint"]) >= {"all", "en"}
    assert report["complaint"]["all"]["n"] == len(FIXTURE)


def test_encoder_with_wrong_checksum_is_refused(encoder):
    with pytest.raises(EncoderIntegrityError, match="does not match"):
        verify_encoder(encoder.directory, expected="0" * 64)
    with pytest.raises(EncoderIntegrityError):
        SentenceEncoder(expected_sha256="f" * 64)


def test_resolve_model_dir(tmp_path, tiny):
    _, _, directory = tiny
    (tmp_path / "CURRENT").write_text("v7\n")
    assert resolve_model_dir(tmp_path) == tmp_path / "v7"
    assert resolve_model_dir(directory) == directory
    with pytest.raises(FileNotFoundError):
        resolve_model_dir(tmp_path / "nothing")


def test_corpus_roundtrip(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    write_corpus(_examples(repeat=1), path)
    assert read_corpus(path) == _examples(repeat=1)


def test_temperature_scaling_fixes_overconfidence():
    torch.manual_seed(0)
    y = torch.randint(0, 3, (600,))
    logits = torch.randn(600, 3)
    logits[torch.arange(600), y] += 1.0
    t = fit_temperature(logits * 6, y)  # logits made 6x too confident
    assert 3 < t < 12
    before = torch.softmax(logits * 6, -1)
    after = torch.softmax(logits * 6 / t, -1)
    correct = (before.argmax(1) == y).float().numpy()
    assert expected_calibration_error(after.max(1).values.numpy(), correct) < expected_calibration_error(
        before.max(1).values.numpy(), correct)


def test_head_metrics_macro_f1():
    probs = np.eye(3)[[0, 1, 2, 2]]
    metrics = head_metrics(["a", "b", "c"], [0, 1, 2, 1], probs)
    assert metrics["accuracy"] == 0.75
    assert metrics["per_class"]["b"]["recall"] == 0.5
    assert abs(metrics["macro_f1"] - (1 + 2 / 3 + 2 / 3) / 3) < 1e-9
