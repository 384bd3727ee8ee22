"""How a version is trained: the options `coach train`, the GPU trials and the tests share.

Kept free of torch so that the CLI can show these defaults, and refuse an impossible recipe, before it imports
anything heavy. The defaults are v14's recipe (the served v15 goes on from v14 for 2 epochs: `start_from`, the
model card); `adapter_rank=0, epochs=3` is v13's faster one.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.classify.datasets import POLARITY as POLARITIES
from bot.labels import COMPLAINTS, TONES


@dataclass
class TrainOptions:
    version: str
    layers: int = 6
    trained_layers: int = 2
    adapter_rank: int = 16        # LoRA rank on the layers below the trained ones (0: they stay frozen)
    epochs: int = 5
    batch_size: int = 64
    lr_layers: float = 2e-4
    lr_heads: float = 2e-3
    lr_adapters: float = 1e-3
    max_tokens: int = 64
    polarity_loss: float = 0.5
    language_balance: float = 0.0  # 0: rows count as they come; 1: every language's complaint rows weigh the same
    agreement: float = 0.0        # weight of the cross-lingual agreement loss on translated pairs (0: off)
    agreement_heads: tuple[str, ...] = ()  # the heads it compares (empty: every head)
    agreement_free: tuple[str, ...] = ()   # "head:label" columns left out of it (neither compared nor pulled)
    agreement_top_only: bool = False      # pair losses reach only the tuned top layers and heads, not the adapters
    align: float = 0.0            # weight of pulling each translation's pooled embedding to its original's (0: off)
    start_from: str | None = None  # a version folder to go on from: its adapters kept as they are, its top trained on
    anchor_abusive: float = 0.0   # with start_from: weight of keeping each row's p(abusive) near the start's reading
    seed: int = 13
    max_rows: int | None = None   # subsample the training rows (quick trials, tests)
    threads: int | None = None
    device: str = "cpu"
    progress: bool = True

    @property
    def uses_pairs(self) -> bool:
        """Whether a loss reads translated pairs (the agreement loss, the alignment loss or both)."""
        return self.agreement > 0 or self.align > 0

    def problems(self) -> list[str]:
        """Why this recipe cannot train (empty when it can)."""
        out = []
        if self.trained_layers > self.layers:
            out.append(f"the trained layers ({self.trained_layers}) cannot exceed the layers used ({self.layers})")
        if self.trained_layers == 0 and self.adapter_rank == 0:
            out.append("nothing to train: no trained layers and no adapters (adapter rank 0)")
        if unknown := sorted(set(self.agreement_heads) - set(HEADS)):
            out.append(f"no such head for the agreement loss: {', '.join(unknown)} (heads: {', '.join(HEADS)})")
        if unknown := sorted(set(self.agreement_free) - set(HEAD_LABELS)):
            out.append(f"no such head:label to leave out of the agreement loss: {', '.join(unknown)} "
                       "(e.g. tone:abusive)")
        if self.anchor_abusive > 0 and not self.start_from:
            out.append("the abusive anchor keeps the start version's readings: it needs a version to start from")
        return out


HEADS = ("tone", "complaint", "polarity")  # version.default_heads(), named here without importing torch's side
HEAD_LABELS = tuple(f"{head}:{label}" for head, labels in
                    (("tone", TONES), ("complaint", COMPLAINTS), ("polarity", POLARITIES)) for label in labels)


DEFAULTS = TrainOptions(version="")
