"""The torch model: e5-small's first `layers` layers, mean pooling, one linear head per output.

Split in two so training stays affordable on two CPU cores: `lower()` runs the frozen embeddings and
layers once per training text (cached), `upper()` runs the fine-tuned top layers, pooling and heads on
those cached states every epoch. `forward()` is both, which is what serving and the ONNX export run.

With `adapter_rank` > 0 the lower layers are not frozen either: each of their linear maps learns a low-rank
update (LoRA, W + scale * B @ A), stored with the version (~0.2 MB per layer at rank 16) and merged into
the base weights when the version loads, so serving and the ONNX graph see plain linear layers.
"""
from __future__ import annotations

import math
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


# the linear maps of a BertLayer that adapters update (all of them)
ADAPTED = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


class LoRALinear(nn.Module):
    """A frozen linear map plus a trainable low-rank update; B starts at zero, so training starts from the base."""

    def __init__(self, base: nn.Linear, rank: int, scale: float):
        super().__init__()
        self.base = base
        self.scale = scale
        device = base.weight.device
        self.a = nn.Parameter(torch.randn(rank, base.in_features, device=device) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


def _parent(layer: nn.Module, path: str) -> tuple[nn.Module, str]:
    owner, _, name = path.rpartition(".")
    return layer.get_submodule(owner), name


class RecoveryModel(nn.Module):
    def __init__(self, bert: nn.Module, config: ModelConfig, dropout: float = 0.1):
        super().__init__()
        self.config = config
        self.bert = bert
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(HIDDEN, len(labels)) for h, labels in config.heads.items()})
        self.split = config.layers - config.trained_layers
        self.adapted = range(self.split) if config.adapter_rank > 0 else range(0)
        # a loaded version's adapter factors, already merged into the lower layers: saved again with the model,
        # so a version trained on from another (train --start-from) keeps them
        self.merged_adapters: dict[str, torch.Tensor] = {}

    def add_adapters(self) -> None:
        """Wrap the lower layers' linear maps in LoRA updates (training only; versions load merged)."""
        for index in self.adapted:
            layer = self.bert.encoder.layer[index]
            for path in ADAPTED:
                parent, name = _parent(layer, path)
                linear = getattr(parent, name)
                if not isinstance(linear, LoRALinear):
                    setattr(parent, name, LoRALinear(linear, self.config.adapter_rank, self.config.adapter_scale))

    def adapters(self) -> dict[str, LoRALinear]:
        found = {}
        for index in self.adapted:
            for path in ADAPTED:
                module = self.bert.encoder.layer[index].get_submodule(path)
                if isinstance(module, LoRALinear):
                    found[f"adapter.{index}.{path}"] = module
        return found

    @classmethod
    def from_base(cls, base_dir: Path, config: ModelConfig) -> "RecoveryModel":
        bert = load_bert(base_dir, layers=config.layers, attn_implementation="eager")
        return cls(bert, config)

    def trainable(self) -> list[nn.Parameter]:
        """The top layers, the heads and any adapters; everything else stays the pip package's weights."""
        for p in self.parameters():
            p.requires_grad_(False)
        params = [p for layer in self.bert.encoder.layer[self.split:] for p in layer.parameters()]
        params += [p for adapter in self.adapters().values() for p in (adapter.a, adapter.b)]
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
        return self.read(self.pool(hidden, attention_mask))

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The top layers' mean-pooled output: what every head reads (and what `train --align` compares)."""
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[self.split:]:
            hidden = _run(layer, hidden, mask)
        return mean_pool(hidden, attention_mask)

    def read(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(pooled)
        return {head: linear(pooled) for head, linear in self.heads.items()}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.upper(self.lower(input_ids, attention_mask), attention_mask)

    # ---- a version's files: only what training changed -----------------------------------------
    def version_state(self) -> dict[str, torch.Tensor]:
        state = {f"heads.{k}": v for k, v in self.heads.state_dict().items()} | self.merged_adapters
        for offset, layer in enumerate(self.bert.encoder.layer[self.split:]):
            state |= {f"layer.{self.split + offset}.{k}": v for k, v in layer.state_dict().items()}
        for key, adapter in self.adapters().items():
            state |= {f"{key}.a": adapter.a, f"{key}.b": adapter.b}
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
        for index in model.adapted:
            for path in ADAPTED:
                key = f"adapter.{index}.{path}"
                if f"{key}.a" not in state:
                    raise ValueError(f"{directory / WEIGHTS} lacks the adapter {key} its config promises")
                linear = model.bert.encoder.layer[index].get_submodule(path)
                with torch.no_grad():
                    linear.weight += config.adapter_scale * (state[f"{key}.b"].float() @ state[f"{key}.a"].float())
                model.merged_adapters |= {f"{key}.a": state[f"{key}.a"], f"{key}.b": state[f"{key}.b"]}
        model.eval()
        return model

