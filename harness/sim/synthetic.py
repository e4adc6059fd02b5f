"""A cheap stand-in for LoRA training: deltas are vectors around a per-round true direction.

Round r has a true update direction ``u_r`` (unit norm, seeded), which keeps ``PERSISTENCE`` of a
task-wide trend as consecutive rounds of real training do (so that the last global change predicts
the next round's, what a mimicking free rider relies on). An honest peer's delta is
``u_r + b_i + e``: its data's own bias ``b_i`` (fixed per peer, non-IID) plus per-round noise.
Honest deltas agree with their mean at cosine ~0.8, like real ones of one task (measured on
SmolLM2-135M LoRA deltas of fortunes topics), so the validation rules see the same picture at a
tiny fraction of the cost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

DIM = 256
BIAS_NORM = 0.3
NOISE_NORM = 0.8
# Honest deltas have norm ~1.3; the task's norm bound sits at three times that.
NORM_BOUND = 4.0
# Cosine of each round's direction with the task's trend: consecutive directions agree at ~0.64
# and the last global change with the next honest mean at ~0.6 (real SmolLM2-135M LoRA rounds,
# benchmarks/robustness.py: 0.83).
PERSISTENCE = 0.8


@dataclass(frozen=True)
class SyntheticTask:
    seed: int
    dim: int = DIM

    def _unit(self, *stream: int) -> torch.Tensor:
        digest = hashlib.sha256(repr((self.seed, *stream)).encode()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") >> 1)
        v = torch.randn(self.dim, generator=generator, dtype=torch.float64)
        return v / v.norm()

    def direction(self, round_id: int) -> torch.Tensor:
        v = PERSISTENCE * self._unit(4) + (1 - PERSISTENCE ** 2) ** 0.5 * self._unit(0, round_id)
        return v / v.norm()

    def honest_delta(self, peer_index: int, round_id: int) -> torch.Tensor:
        bias = BIAS_NORM * self._unit(1, peer_index)
        noise = NOISE_NORM * self._unit(2, peer_index, round_id)
        return (self.direction(round_id) + bias + noise).to(torch.float32)

    def jitter(self, peer_index: int, round_id: int) -> torch.Tensor:
        """A unit direction per peer and round, independent of every honest delta's."""
        return self._unit(3, peer_index, round_id).to(torch.float32)
