"""What a delta is: the task adapter's tensor names and shapes, and the float32 tensors themselves.

The spec is pure data (no model needed), so a validator can check a delta's schema from the task's
parameters alone; ``loraswarm.node.training.adapter_spec`` derives it from a model and LoRA params.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

# A delta (or a whole adapter state: same keys, same shapes) maps adapter tensor names, in the
# spec's order, to float32 CPU tensors.
Delta = dict[str, torch.Tensor]


@dataclass(frozen=True)
class AdapterSpec:
    """The exact key set and shapes of a task's adapter, in a fixed (model) order."""

    shapes: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def of(cls, shapes: Mapping[str, Iterable[int]] | Iterable[tuple[str, Iterable[int]]]) -> AdapterSpec:
        items = shapes.items() if isinstance(shapes, Mapping) else shapes
        spec = cls(tuple((str(k), tuple(int(d) for d in v)) for k, v in items))
        if len({k for k, _ in spec.shapes}) != len(spec.shapes):
            raise ValueError("adapter spec has duplicate keys")
        return spec

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.shapes)

    def shape(self, key: str) -> tuple[int, ...]:
        return dict(self.shapes)[key]

    @property
    def numel(self) -> int:
        return sum(math.prod(s) for _, s in self.shapes)

    @property
    def fp32_bytes(self) -> int:
        return 4 * self.numel

    def zeros(self) -> Delta:
        return {k: torch.zeros(s, dtype=torch.float32) for k, s in self.shapes}

    def check(self, delta: Mapping[str, torch.Tensor]) -> None:
        """Raise ValueError unless ``delta`` has exactly this spec's keys and shapes (local misuse,
        not network input: the decoder reports those as CodecError)."""
        if set(delta) != set(self.keys):
            missing, extra = set(self.keys) - set(delta), set(delta) - set(self.keys)
            raise ValueError(f"delta keys differ from the spec: missing {sorted(missing)[:3]}, "
                             f"extra {sorted(extra)[:3]}")
        for key, shape in self.shapes:
            if tuple(delta[key].shape) != shape:
                raise ValueError(f"{key}: shape {tuple(delta[key].shape)}, spec says {shape}")
