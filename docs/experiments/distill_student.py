"""Trial, not served: distil the served encoder (MiniLM, first 2 layers) into a small multilingual student with
its own sentencepiece vocabulary, then train v10's recipe on the student's embeddings and score it.

Issue 5 asked to weigh this option against the others. Run from the repository root, after `coach data build`:

    python docs/experiments/distill_student.py [--epochs 8] [--out /tmp/trials]

Teacher targets: an English text's own MiniLM embedding, and for a translated text the embedding of its English
source (our translated_* files, and the en-ru pairs of ../shared/data/ru_goemotions, minus any text that is in the
validation split). No validation line is ever seen by the student, its vocabulary or the heads.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bot.classify.datasets import read_corpus
from bot.classify.encoder import SentenceEncoder
from bot.classify.training import EmbeddingCache

ROOT = Path(__file__).resolve().parents[2]
HANDWRITTEN = ROOT / "data" / "handwritten"
PAIRS = {"translated_{}.jsonl": "translation_source_en.jsonl",
         "translated_chat_{}.jsonl": "translation_source_en_chat.jsonl",
         "translated_more_{}.jsonl": "translation_source_en_more.jsonl"}
MAX_TOKENS = 48


def parallel_pairs(val_texts: set[str]) -> list[tuple[str, str, str]]:
    """(lang, text, english source) for every translation we hold, none from the validation split."""
    pairs = []
    for target, source in PAIRS.items():
        english = {r["id"]: r["text"] for r in map(json.loads, (HANDWRITTEN / source).open(encoding="utf-8"))}
        for lang in ("ru", "zh", "et"):
            for row in map(json.loads, (HANDWRITTEN / target.format(lang)).open(encoding="utf-8")):
                source_text = english.get(row.get("id"))
                if source_text and row["text"] not in val_texts and source_text not in val_texts:
                    pairs.append((lang, row["text"], source_text))
    with (ROOT.parent / "shared" / "data" / "ru_goemotions" / "ru_goemotions.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["text"] not in val_texts and row["text_en"] not in val_texts:
                pairs.append(("ru", row["text"], row["text_en"]))
    return pairs


def train_vocabulary(texts: list[str], size: int):
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, vocab_size=size,
                                   model_type="unigram", character_coverage=0.9995, num_threads=2,
                                   normalization_rule_name="nmt_nfkc_cf", shuffle_input_sentence=False)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


class Student(nn.Module):
    def __init__(self, vocab: int, dim: int = 128, layers: int = 2, heads: int = 4, out: int = 384):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim, padding_idx=0)
        self.positions = nn.Embedding(MAX_TOKENS, dim)
        block = nn.TransformerEncoderLayer(dim, heads, dim * 4, dropout=0.1, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.project = nn.Linear(dim, out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
        x = self.encoder(x, src_key_padding_mask=~mask)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return nn.functional.normalize(self.project(pooled), dim=1)


def batch_ids(sp, texts: list[str]) -> torch.Tensor:
    pieces = [[i + 1 for i in sp.encode(t)][:MAX_TOKENS] or [1] for t in texts]  # 0 is padding
    ids = torch.zeros((len(texts), max(map(len, pieces))), dtype=torch.long)
    for row, p in enumerate(pieces):
        ids[row, : len(p)] = torch.tensor(p)
    return ids


def encode_with(student: Student, sp, texts: list[str], batch: int = 256) -> np.ndarray:
    student.eval()
    out = np.zeros((len(texts), 384), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            out[idx] = student(batch_ids(sp, [texts[i] for i in idx])).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/trials"))
    args = parser.parse_args()
    torch.manual_seed(13)
    torch.set_num_threads(2)
    examples = read_corpus(ROOT / "data" / "corpus.jsonl.gz")
    val_texts = {e.text for e in examples if e.split == "val"}
    train = [e for e in examples if e.split != "val"]
    pairs = parallel_pairs(val_texts)
    held = pairs[::20]  # 5 % of the pairs to measure cross-lingual agreement; never trained on
    pairs = [p for i, p in enumerate(pairs) if i % 20]
    print(f"{len(train)} training rows, {len(pairs)} parallel pairs (+{len(held)} held out)")

    sp = train_vocabulary([e.text for e in train] + [t for _, t, _ in pairs], args.vocab)
    teacher = EmbeddingCache(SentenceEncoder(layers=2).encode, ROOT / ".cache" / "layers2")
    english = [e.text for e in train if e.lang == "en"]
    inputs = english + [t for _, t, _ in pairs] * 3  # the pairs are few: seen three times an epoch
    targets = torch.from_numpy(np.concatenate([teacher(english), np.tile(teacher([s for _, _, s in pairs]), (3, 1))]))
    student = Student(sp.get_piece_size() + 1)
    optimiser = torch.optim.AdamW(student.parameters(), lr=1e-3, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(inputs) / 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    held_by_lang = {lang: [(t, src) for l, t, src in held if l == lang] for lang in ("ru", "zh", "et")}
    held_targets = {lang: teacher([src for _, src in rows]) for lang, rows in held_by_lang.items()}  # once
    started = time.perf_counter()
    for epoch in range(args.epochs):
        student.train()
        order = torch.randperm(len(inputs)).tolist()
        total = 0.0
        for s in range(0, len(order), 128):
            idx = order[s : s + 128]
            out = student(batch_ids(sp, [inputs[i] for i in idx]))
            loss = (1 - (out * targets[idx]).sum(1)).mean()  # cosine distance to the teacher
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        agree = {}
        for lang, rows in held_by_lang.items():
            a = encode_with(student, sp, [t for t, _ in rows])
            agree[lang] = float((a * held_targets[lang]).sum(1).mean())
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, held-out cosine to the English teacher "
              + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()) + f" ({time.perf_counter() - started:.0f} s)")

    # v10's recipe with the student as the encoder
    import bot.classify.encoder as encoder_module
    from bot.cli import app

    encoder_module.SentenceEncoder.encode = lambda self, texts, batch_size=64, progress=None: encode_with(
        student, sp, list(texts))
    app(["train", "--models-dir", str(args.out), "--version", "student", "--no-cache", "--no-set-current"],
        standalone_mode=False)


if __name__ == "__main__":
    main()
