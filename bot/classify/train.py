"""Fine-tune the top encoder layers, LoRA adapters on the layers below, and the heads: what `coach train` runs.

v14's recipe (the defaults; the served v15 goes on from it) tunes the top 2 of 6 layers and rank-16 adapters on
the 4 below for 5 epochs; every step runs the whole model, about 6 minutes per epoch on two CPU cores, seconds on a GPU
(`device="cuda"`). With `adapter_rank=0` (v13's recipe) the lower layers stay frozen, run once per text and are
cached (fp16), and each epoch runs only the top layers, pooling and heads: about 5 times faster. Batches are
length-bucketed. Every head learns only from rows that carry its label (masked, weighted losses); the partial
label "not abusive" pushes p(abusive) down without claiming any other tone. `start_from` goes on from a version
instead of the base: its adapters are merged and frozen (so the lower layers are cached as in v13's recipe) and
saved again unchanged; `anchor_abusive` holds each row's p(abusive) at that version's reading meanwhile.
"""
from __future__ import annotations

import math
import platform
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bot.classify.datasets import NOT_ABUSIVE, Example
from bot.classify.e5_base import load_tokenizer
from bot.classify.inputs import InputEncoder, by_length, pad
from bot.classify.modeling import RecoveryModel
from bot.classify.recipe import TrainOptions
from bot.classify.version import ModelConfig, read_config
from bot.classify.vocabulary import kept_pieces

IGNORE = -1
PAIRS_PER_STEP = 8  # translated pairs added to each step when the agreement or alignment loss is on
WEAK_NONE = 0.5  # a positive message is almost never a complaint: a weak 'none' for rows with no complaint label


@dataclass
class Targets:
    index: np.ndarray   # (n,) label index or IGNORE
    weight: np.ndarray  # (n,) row weight (0 where IGNORE)


def build_targets(rows: list[Example], config: ModelConfig) -> dict[str, Targets]:
    out = {}
    for head, labels in config.heads.items():
        index = np.full(len(rows), IGNORE, np.int64)
        weight = np.zeros(len(rows), np.float32)
        for i, e in enumerate(rows):
            label, w = getattr(e, head), getattr(e, f"{head}_w")
            if head == "complaint" and label is None and (e.tone == "positive" or e.polarity == "positive"):
                label, w = "none", WEAK_NONE
            if label in labels and w > 0:
                index[i], weight[i] = labels.index(label), w
        out[head] = Targets(index, weight)
    not_abusive = np.array([e.tone_w if e.tone == NOT_ABUSIVE else 0.0 for e in rows], np.float32)
    out["not_abusive"] = Targets(np.where(not_abusive > 0, 0, IGNORE), not_abusive)
    return out


def balance_languages(targets: Targets, languages: list[str], power: float) -> Targets:
    """Scale each language's rows toward the same total weight (power 1: equal; 0: unchanged).

    English public sets outnumber every other language's complaint rows about 3:1, and the head learned
    English wording best (the complaint gap on the chat lines); this moves weight, not rows.
    """
    if power <= 0:
        return targets
    labelled = targets.index >= 0
    totals = {lang: float(targets.weight[labelled & (np.array(languages) == lang)].sum()) for lang in set(languages)}
    totals = {lang: t for lang, t in totals.items() if t > 0}
    if not totals:
        return targets
    mean = sum(totals.values()) / len(totals)
    scale = np.array([(mean / totals[lang]) ** power if lang in totals else 1.0 for lang in languages], np.float32)
    return Targets(targets.index, targets.weight * scale)


