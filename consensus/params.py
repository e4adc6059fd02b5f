"""The task's consensus parameters: fixed at task creation (the task file that carries them is
hashed on chain), so every validator runs the pipeline and the rule with the same numbers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsensusParams:
    # Self-reported sample counts are capped here before they weight FedAvg (they cannot be
    # checked; matches incentives' ScoringParams.max_samples).
    max_samples: int = 10_000
    # Free riders: an update shorter than this fraction of the round's median norm is "zero"
    # (catches tiny-noise free riders too), as is any update below the absolute min_norm.
    zero_fraction: float = 0.25
    min_norm: float = 0.0
    # Cosine above which an update duplicates an earlier commitment's (or replays an old one).
    duplicate_cos: float = 0.99
    replay_cos: float = 0.99
    # A cluster of near-duplicates is collusion (every member rejected as an attack) when its
    # original sits closer to the centre of the other updates than this fraction of their
    # median distance to it, or on one side of it in more than this fraction of coordinates
    # (free_riders._colluding). Honest updates: distance ~1.1 of the median, ~0.5 one-sided;
    # ALIE: 0.25-0.6 and 0.7-0.99 (synthetic rounds of 10 and 20 peers).
    collusion_distance: float = 0.75
    collusion_one_sided: float = 0.65
    # Pure noise: |cosine| to every other update within this many standard deviations of a
    # random direction's cosine (1 / sqrt(d)).
    noise_sigmas: float = 6.0
    # Replays are looked for among the updates of this many earlier finalized rounds (their
    # fingerprints are in the rounds' result documents, the same on every validator).
    replay_rounds: int = 4
    # Assumed Byzantine fraction f / n for Krum-family scores (Krum uses n - f - 2 neighbours).
    byzantine_fraction: float = 0.3
    # Outliers: Krum score above this multiple of the round's median score; distance to the
    # coordinate-wise median above this multiple of the median such distance.
    krum_score_factor: float = 3.0
    median_distance_factor: float = 2.0
    # An update must point the median's way: cosine to the coordinate-wise median above this
    # (0: any positive agreement; incentives pay nothing for agreement <= 0 anyway).
    median_min_cos: float = 0.0
    # Loss gate: validation loss of global + delta may exceed the global's by this fraction.
    loss_tolerance: float = 0.02
    # Rule parameters.
    trim_fraction: float = 0.2
    multi_krum_keep: int | None = None  # None: n - f
    clip_iterations: int = 3
    clip_radius: float | None = None  # None: the median distance to the current centre
    geomed_iterations: int = 8
    geomed_smoothing: float = 1e-6

    def __post_init__(self) -> None:
        fractions = (self.zero_fraction, self.byzantine_fraction, self.trim_fraction)
        if not all(0 <= f < 0.5 for f in fractions):
            raise ValueError(f"fractions must lie in [0, 0.5): {self}")
        if not 0.5 <= self.collusion_one_sided < 1:
            raise ValueError("collusion_one_sided must lie in [0.5, 1)")
        if not 0 <= self.median_min_cos < 1:
            raise ValueError("median_min_cos must lie in [0, 1)")
        if self.replay_rounds < 0:
            raise ValueError("replay_rounds must be >= 0")
        if self.max_samples < 1 or self.max_samples > 1 << 20:
            raise ValueError("max_samples must lie in [1, 2**20] (exact int64 weighted sums)")

    def byzantine(self, n: int) -> int:
        return int(self.byzantine_fraction * n)
