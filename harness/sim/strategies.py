"""What each simulated peer sends in a round, crafted with the attack library (harness/attacks).

Free riders want pay without work; attackers want to move the model:
- no_show: commits, never reveals (keeps the option to withhold).
- zero: reveals an all-zero delta (``attacks.zero_delta``).
- copycat: commit-reveal hides this round's deltas until after the commit, so the freshest thing
  it can copy is an honest delta of the previous round (``attacks.replay``).
- noise: Gaussian noise at the honest deltas' scale (``attacks.gaussian``).
- mimic: Fraboni et al.'s disguised free rider (``attacks.mimic``): the last public change of
  the global, rescaled to the previous round's median norm, plus its own noise; no training.
- mimic_history: the same from the sum of the last three global changes (``attacks.mimic_history``).
- mimic_mixed: the mimic mixed half and half with its own cheap training (a fraction of an honest
  peer's work: ``cheap_delta``), rescaled, plus noise (``attacks.mimic_mixed``).
- inflated: the mixed mimic, claiming far more samples than any honest peer (``CLAIMS``).
- scaling: its own honest delta boosted n / f times (``attacks.scaling``, model replacement).
- alie: "A Little Is Enough" (``attacks.alie``): the colluders share mean - z * std of the honest
  deltas, coordinate-wise, and each adds its own jitter (its own generator), so that no two of
  them send the same vector. They are given this round's honest deltas, the literature's
  omniscient attacker; commit-reveal denies them that in the real protocol, so this is the
  stronger-than-possible variant.
- sybil: one operator behind many identities, each fresh (the run replaces them every
  ``SimConfig.sybil_lifetime`` rounds). It trains once, on one dataset (``SYBIL_DATA``), and
  reveals that delta from every identity with a jitter large enough to pass the near-duplicate
  test, each identity claiming the whole dataset's sample count: one unit of work paid k times.
- slow_poison: honest until round ``RoundView.poison_from``, then the scaling attack, spending
  the reputation it built.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from harness.attacks import (
    AttackView,
    alie,
    gaussian,
    inflated_claim,
    mimic,
    mimic_history,
    mimic_mixed,
    replay,
    scaling,
    zero_delta,
)
from harness.sim.synthetic import SyntheticTask


class Strategy(Enum):
    HONEST = "honest"
    NO_SHOW = "no_show"
    ZERO = "zero"
    COPYCAT = "copycat"
    NOISE = "noise"
    MIMIC = "mimic"
    MIMIC_HISTORY = "mimic_history"
    MIMIC_MIXED = "mimic_mixed"
    INFLATED = "inflated"
    SCALING = "scaling"
    ALIE = "alie"
    SYBIL = "sybil"
    SLOW_POISON = "slow_poison"

    @property
    def group(self) -> str:
        if self is Strategy.HONEST:
            return "honest"
        if self is Strategy.SYBIL:
            return "sybil"  # judged by the operator's total over its identities, not per identity
        if self in (Strategy.SCALING, Strategy.ALIE, Strategy.SLOW_POISON):
            return "attacker"
        return "free_rider"


# The Sybil operator's one dataset: a peer index no simulated peer has.
SYBIL_DATA = 1_000_000
# Per-identity jitter on the Sybil's delta (honest norm ~1.3): pairwise cosines ~0.95, under
# consensus's near-duplicate threshold (0.99), while agreement stays honest-like.
SYBIL_JITTER = 0.3
# The free riders that mimic the global's history.
MIMICS = frozenset({Strategy.MIMIC, Strategy.MIMIC_HISTORY, Strategy.MIMIC_MIXED, Strategy.INFLATED})
# Self-reported sample counts other than the peer's own (the run's default): the inflating free
# rider claims more than any honest peer holds (consensus caps it: max_samples, claim_factor).
CLAIMS: dict[Strategy, int] = {Strategy.INFLATED: 10_000}
# Cheap training: this share of the honest signal, the rest its own noise (real 2-step trainings
# of SmolLM2-135M: cosine 0.06-0.26 to the honest mean, against 0.6-0.7 for 8 steps).
CHEAP_SIGNAL = 0.3


@dataclass(frozen=True)
class RoundView:
    """What a strategy may use: the task, this round's honest deltas (for the omniscient ALIE
    colluders), the honest deltas of the previous round (what a copycat can replay), how many
    peers of the round share the caller's strategy (the attacks' f), and the public history: the
    global's recent changes (oldest first) and the previous round's median update norm."""

    task: SyntheticTask
    round_id: int
    peers: int
    honest: torch.Tensor  # (m, d)
    previous: torch.Tensor | None  # (m, d)
    same_strategy: dict[Strategy, int]
    poison_from: int = 0  # the round a slow poisoner turns
    changes: tuple[torch.Tensor, ...] = ()
    typical_norm: float | None = None


def cheap_delta(task: SyntheticTask, peer_index: int, round_id: int) -> torch.Tensor:
    """A cheap training: a little of the peer's honest signal, mostly its own noise."""
    own = task.honest_delta(peer_index, round_id)
    return CHEAP_SIGNAL * own + float(own.norm()) * task.jitter(peer_index, round_id)


def make_delta(strategy: Strategy, peer_index: int, view: RoundView) -> torch.Tensor | None:
    """The flat float32 delta a peer reveals this round, or None if it does not reveal."""
    if strategy is Strategy.NO_SHOW:
        return None
    own = view.task.honest_delta(peer_index, view.round_id)
    if strategy is Strategy.HONEST or (strategy is Strategy.SLOW_POISON and view.round_id < view.poison_from):
        return own
    if strategy is Strategy.SYBIL:
        jitter = view.task.jitter(peer_index, view.round_id)
        return view.task.honest_delta(SYBIL_DATA, view.round_id) + SYBIL_JITTER * jitter
    previous = None if view.previous is None else view.previous[peer_index % len(view.previous)]
    # Each peer crafts its own row (f rows of one view would share one generator's draws).
    attack_view = AttackView(
        own=own[None], benign=view.honest, peers=view.peers,
        generator=torch.Generator().manual_seed(view.task.seed * 1_000_003 + view.round_id * 1_009 + peer_index),
        previous=None if previous is None else previous[None], changes=view.changes,
        typical_norm=view.typical_norm,
        cheap=cheap_delta(view.task, peer_index, view.round_id)[None] if strategy in MIMICS else None,
        colluders=view.same_strategy.get(strategy, 1),
    )
    if strategy is Strategy.ZERO or (strategy is Strategy.COPYCAT and previous is None):
        # In round 0 there is nothing to replay yet: the copycat sends nothing of value either.
        return zero_delta(attack_view)[0]
    attack = {Strategy.COPYCAT: replay, Strategy.NOISE: gaussian, Strategy.SCALING: scaling, Strategy.ALIE: alie,
              Strategy.SLOW_POISON: scaling, Strategy.MIMIC: mimic, Strategy.MIMIC_HISTORY: mimic_history,
              Strategy.MIMIC_MIXED: mimic_mixed, Strategy.INFLATED: inflated_claim}
    return attack[strategy](attack_view)[0]