def class_weights(targets: Targets, n_classes: int) -> np.ndarray:
    """Inverse square root of each class's weighted count, mean 1 over present classes: rare classes count."""
    counts = np.bincount(targets.index[targets.index >= 0], weights=targets.weight[targets.index >= 0],
                         minlength=n_classes)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1e-9)), 0.0)
    present = weights > 0
    return (weights / weights[present].mean()).astype(np.float32) if present.any() else weights.astype(np.float32)


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Rows of similar length together (little padding), batches in random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _padded(ids: list[list[int]], rows: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    batch = pad([ids[i] for i in rows], pad_id=1)
    return torch.from_numpy(batch.input_ids).to(device), torch.from_numpy(batch.attention_mask).to(device)


def pair_pooled(model: RecoveryModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                top_only: bool) -> torch.Tensor:
    """The translated pairs' pooled embeddings for the pair losses. `top_only` runs the adapted lower layers without
    gradient, so that the losses move only the top layers and heads, as they do by construction in v13's recipe
    (frozen lower layers): on v14's recipe the agreement loss moved the lower layers and the abusive boundary with
    them (ag14f, stop 23)."""
    if not top_only:
        return model.pool(model.lower(input_ids, attention_mask), attention_mask)
    with torch.no_grad():
        hidden = model.lower(input_ids, attention_mask)
    return model.pool(hidden, attention_mask)


def encode_lower(model: RecoveryModel, ids: list[list[int]], batch_size: int = 64,
                 progress: bool = True) -> list[torch.Tensor]:
    """The frozen layers' output for every row, unpadded, fp16 on the CPU (the once-per-text part of training)."""
    states: list[torch.Tensor | None] = [None] * len(ids)
    with torch.inference_mode():
        for chunk in tqdm(by_length(ids, batch_size), desc="frozen layers", unit="batch", disable=not progress):
            hidden = model.lower(*_padded(ids, chunk, _device(model))).to("cpu", torch.float16)
            for row, i in enumerate(chunk):
                states[i] = hidden[row, :len(ids[i])].clone()
    return states  # type: ignore[return-value]


def stack(states: list[torch.Tensor], rows: list[int], device: torch.device | str = "cpu",
          ) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(states[i].shape[0] for i in rows)
    hidden = torch.zeros(len(rows), width, states[rows[0]].shape[1])
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for r, i in enumerate(rows):
        n = states[i].shape[0]
        hidden[r, :n] = states[i].float()
        mask[r, :n] = 1
    return hidden.to(device), mask.to(device)


def batch_loss(logits: dict[str, torch.Tensor], targets: dict[str, Targets], rows: list[int],
               weights: dict[str, torch.Tensor], config: ModelConfig, polarity_loss: float) -> torch.Tensor:
    device = logits["tone"].device
    total = torch.zeros((), device=device)
    for head in config.heads:
        index = torch.from_numpy(targets[head].index[rows]).to(device)
        keep = index >= 0
        if not keep.any():
            continue
        row_w = torch.from_numpy(targets[head].weight[rows]).to(device)[keep]
        row_w = row_w * weights[head].to(device)[index[keep]]
        losses = nn.functional.cross_entropy(logits[head][keep], index[keep], reduction="none")
        scale = polarity_loss if head == "polarity" else 1.0
        total = total + scale * (losses * row_w).sum() / row_w.sum().clamp(min=1e-6)
    not_abusive = torch.from_numpy(targets["not_abusive"].weight[rows]).to(device)
    if (not_abusive > 0).any():
        abusive = config.heads["tone"].index("abusive")
        log_p = torch.log_softmax(logits["tone"], 1)[:, abusive]
        log_not = torch.log1p(-log_p.exp().clamp(max=1 - 1e-6))
        total = total - (log_not * not_abusive).sum() / not_abusive.sum()
    return total


def agreement_loss(logits: dict[str, torch.Tensor], n_pairs: int, heads: Sequence[str] = (),
                   free: Mapping[str, Sequence[int]] | None = None) -> torch.Tensor:
    """How far each translation's reading is from its English original's (KL, per head, mean over pairs).

    The first n_pairs rows are the originals, the next n_pairs their translations. The English reading is the
    teacher and gets no gradient: the model reads English best (the same Reddit rows get an apology twice as often
    in Russian as in English), and the translation should be pulled to it, not the other way. `heads` limits it to
    some heads (empty: all). `free` names columns per head that are left out (the rest renormalised): the Reddit
    pairs read insults at third parties as anger, and pulling the tone head's abusive column there moved the
    abusive boundary (stop 21), while the shape of the other tones is what the translations read worse."""
    total = torch.zeros((), device=next(iter(logits.values())).device)
    for head, values in logits.items():
        if heads and head not in heads:
            continue
        if skip := set((free or {}).get(head, ())):
            values = values[:, [i for i in range(values.shape[1]) if i not in skip]]
        teacher = torch.log_softmax(values[:n_pairs].detach().float(), 1)
        student = torch.log_softmax(values[n_pairs:2 * n_pairs].float(), 1)
        total = total + (teacher.exp() * (teacher - student)).sum(1).mean()
    return total


def alignment_loss(pooled: torch.Tensor, n_pairs: int) -> torch.Tensor:
    """How far each translation's pooled embedding points from its English original's (1 - cosine, mean over pairs).

    The agreement loss compares only what the heads make of a pair (a dozen numbers per head); this compares the
    whole 384-dimensional reading every head starts from, as multilingual distillation does (Reimers & Gurevych,
    2020), so what the heads learn from English rows can carry to a translation they never saw. The English side is
    the teacher and gets no gradient, as in the agreement loss."""
    teacher = pooled[:n_pairs].detach().float()
    student = pooled[n_pairs:2 * n_pairs].float()
    return (1 - torch.nn.functional.cosine_similarity(student, teacher, dim=1)).mean()


def abusive_readings(model: RecoveryModel, states: list[torch.Tensor] | None, ids: list[list[int]],
                     device: str) -> torch.Tensor:
    """p(abusive) of the rows `ids` (the first of the cached states) as the model reads them now (no dropout),
    for anchor_loss."""
    if states is None:
        raise ValueError("the abusive anchor needs frozen, cached lower layers (a version to start from)")
    abusive = model.config.heads["tone"].index("abusive")
    out = torch.zeros(len(ids))
    model.eval()
    with torch.no_grad():
        for chunk in by_length(ids, 256):
            out[chunk] = torch.softmax(model.upper(*stack(states, chunk, device))["tone"].float(), 1)[:, abusive].cpu()
    model.train()
    return out


def anchor_loss(tone_logits: torch.Tensor, start: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Cross-entropy of each row's p(abusive) against the start version's (a soft label), minus its floor.

    Every agreement trial that went on from v14 tipped abuse aimed at staff below the boundary (stop 24): the
    abusive logit sits near the threshold and moves with the shared top layers. This holds it where the start
    had it, row by row, while the rest of the head and the layers learn."""
    abusive = config.heads["tone"].index("abusive")
    p = torch.softmax(tone_logits.float(), 1)[:, abusive].clamp(1e-6, 1 - 1e-6)
    q = start.to(p.device).clamp(1e-6, 1 - 1e-6)
    cross = -(q * p.log() + (1 - q) * (1 - p).log())
    floor = -(q * q.log() + (1 - q) * (1 - q).log())
    return (cross - floor).mean()


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The temperature minimising held-out negative log-likelihood (a 1-D grid is plenty)."""
    if len(gold) < 20:
        return 1.0
    best, best_t = math.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.4), np.log(4.0), 60)):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        nll = -(z[np.arange(len(gold)), gold] - np.log(np.exp(z).sum(1))).mean()
        if nll < best:
            best, best_t = nll, float(t)
    return round(best_t, 4)


