"""The torch-free serving path agrees with the torch reference, and refuses a tampered graph."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bot.classify.classifier import Classifier
from bot.classify.config import read_config
from bot.classify.model import load_heads, resolve_model_dir
from bot.classify.onnx_backend import OnnxClassifier, OnnxIntegrityError, export_encoder, onnx_path
from bot.settings import Settings

TEXTS = ["I was charged twice for order 48213 and nobody answers!!", "Где моя посылка? Жду уже две недели",
         "我的快递还没到", "Tere, mu parool ei tööta", "thanks, all sorted", "you useless idiots"]


@pytest.fixture(scope="module")
def model_dir():
    return resolve_model_dir(Settings(_env_file=None).coach_model_dir)


@pytest.fixture(scope="module")
def layers(model_dir):
    return read_config(model_dir).encoder_layers


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory, layers):
    directory = tmp_path_factory.mktemp("onnx")
    export_encoder(directory, quantized=True, layers=layers)  # writes the fp32 graph on the way
    return directory


@pytest.fixture(scope="module")
def encoder(layers):
    """The torch encoder at the served model's depth (overrides the session-wide full-depth one)."""
    from bot.classify.encoder import SentenceEncoder

    return SentenceEncoder(layers=layers)


@pytest.fixture(scope="module")
def reference(encoder, model_dir):
    return Classifier(load_heads(model_dir), encoder)


def test_fp32_graph_matches_torch(onnx_dir, model_dir, reference, encoder):
    onnx = OnnxClassifier.load(model_dir, onnx_dir=onnx_dir, quantized=False, export_if_missing=False)
    assert np.allclose(onnx.embed(TEXTS), encoder.encode(TEXTS), atol=1e-4)
    a, b = reference.probabilities(TEXTS), onnx.probabilities(TEXTS)
    for head in ("tone", "complaint"):
        assert np.abs(a[head] - b[head]).max() < 1e-3
    labels = [(c.language, c.tone.label, c.complaint.label) for c in onnx.classify_many(TEXTS)]
    assert labels == [(c.language, c.tone.label, c.complaint.label) for c in reference.classify_many(TEXTS)]


def test_int8_graph_agrees_within_tolerance(onnx_dir, model_dir, reference, encoder):
    onnx = OnnxClassifier.load(model_dir, onnx_dir=onnx_dir, quantized=True, export_if_missing=False)
    e1, e2 = onnx.embed(TEXTS), encoder.encode(TEXTS)
    cosine = (e1 * e2).sum(1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    assert cosine.min() >= 0.97
    a, b = reference.probabilities(TEXTS), onnx.probabilities(TEXTS)
    for head in ("tone", "complaint"):
        assert np.abs(a[head] - b[head]).max() < 0.15
        assert (a[head].argmax(1) == b[head].argmax(1)).mean() >= 5 / 6


def test_tampered_graph_is_refused(onnx_dir, model_dir, layers, tmp_path):
    for name in ("fp32.onnx", "fp32.json"):
        source = onnx_path(onnx_dir, quantized=False, layers=layers)
        source = source if name.endswith("onnx") else source.with_suffix(".json")
        (tmp_path / source.name).write_bytes(source.read_bytes())
    graph = onnx_path(tmp_path, quantized=False, layers=layers)
    with graph.open("r+b") as handle:
        handle.seek(-64, 2)
        handle.write(b"\x00" * 8)
    with pytest.raises(OnnxIntegrityError, match="does not match"):
        OnnxClassifier.load(model_dir, onnx_dir=tmp_path, quantized=False, export_if_missing=False)


def test_serving_path_never_imports_torch_or_sklearn(onnx_dir, model_dir):
    code = (
        "import sys; from pathlib import Path; from bot.classify.onnx_backend import OnnxClassifier; "
        f"c = OnnxClassifier.load(Path({str(model_dir)!r}), onnx_dir=Path({str(onnx_dir)!r}), export_if_missing=False); "
        "print(c.classify('where is my parcel??').complaint.label); print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[-2:] == ["False", "False"]


def test_bags_from_counts_hashed_for_the_linear_half_equal_direct_hashing(model_dir):
    """The serving path hashes char n-grams once (2^18 buckets) and folds them into the deep table."""
    from bot.classify.features import ngram_ids
    from bot.classify.linear import CHAR_BUCKETS
    from bot.classify.onnx_backend import NumpyHeads

    heads = NumpyHeads(model_dir, read_config(model_dir))
    folded = heads.bags(TEXTS, [ngram_ids(t, CHAR_BUCKETS) for t in TEXTS])
    np.testing.assert_allclose(folded, heads.bags(TEXTS), atol=1e-5)
