"""Small specs and deltas shared by the codec tests (a real adapter is 120 tensors; the decoder's
logic does not depend on size, and small inputs let hypothesis run thousands of cases)."""

from __future__ import annotations

import torch

from loraswarm.node.codec import AdapterSpec, Delta

SPEC = AdapterSpec.of([
    ("base_model.model.layers.0.q_proj.lora_A.weight", (2, 6)),
    ("base_model.model.layers.0.q_proj.lora_B.weight", (5, 2)),
    ("base_model.model.layers.1.q_proj.lora_A.weight", (2, 6)),
    ("base_model.model.layers.1.q_proj.lora_B.weight", (5, 2)),
])


def random_delta(seed: int = 0, spec: AdapterSpec = SPEC, scale: float = 0.01) -> Delta:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=generator) * scale for k, s in spec.shapes}
