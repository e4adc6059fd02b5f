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
    # An update closer to the round's coordinate-wise median than this fraction of the median
    # such distance was crafted from the others (ALIE with jitter, a copy of the omniscient mean):
    # a trained update carries its own data's and noise's share (real honest updates: 0.9-1.1).
    central_factor: float = 0.5
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
    # Projection floor: an update's projection on the round's robust centre (the coordinate-wise
    # median) below this fraction of the median projection takes the round backwards more than
    # any trained update does (min-max, min-sum, ALIE, IPM, Fang: rules/README in
    # ARCHITECTURE.md, "Robust aggregation and free riders"). Real honest updates: 0.8-1.1 among
    # peers that trained the last rounds, but 0.54 for an honest peer joining with its own data
    # in a round of four (tests/node/test_network_e2e.py: at 0.75 it was slashed), hence 0.4.
    projection_floor: float = 0.4
    # An update whose residual off the median (itself less its projection on the median) sits
    # against the reference direction's sign in more than this fraction of its coordinates pushes
    # the whole round backwards coordinate by coordinate (Fang et al.'s trimmed-mean attack,
    # min-max and min-sum with the sign direction). The residual does not depend on the update's
    # length (x - c did: an honest peer at 0.72 of the median norm scored 0.706 and was slashed).
    # Real honest residuals (benchmarks' cached deltas in rounds of 3-7 peers, some scaled to 0.3-0.6
    # of their length; quick demo deltas): 0.38-0.49; Fang's and the sign-direction attacks that
    # keep their projection above the floor: 0.56-0.64.
    against_fraction: float = 0.55
    # Collusion: two updates whose deviations from the robust centre have a cosine above this
    # share a crafted core (independent trainings deviate in near-orthogonal directions: real
    # honest pairs -0.1-0.1). Linked updates count as one contributor: their rows are merged
    # before the rule and their claims split between them.
    collusion_cos: float = 0.4
    # A self-reported sample count counts at most this multiple of the round's median claim.
    claim_factor: float = 2.0
    # The aggregate's step along the round's reference direction (the last global change, else
    # the coordinate-wise median) is the median of the accepted updates' steps (aggregate.py).
    trend_median: bool = True
    # Free riders: the last this many global changes (RoundContext.changes) span what an update
    # may hold without counting as its own work (history.py). 0: no projection.
    history_changes: int = 3
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
        if not 0 <= self.central_factor < 1:
            raise ValueError("central_factor must lie in [0, 1)")
        if not 0.5 <= self.against_fraction <= 1:
            raise ValueError("against_fraction must lie in [0.5, 1]")
        if not 0 <= self.projection_floor < 1:
            raise ValueError("projection_floor must lie in [0, 1)")
        if not 0 < self.collusion_cos <= 1:
            raise ValueError("collusion_cos must lie in (0, 1] (1: never link)")
        if not self.claim_factor >= 1:
            raise ValueError("claim_factor must be at least 1")
        if not 0 <= self.history_changes <= 8:
            raise ValueError("history_changes must lie in [0, 8]")
        if not self.median_distance_factor >= 1 or not self.krum_score_factor >= 1:
            raise ValueError("outlier factors must be at least 1")
        if self.replay_rounds < 0:
            raise ValueError("replay_rounds must be >= 0")
        if self.max_samples < 1 or self.max_samples > 1 << 20:
            raise ValueError("max_samples must lie in [1, 2**20] (exact int64 weighted sums)")

    def byzantine(self, n: int) -> int:
        return int(self.byzantine_fraction * n)
