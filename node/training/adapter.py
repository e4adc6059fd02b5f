"""The LoRA adapter as plain tensors: its spec from a model and the task's LoRA parameters,
reading and writing its state in a peft model, deltas, and a reference FedAvg.

Keys are peft's adapter-name-free state-dict keys (``...q_proj.lora_A.weight``), the same names
``get_peft_model_state_dict`` and adapter files use, in the model's module order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import PreTrainedModel

from loraswarm.node.codec import AdapterSpec, Delta
from loraswarm.protocol.taskspec import LoraSection

ADAPTER = "default"  # peft's adapter name; we only ever attach one


_TASK_DEFAULTS = LoraSection()


@dataclass(frozen=True)
class LoraParams:
    """The task's LoRA hyperparameters (its task file's ``lora`` section, whose defaults these are)."""

    rank: int = _TASK_DEFAULTS.rank
    alpha: float = _TASK_DEFAULTS.alpha
    dropout: float = _TASK_DEFAULTS.dropout
    target_modules: tuple[str, ...] = _TASK_DEFAULTS.target_modules

    @classmethod
    def of(cls, section: LoraSection) -> LoraParams:
        return cls(section.rank, section.alpha, section.dropout, tuple(section.target_modules))

    def peft_config(self) -> LoraConfig:
        return LoraConfig(
            r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
            target_modules=list(self.target_modules), bias="none", task_type="CAUSAL_LM",
        )


def _is_target(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)  # peft's suffix matching


def adapter_spec(model: PreTrainedModel, params: LoraParams) -> AdapterSpec:
    """Keys and shapes of the adapter that ``attach_lora(model, params)`` creates, derived from
    the base model's linear layers alone (a validator need not build the peft model)."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for name, module in base.named_modules():
        linear = getattr(module, "base_layer", module)
        if isinstance(linear, nn.Linear) and _is_target(name, params.target_modules):
            shapes.append((f"base_model.model.{name}.lora_A.weight", (params.rank, linear.in_features)))
            shapes.append((f"base_model.model.{name}.lora_B.weight", (linear.out_features, params.rank)))
    if not shapes:
        raise ValueError(f"no linear layer matches target modules {params.target_modules}")
    return AdapterSpec.of(shapes)


def attach_lora(model: PreTrainedModel, params: LoraParams) -> PeftModel:
    """Wrap the base model with a fresh LoRA adapter; only the adapter is trainable."""
    return get_peft_model(model, params.peft_config())


def _adapter_params(model: PeftModel) -> dict[str, nn.Parameter]:
    out = {}
    for name, param in model.named_parameters():
        for part in (".lora_A.", ".lora_B."):
            if part + ADAPTER + "." in name:
                out[name.replace(part + ADAPTER + ".", part)] = param
    return out


def get_adapter_state(model: PeftModel) -> Delta:
    """A detached float32 copy of the adapter's tensors, on the CPU (where the codec and the
    aggregation work, whatever device trained them)."""
    return {k: p.detach().to("cpu", torch.float32).clone() for k, p in _adapter_params(model).items()}


def set_adapter_state(model: PeftModel, state: Delta) -> None:
    """Load adapter tensors into the model (exact key set and shapes, or ValueError)."""
    params = _adapter_params(model)
    AdapterSpec.of((k, p.shape) for k, p in params.items()).check(state)
    with torch.no_grad():
        for key, param in params.items():
            param.copy_(state[key])


def initial_adapter(spec: AdapterSpec, seed: int) -> Delta:
    """The round-0 global adapter, a pure function of spec and seed so every peer and validator
    derives the same one: peft's default init (A ~ U(+-1/sqrt(fan_in)), i.e. kaiming-uniform with
    a=sqrt(5); B = 0, so the adapted model starts equal to the base model)."""
    generator = torch.Generator().manual_seed(seed)
    state: Delta = {}
    for key, shape in spec.shapes:
        if ".lora_A." in key:
            bound = 1.0 / math.sqrt(shape[1])
            state[key] = (torch.rand(shape, generator=generator, dtype=torch.float32) * 2 - 1) * bound
        else:
            state[key] = torch.zeros(shape, dtype=torch.float32)
    return state


def compute_delta(trained: Delta, global_state: Delta) -> Delta:
    return {k: trained[k] - global_state[k] for k in global_state}


def apply_delta(global_state: Delta, delta: Delta, scale: float = 1.0) -> Delta:
    return {k: global_state[k] + scale * delta[k] for k in global_state}


def delta_norm(delta: Delta) -> float:
    return math.sqrt(sum(float(t.double().square().sum()) for t in delta.values()))


def fedavg(deltas: Sequence[Delta], weights: Sequence[float]) -> Delta:
    """Sample-weighted mean of deltas (McMahan et al. 2017, "Communication-Efficient Learning of
    Deep Networks from Decentralized Data"). A reference for tests and benchmarks; the network's
    deterministic aggregation rules live in loraswarm.consensus."""
    if not deltas or len(deltas) != len(weights) or sum(weights) <= 0:
        raise ValueError("fedavg needs as many positive weights as deltas")
    total = float(sum(weights))
    return {
        k: (sum(float(w) * d[k].double() for d, w in zip(deltas, weights, strict=True)) / total).float()
        for k in deltas[0]
    }