def predict_logits(model: RecoveryModel, encoder: InputEncoder, texts: list[str],
                   batch_size: int = 64) -> dict[str, np.ndarray]:
    model.eval()
    ids = encoder.ids(texts)
    out = {h: np.zeros((len(texts), len(labels)), np.float32) for h, labels in model.config.heads.items()}
    with torch.inference_mode():
        for chunk in by_length(ids, batch_size):
            logits = model(*_padded(ids, chunk, _device(model)))
            for head, values in logits.items():
                out[head][chunk] = values.float().cpu().numpy()
    return out


def calibrate(model: RecoveryModel, encoder: InputEncoder, examples: list[Example]) -> None:
    """Each head's temperature, fitted on the trained sources' held-out 'val' slices (real text, not ours)."""
    calibration = [e for e in examples if e.split == "val" and e.source != "handwritten"]
    logits = predict_logits(model, encoder, [e.text for e in calibration])
    for head, labels in model.config.heads.items():
        keep = [i for i, e in enumerate(calibration) if getattr(e, head) in labels and getattr(e, f"{head}_w") >= 1]
        gold = np.array([labels.index(getattr(calibration[i], head)) for i in keep], np.int64)
        model.config.temperatures[head] = fit_temperature(logits[head][keep], gold)


def train_version(examples: list[Example], out_dir: Path, base_dir: Path, options: TrainOptions,
                  pairs: Sequence[tuple[str, str, str]] = ()) -> Path:
    """Train on the 'train' split, calibrate on the in-source 'val' slices, save to out_dir/version.

    `pairs` (English, translation, language; datasets.parallel_pairs) feed the agreement loss when
    `options.agreement` > 0."""
    started = time.perf_counter()
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    if options.problems():
        raise ValueError("; ".join(options.problems()))
    if options.uses_pairs and not pairs:
        raise ValueError("a pair loss (--agreement, --align) needs translated pairs")
    begun = read_config(Path(options.start_from)) if options.start_from else None
    if begun is not None:  # the architecture is the start's; its adapters are merged, frozen and saved again
        options = replace(options, layers=begun.layers, trained_layers=begun.trained_layers,
                          adapter_rank=begun.adapter_rank)
    config = ModelConfig(version=options.version, layers=options.layers, trained_layers=options.trained_layers,
                         adapter_rank=options.adapter_rank, seed=options.seed)
    rows = [e for e in examples if e.split == "train"]
    if options.max_rows and len(rows) > options.max_rows:
        rows = rng.sample(rows, options.max_rows)
    config.trained_on = dict(sorted(Counter(f"{e.lang}:{e.source.split(':')[0]}" for e in rows).items()))
    if options.start_from:
        model = RecoveryModel.load_version(Path(options.start_from), base_dir, config)  # the start's weights, merged
    else:
        model = RecoveryModel.from_base(base_dir, config)
        model.add_adapters()
    model.to(options.device)
    encoder = InputEncoder(load_tokenizer(base_dir, options.max_tokens))
    ids = encoder.ids([e.text for e in rows])
    pairs = list(pairs) if options.uses_pairs else []
    # each pair's original at len(rows) + k, its translation at len(rows) + len(pairs) + k
    all_ids = ids + encoder.ids([p[0] for p in pairs]) + encoder.ids([p[1] for p in pairs])
    free: dict[str, list[int]] = {}  # --agreement-free "head:label" -> that head's column indices
    for name in options.agreement_free:
        head, label = name.split(":", 1)
        free.setdefault(head, []).append(config.heads[head].index(label))
    pair_rng = random.Random(options.seed + 1)  # the row batches stay those of the same recipe without pairs
    # frozen lower layers (none adapted, or a start's adapters merged) run once per text; adapted ones every step
    states = None if model.adapters() else encode_lower(model, all_ids, progress=options.progress)

    def run(batch: list[int]) -> dict[str, torch.Tensor]:
        return model(*_padded(all_ids, batch, options.device)) if states is None else \
            model.upper(*stack(states, batch, options.device))

    def pooled_pairs(both: list[int]) -> torch.Tensor:
        if states is not None:
            return model.pool(*stack(states, both, options.device))
        return pair_pooled(model, *_padded(all_ids, both, options.device), options.agreement_top_only)

    # the start's own p(abusive) per training row, read once before training moves anything (--anchor-abusive)
    anchor = abusive_readings(model, states, ids, options.device) if options.anchor_abusive > 0 else None
    targets = build_targets(rows, config)
    targets["complaint"] = balance_languages(targets["complaint"], [e.lang for e in rows], options.language_balance)
    weights = {h: torch.from_numpy(class_weights(targets[h], len(labels))) for h, labels in config.heads.items()}

    params = model.trainable()
    adapter_params = [p for adapter in model.adapters().values() for p in (adapter.a, adapter.b)]
    own = set(id(p) for p in [*model.heads.parameters(), *adapter_params])
    groups = [{"params": [p for p in params if id(p) not in own], "lr": options.lr_layers},
              {"params": list(model.heads.parameters()), "lr": options.lr_heads},
              {"params": adapter_params, "lr": options.lr_adapters}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.01)
    steps = options.epochs * math.ceil(len(rows) / options.batch_size)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup)))
    losses: list[float] = []
    model.train()
    with tqdm(total=steps, desc="fine-tuning", unit="batch", disable=not options.progress) as bar:
        for _ in range(options.epochs):
            for batch in length_batches([len(i) for i in ids], options.batch_size, rng):
                logits = run(batch)
                loss = batch_loss(logits, targets, batch, weights, config, options.polarity_loss)
                if anchor is not None:
                    loss = loss + options.anchor_abusive * anchor_loss(logits["tone"], anchor[batch], config)
                if pairs:
                    chosen = pair_rng.sample(range(len(pairs)), min(PAIRS_PER_STEP, len(pairs)))
                    both = [len(rows) + k for k in chosen] + [len(rows) + len(pairs) + k for k in chosen]
                    pooled = pooled_pairs(both)
                    if options.agreement > 0:
                        loss = loss + options.agreement * agreement_loss(
                            model.read(pooled), len(chosen), options.agreement_heads, free)
                    if options.align > 0:
                        loss = loss + options.align * alignment_loss(pooled, len(chosen))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    if states:
        states.clear()  # the cached layer outputs are not needed for calibration

    serving_encoder = InputEncoder(load_tokenizer(base_dir, config.max_tokens))
    vocabulary = kept_pieces(serving_encoder.tokenizer, serving_encoder.ids([e.text for e in rows]))
    calibrate(model, serving_encoder, examples)
    directory = out_dir / options.version
    model.to("cpu").save_version(directory, torch.from_numpy(vocabulary))
    window = max(1, min(50, len(losses) // 4))
    (directory / "training.json").write_text(__import__("json").dumps({
        "version": options.version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": len(rows),
        "serving_vocabulary": len(vocabulary),
        "options": {k: v for k, v in asdict(options).items() if k != "progress"},
        # the start's name, not only its folder (a scratch path): what a rebuild needs to find it again
        "start_version": begun.version if begun is not None else None,
        # how many translated pairs the agreement loss drew from, per language (the pairs folder changes over time)
        "agreement_pairs": dict(sorted(Counter(p[2] for p in pairs).items())),
        "first_loss": round(float(np.mean(losses[:window])), 4) if losses else None,
        "final_loss": round(float(np.mean(losses[-window:])), 4) if losses else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }, indent=2) + "\n")
    return directory
