"""What the encoder contributes: the same suite scored by models that lack part of it (`coach eval --ablation`).

- `no-encoder`: a tf-idf logistic regression per head over character 1-4-grams and word unigrams of the
  normalised text (v8-v10's linear half), trained on the same rows;
- `frozen-e5`: a logistic regression per head on the mean-pooled output of the same base layers, not
  fine-tuned (heads on a frozen encoder, what the issue measured before fine-tuning);
- the fine-tuned version itself (`coach eval`).
Same training rows, same suite, same decisions and thresholds: only the model differs.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bot.classify.datasets import Example
from bot.classify.decisions import Thresholds
from bot.classify.evaluate import group_of, suite_report
from bot.classify.normalize import normalize
from bot.classify.train import build_targets
from bot.classify.version import ModelConfig

Featurise = Callable[[list[str]], np.ndarray]


def _fit_heads(features: np.ndarray, rows: Sequence[Example], config: ModelConfig):
    from sklearn.linear_model import LogisticRegression

    targets = build_targets(list(rows), config)
    models = {}
    for head, labels in config.heads.items():
        keep = targets[head].index >= 0
        model = LogisticRegression(max_iter=300, C=2.0, class_weight="balanced")
        model.fit(features[keep], targets[head].index[keep], sample_weight=targets[head].weight[keep])
        models[head] = (model, len(labels))
    return models


def _predict(models, features: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for head, (model, n) in models.items():
        probs = np.zeros((features.shape[0], n), np.float32)
        probs[:, model.classes_] = model.predict_proba(features)
        out[head] = probs
    return out


def ablate(examples: Sequence[Example], featurise: Featurise, thresholds: Thresholds,
           max_train: int = 20000, seed: int = 13) -> dict:
    rng = np.random.default_rng(seed)
    train = [e for e in examples if e.split == "train"]
    if len(train) > max_train:
        train = [train[i] for i in sorted(rng.choice(len(train), max_train, replace=False))]
    judged = [e for e in examples if group_of(e)]
    features = featurise([e.text for e in train] + [e.text for e in judged])
    models = _fit_heads(features[: len(train)], train, ModelConfig(version="ablation"))
    return suite_report(judged, _predict(models, features[len(train):]), thresholds)


def ngram_features() -> Featurise:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, max_features=200_000, sublinear_tf=True)
    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 1), min_df=2, max_features=100_000, sublinear_tf=True)
    fitted = False

    def featurise(texts: list[str]):
        nonlocal fitted
        texts = [normalize(t) for t in texts]
        if not fitted:  # fitted on every text it will see (no labels): the vocabulary only
            chars.fit(texts)
            words.fit(texts)
            fitted = True
        return hstack([chars.transform(texts), words.transform(texts)]).tocsr()

    return featurise


def frozen_features(base_dir, layers: int, batch_size: int = 64) -> Featurise:
    import torch

    from bot.classify.e5_base import load_tokenizer
    from bot.classify.inputs import InputEncoder, by_length, pad
    from bot.classify.modeling import RecoveryModel, mean_pool

    config = ModelConfig(version="frozen", layers=layers, trained_layers=1)
    model = RecoveryModel.from_base(base_dir, config).eval()
    encoder = InputEncoder(load_tokenizer(base_dir, 128))

    def featurise(texts: list[str]) -> np.ndarray:
        ids = encoder.ids(texts)
        out = np.zeros((len(texts), 384), np.float32)
        with torch.inference_mode():
            for chunk in by_length(ids, batch_size):
                batch = pad([ids[i] for i in chunk], 1)
                mask = torch.from_numpy(batch.attention_mask)
                states = model.bert(input_ids=torch.from_numpy(batch.input_ids), attention_mask=mask,
                                    token_type_ids=torch.zeros_like(mask)).last_hidden_state
                out[chunk] = torch.nn.functional.normalize(mean_pool(states, mask), dim=1).numpy()
        return out

    return featurise
