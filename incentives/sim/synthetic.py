"""A cheap stand-in for LoRA training: deltas are vectors around a per-round true direction.

Round r has a true update direction ``u_r`` (unit norm, seeded). An honest peer's delta is
``u_r + b_i + e``: its data's own bias ``b_i`` (fixed per peer, non-IID) plus per-round noise.
The numbers are sized like the real measurements in DESIGN section 11 relative to each other
(honest deltas agree with the mean at cosine ~0.7, scaled attacks are ~10x the honest norm), so
the validation rules see the same picture at a tiny fraction of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIM = 256
BIAS_NORM = 0.3
NOISE_NORM = 0.8


@dataclass(frozen=True)
class SyntheticTask:
    seed: int
    dim: int = DIM

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *stream])

    def _unit(self, *stream: int) -> np.ndarray:
        v = self._rng(*stream).standard_normal(self.dim)
        return v / np.linalg.norm(v)

    def direction(self, round_id: int) -> np.ndarray:
        return self._unit(0, round_id)

    def honest_delta(self, peer_index: int, round_id: int) -> np.ndarray:
        bias = BIAS_NORM * self._unit(1, peer_index)
        noise = NOISE_NORM * self._unit(2, peer_index, round_id)
        return self.direction(round_id) + bias + noise

    def noise_delta(self, peer_index: int, round_id: int) -> np.ndarray:
        """Random vector with an honest-looking norm and no information."""
        norm = float(np.linalg.norm(self.honest_delta(peer_index, round_id)))
        return norm * self._unit(3, peer_index, round_id)
