"""Synthetic rounds for tests and benchmarks: LoRA-shaped deltas with the structure of real ones
(a direction every honest peer shares, a per-peer topic direction, training noise) and attackers
from the attack library. Real deltas of the real model are the benchmark's job; these let the
pipeline and the rules be exercised in milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness.attacks import AttackView
from loraswarm.consensus.types import RoundContext, Submission


def lora_spec(layers: int = 2, hidden: int = 64, rank: int = 8) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a LoRA adapter on q_proj and v_proj, named as peft names them."""
    spec: dict[str, tuple[int, ...]] = {}
    for layer in range(layers):
        for proj in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            spec[f"{prefix}.lora_A.weight"] = (rank, hidden)
            spec[f"{prefix}.lora_B.weight"] = (hidden, rank)
    return spec


@dataclass(frozen=True)
class Population:
    """Honest deltas: norm ~ ``scale``, pairwise cosine ~ shared^2 / (shared^2 + topic^2 + noise^2)."""

    d: int
    scale: float = 4.0
    shared: float = 1.0
    topic: float = 0.7
    noise: float = 0.7

    def honest(self, peers: int, generator: torch.Generator) -> torch.Tensor:
        def unit(rows: int) -> torch.Tensor:
            x = torch.randn((rows, self.d), generator=generator, dtype=torch.float64)
            return x / x.norm(dim=1, keepdim=True)

        total = (self.shared ** 2 + self.topic ** 2 + self.noise ** 2) ** 0.5
        mix = self.shared * unit(1) + self.topic * unit(peers) + self.noise * unit(peers)
        return (self.scale / total * mix).to(torch.float32)


def submissions(ctx: RoundContext, deltas: torch.Tensor, samples: list[int] | None = None,
                peers: list[str] | None = None) -> list[Submission]:
    """Well-formed, revealed, correctly signed submissions of the given flat deltas (row order
    is commit order)."""
    n = deltas.shape[0]
    peers = peers or [f"0x{i + 1:040x}" for i in range(n)]
    samples = samples or [100] * n
    return [
        Submission(peer=peers[i], commit_index=i, base_hash=ctx.current_global_hash, sample_count=samples[i],
                   delta=ctx.unflatten(deltas[i].clone()))
        for i in range(n)
    ]


def attacked_round(population: Population, honest: int, attack: Callable[[AttackView], torch.Tensor],
                   malicious: int, generator: torch.Generator,
                   previous: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int]]:
    """Flat deltas of one round, honest rows first then the attackers' (interleaved positions
    are the caller's choice), and the indices of the attackers."""
    benign = population.honest(honest + malicious, generator)
    view = AttackView(own=benign[honest], benign=benign[:honest], previous=previous,
                      peers=honest + malicious, malicious=malicious, generator=generator)
    crafted = attack(view)
    rows = torch.cat([benign[:honest], crafted.expand(malicious, -1).clone()])
    return rows, list(range(honest, honest + malicious))
