"""Synthetic rounds for tests and benchmarks: LoRA-shaped deltas with the structure of real ones
(a direction every honest peer shares, which persists from round to round as a task's trend
does, a per-peer topic direction, training noise) and attackers from the attack library, each
crafting its own row. Real deltas of the real model are the benchmark's job; these let the
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


def _unit(rows: int, d: int, generator: torch.Generator) -> torch.Tensor:
    x = torch.randn((rows, d), generator=generator, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


@dataclass(frozen=True)
class Population:
    """Honest deltas: norm ~ ``scale``, pairwise cosine ~ shared^2 / (shared^2 + topic^2 + noise^2).

    The shared direction is drawn per call unless ``trend`` is given: a unit direction the task
    keeps from round to round, of which each round's shared direction holds ``persistence`` (the
    rest is the round's own), as consecutive rounds of real training agree."""

    d: int
    scale: float = 4.0
    shared: float = 1.0
    topic: float = 0.7
    noise: float = 0.7
    persistence: float = 0.8

    def honest(self, peers: int, generator: torch.Generator, trend: torch.Tensor | None = None) -> torch.Tensor:
        common = _unit(1, self.d, generator)
        if trend is not None:
            fresh = (1 - self.persistence ** 2) ** 0.5
            mixed = self.persistence * trend.to(torch.float64) / trend.norm() + fresh * common
            common = mixed / mixed.norm()
        total = (self.shared ** 2 + self.topic ** 2 + self.noise ** 2) ** 0.5
        mix = (self.shared * common + self.topic * _unit(peers, self.d, generator)
               + self.noise * _unit(peers, self.d, generator))
        return (self.scale / total * mix).to(torch.float32)

    def trend(self, generator: torch.Generator) -> torch.Tensor:
        return _unit(1, self.d, generator)[0].to(torch.float32)


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
                   malicious: int, generator: torch.Generator, previous: torch.Tensor | None = None,
                   changes: tuple[torch.Tensor, ...] = (), ctx: RoundContext | None = None,
                   trend: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int]]:
    """Flat deltas of one round, honest rows first then the attackers' own crafted rows
    (interleaved positions are the caller's choice), and the indices of the attackers. The
    attackers' own trainings are honest rows of the same population; their cheap trainings carry
    0.3 of that signal plus noise of its norm (real 2-step trainings: cosine 0.06-0.26 to the
    honest mean, 8-step ones 0.6-0.7)."""
    benign = population.honest(honest + malicious, generator, trend)
    own = benign[honest:]
    noise = _unit(malicious, population.d, generator) * own.to(torch.float64).norm(dim=1, keepdim=True)
    cheap = (0.3 * own.to(torch.float64) + noise).to(torch.float32)
    view = AttackView(own=own, benign=benign[:honest], peers=honest + malicious, generator=generator,
                      previous=previous, changes=changes, cheap=cheap, ctx=ctx)
    crafted = attack(view)
    assert crafted.shape == own.shape, (crafted.shape, own.shape)
    return torch.cat([benign[:honest], crafted]), list(range(honest, honest + malicious))
