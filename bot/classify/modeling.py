"""The torch model: e5-small's first `layers` layers, mean pooling, one linear head per output.

Split in two so training stays affordable on two CPU cores: `lower()` runs the frozen embeddings and
layers once per training text (cached), `upper()` runs the fine-tuned top layers, pooling and heads on
those cached states every epoch. `forward()` is both, which is what serving and the ONNX export run.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from bot.classify.e5_base import load_bert
from bot.classify.version import HIDDEN, WEIGHTS, ModelConfig


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(n, t) 1/0 -> (n, 1, 1, t) 0/-inf-ish, the form every BERT attention implementation adds to scores."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    weights = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def _run(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = layer(hidden, attention_mask=mask)
    return out[0] if isinstance(out, tuple) else out


class RecoveryModel(nn.Module):
    def __init__(self, bert: nn.Module, config: ModelConfig, dropout: float = 0.1):
        super().__init__()
        self.config = config
        self.bert = bert
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(HIDDEN, len(labels)) for h, labels in config.heads.items()})
        self.split = config.layers - config.trained_layers

    @classmethod
    def from_base(cls, base_dir: Path, config: ModelConfig) -> "RecoveryModel":
        bert = load_bert(base_dir, layers=config.layers, attn_implementation="eager")
        return cls(bert, config)

    def trainable(self) -> list[nn.Parameter]:
        """The top layers and the heads; everything below stays the pip package's weights."""
        for p in self.parameters():
            p.requires_grad_(False)
        params = [p for layer in self.bert.encoder.layer[self.split:] for p in layer.parameters()]
        params += list(self.heads.parameters())
        for p in params:
            p.requires_grad_(True)
        return params

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[: self.split]:
            hidden = _run(layer, hidden, mask)
        return hidden

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[self.split:]:
            hidden = _run(layer, hidden, mask)
        pooled = self.dropout(mean_pool(hidden, attention_mask))
        return {head: linear(pooled) for head, linear in self.heads.items()}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.upper(self.lower(input_ids, attention_mask), attention_mask)

    # ---- a version's files: only what training changed -----------------------------------------
    def version_state(self) -> dict[str, torch.Tensor]:
        state = {f"heads.{k}": v for k, v in self.heads.state_dict().items()}
        for offset, layer in enumerate(self.bert.encoder.layer[self.split:]):
            state |= {f"layer.{self.split + offset}.{k}": v for k, v in layer.state_dict().items()}
        return {k: v.detach().to(torch.float16).contiguous() for k, v in state.items()}

    def save_version(self, directory: Path, vocabulary: torch.Tensor | None = None) -> None:
        """`vocabulary`: the piece ids serving keeps (training text + every single character), see vocabulary.py."""
        self.config.save(directory)
        state = self.version_state()
        if vocabulary is not None:
            state["vocab.kept"] = vocabulary.to(torch.int32).contiguous()
        save_file(state, str(directory / WEIGHTS), metadata={"version": self.config.version})

    @classmethod
    def load_version(cls, directory: Path, base_dir: Path, config: ModelConfig) -> "RecoveryModel":
        model = cls.from_base(base_dir, config)
        state = load_file(str(directory / WEIGHTS))
        heads = {k[len("heads."):]: v.float() for k, v in state.items() if k.startswith("heads.")}
        model.heads.load_state_dict(heads)
        for index in range(model.split, config.layers):
            prefix = f"layer.{index}."
            layer_state = {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}
            model.bert.encoder.layer[index].load_state_dict(layer_state)
        model.eval()
        return model

