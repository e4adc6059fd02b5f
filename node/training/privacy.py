"""Optional local differential privacy for a peer's delta, DP-FedAvg style (McMahan et al. 2018,
"Learning Differentially Private Recurrent Language Models"): clip the delta's L2 norm to C, add
Gaussian noise of standard deviation z * C, and track the peer's privacy budget with the RDP
accountant of Google's ``dp-accounting`` library.

Accounting is per peer and local (no trust in aggregators, no amplification by sampling): any two
datasets of the peer give clipped deltas at most 2C apart, so each round is a Gaussian mechanism
with noise multiplier z / 2 relative to that sensitivity; rounds compose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dp_accounting
import torch
from dp_accounting.rdp import RdpAccountant

from loraswarm.node.codec import Delta
from loraswarm.node.training.adapter import delta_norm


@dataclass(frozen=True)
class DpParams:
    clip_norm: float
    noise_multiplier: float
    target_delta: float = 1e-5

    def __post_init__(self) -> None:
        if self.clip_norm <= 0 or self.noise_multiplier <= 0 or not 0 < self.target_delta < 1:
            raise ValueError("DP needs clip_norm > 0, noise_multiplier > 0 and 0 < target_delta < 1")


def clip_delta(delta: Delta, clip_norm: float) -> tuple[Delta, float]:
    """Scale the delta down to L2 norm <= clip_norm; also return its norm before clipping."""
    norm = delta_norm(delta)
    factor = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return {k: v * factor for k, v in delta.items()}, norm


def privatize(delta: Delta, params: DpParams, generator: torch.Generator | None = None) -> tuple[Delta, float]:
    """Clip and add noise. Pass a seeded generator only in tests: real noise must be unpredictable
    (the default generator is seeded from the OS)."""
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    clipped, norm = clip_delta(delta, params.clip_norm)
    std = params.noise_multiplier * params.clip_norm
    noisy = {k: v + torch.randn(v.shape, generator=generator, dtype=v.dtype) * std for k, v in clipped.items()}
    return noisy, norm


@dataclass
class PrivacyAccountant:
    """One peer's spent budget over the rounds it released a privatized delta."""

    params: DpParams
    rounds: int = 0
    _rdp: RdpAccountant = field(default_factory=RdpAccountant, repr=False)

    def record_round(self) -> None:
        self._rdp.compose(dp_accounting.GaussianDpEvent(self.params.noise_multiplier / 2))
        self.rounds += 1

    def epsilon(self) -> float:
        """epsilon at the target delta for all rounds so far (0 before the first)."""
        return self._rdp.get_epsilon(self.params.target_delta) if self.rounds else 0.0
