"""Agents' corrections stored by the Slack bot are folded into the next model version."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.classify.datasets import Example, feedback_examples, read_corpus, write_corpus
from bot.cli import app
from bot.storage.store import SqlStore
from tests.classify.test_finetune import corpus
from tests.storage.helpers import playbook, record


def test_feedback_examples_keep_only_corrected_heads():
    rows = [{"text": "charged twice!", "lang": "en", "tone": "angry", "complaint": None},
            {"text": "x", "lang": "en", "tone": None, "complaint": None},
            {"text": "   ", "lang": "en", "tone": "angry", "complaint": "billing"},
            {"text": "посылка", "lang": "ru", "tone": None, "complaint": "delivery"}]
    out = feedback_examples(rows)
    assert [(e.text, e.tone, e.complaint) for e in out] == [("charged twice!", "angry", None),
                                                             ("посылка", None, "delivery")]
    assert out[0].tone_w > 1 and out[0].complaint_w == 0 and out[1].complaint_w > 1
    assert all(e.split == "train" and e.source == "feedback" for e in out)


def test_train_with_feedback_folds_corrections_into_a_new_version(tmp_path, monkeypatch, e5_base):
    url = f"sqlite:///{tmp_path / 'coach.sqlite'}"
    store = SqlStore(url)
    store.migrate()
    book = playbook()
    incident = record(store, book, "1.1", tone="neutral", complaint="none", text="my pram wheel snapped off")
    store.record_correction(incident, "1.1", None, "product_quality", "U0AGENT")
    store.close()
    corpus_path = tmp_path / "corpus.jsonl.gz"
    held_out = [Example(ru, "ru", tone, None, "ood", "ru_goemotions", original=en) for ru, en, tone in (
        ("Спасибо, отличная новость", "Thanks, great news", "positive"),
        ("Это просто бесит", "This is just infuriating", "angry"),
        ("Обожаю этот сериал", "I love this show", "positive"))]
    write_corpus(corpus() + held_out, corpus_path)
    pairs = tmp_path / "pairs"  # translated lines with their originals: the agreement loss
    pairs.mkdir()
    (pairs / "translation_source_en.jsonl").write_text(json.dumps({"id": "p1", "text": "my order never came"}))
    (pairs / "translated_ru.jsonl").write_text(json.dumps({"id": "p1", "text": "мой заказ так и не пришёл",
                                                           "lang": "ru"}))
    models, store_dir = tmp_path / "models", tmp_path / "store"
    (models / "v1").mkdir(parents=True)
    monkeypatch.setenv("COACH_DATABASE_URL", url)
    monkeypatch.setenv("COACH_CACHE_DIR", str(e5_base.parents[1]))
    monkeypatch.setenv("COACH_MODEL_STORE", str(store_dir))
    result = CliRunner().invoke(app, ["train", "--corpus", str(corpus_path), "--models-dir", str(models),
                                      "--layers", "2", "--trained-layers", "1", "--epochs", "1", "--threads", "2",
                                      "--with-feedback", "--agreement", "0.5", "--pairs", str(pairs)])
    assert result.exit_code == 0, result.output
    assert "folding in 1 corrected messages" in result.output
    folded = read_corpus(store_dir / "v2" / "feedback.jsonl.gz")
    assert [(e.text, e.tone, e.complaint) for e in folded] == [("my pram wheel snapped off", None, "product_quality")]
    trained_on = json.loads((store_dir / "v2" / "config.json").read_text())["trained_on"]
    assert trained_on["en:feedback"] == 1 and sum(trained_on.values()) == len([e for e in corpus() if e.split == "train"]) + 1
    assert (models / "CURRENT").read_text().strip() == "v2"
    metrics = json.loads((store_dir / "v2" / "metrics.json").read_text())
    interval = metrics["intervals"]["figures"]["threads:path_accuracy"]  # train judges with bootstrap intervals
    assert interval["low"] <= interval["value"] <= interval["high"]
    assert "how sure: 95% bootstrap intervals" in result.output
    tradeoff = metrics["tradeoff"]  # and with the apology trade-off: upset tones likelier, fewer upset ignored
    assert len(tradeoff["upset_scale"]) == len(tradeoff["upset_ignored_rate"]) == 17
    assert all(r is None or 0 <= r <= 1 for r in tradeoff["upset_ignored_rate"] + tradeoff["positive_apologised_rate"])
    assert "how eager to apologise" in result.output
    assert json.loads((store_dir / "v2" / "training.json").read_text())["options"]["agreement"] == 0.5
    parallel = metrics["parallel"]["ood:ru_goemotions"]  # the held-out rows read again in their English original
    assert parallel["n"] == 3 and parallel["language"] == "ru" and "tone_macro_f1" in parallel["behind"]
    assert "the same 3 rows read in ru and in their English original" in result.output
    switched = CliRunner().invoke(app, ["model", "use", "v1", "--models-dir", str(models)])
    assert switched.exit_code == 1  # v1 here is an empty folder: refused, CURRENT untouched
    assert (models / "CURRENT").read_text().strip() == "v2"


def test_train_refuses_a_device_it_cannot_use_before_reading_anything(tmp_path):
    """No CUDA in this torch (the CPU wheel): a clear error at once, not a traceback after the corpus and base load."""
    import torch

    missing = tmp_path / "no-corpus.jsonl.gz"  # never read: the device is checked first
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--device", "tpu9"])
    assert result.exit_code == 1 and "not a torch device" in result.output
    if not torch.cuda.is_available():
        result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--device", "cuda"])
        assert result.exit_code == 1 and "sees no CUDA GPU" in result.output


def test_train_refuses_an_impossible_recipe_before_reading_anything(tmp_path):
    missing = tmp_path / "no-corpus.jsonl.gz"
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--trained-layers", "0", "--adapter-rank", "0"])
    assert result.exit_code == 1 and "nothing to train" in result.output
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--layers", "2", "--trained-layers", "3"])
    assert result.exit_code == 1 and "cannot exceed the layers used (2)" in result.output


def test_train_refuses_an_agreement_loss_without_pairs_before_reading_the_corpus(tmp_path):
    missing = tmp_path / "no-corpus.jsonl.gz"
    empty = tmp_path / "empty"
    empty.mkdir()
    for loss in ("--agreement", "--align"):
        result = CliRunner().invoke(app, ["train", "--corpus", str(missing), loss, "1", "--pairs", str(empty)])
        assert result.exit_code == 1 and "needs translated lines with their English originals" in result.output
    (empty / "translated_ru.jsonl").write_text('{"id": "x1", "text": "привет", "lang": "ru"}\n')
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--agreement", "1", "--pairs", str(empty)])
    assert result.exit_code == 1 and "no English original for id 'x1'" in result.output
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--agreement", "1", "--pairs-skip-tone",
                                      "grumpy"])
    assert result.exit_code == 1 and "--pairs-skip-tone grumpy: not a tone" in result.output
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--agreement", "1", "--agreement-head",
                                      "mood"])
    assert result.exit_code == 1 and "no such head for the agreement loss: mood" in result.output
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--agreement", "1", "--agreement-free",
                                      "abusive"])
    assert result.exit_code == 1 and "no such head:label to leave out of the agreement loss: abusive" in result.output


def test_train_refuses_an_unknown_start_version_before_reading_the_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_MODEL_STORE", str(tmp_path / "store"))
    missing = tmp_path / "no-corpus.jsonl.gz"
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--start-from", "v99"])
    assert result.exit_code == 1 and "--start-from v99: no such version; known: " in result.output
    served = (Path(__file__).parents[2] / "models" / "CURRENT").read_text().strip()
    assert served in result.output  # the versions in models/ are named
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--start-from", served, "--soup", "2"])
    assert result.exit_code == 1 and "cannot be combined with --soup" in result.output
    result = CliRunner().invoke(app, ["train", "--corpus", str(missing), "--anchor-abusive", "2"])
    assert result.exit_code == 1 and "it needs a version to start from" in result.output


def test_train_command_defaults_are_the_recipe_defaults():
    """One place holds the served recipe: the CLI shows TrainOptions' defaults, it does not repeat them."""
    import inspect

    from bot.classify.recipe import DEFAULTS
    from bot.cli.model_cmds import train

    defaults = {name: p.default for name, p in inspect.signature(train).parameters.items()}
    for field in ("epochs", "layers", "trained_layers", "adapter_rank", "device", "language_balance", "agreement",
                  "seed"):
        assert defaults[field] == getattr(DEFAULTS, field), field
