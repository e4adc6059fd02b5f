"""What each simulated peer sends in a round, crafted with consensus's attack library.

Free riders want pay without work; attackers want to move the model:
- no_show: commits, never reveals (keeps the option to withhold).
- zero: reveals an all-zero delta (``attacks.zero_delta``).
- copycat: commit-reveal hides this round's deltas until after the commit, so the freshest thing
  it can copy is an honest delta of the previous round (``attacks.replay``).
- noise: Gaussian noise at the honest deltas' scale (``attacks.gaussian``).
- scaling: its own honest delta boosted n / f times (``attacks.scaling``, model replacement).
- alie: "A Little Is Enough" (``attacks.alie``): the colluders all send mean - z * std of the
  honest deltas, coordinate-wise. They are given this round's honest deltas, the literature's
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

from harness.attacks import AttackView, alie, gaussian, replay, scaling, zero_delta
from harness.sim.synthetic import SyntheticTask


class Strategy(Enum):
    HONEST = "honest"
    NO_SHOW = "no_show"
    ZERO = "zero"
    COPYCAT = "copycat"
    NOISE = "noise"
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


@dataclass(frozen=True)
class RoundView:
    """What a strategy may use: the task, this round's honest deltas (for the omniscient ALIE
    colluders), the honest deltas of the previous round (what a copycat can replay), and how many
    peers of the round share the caller's strategy (the attacks' f)."""

    task: SyntheticTask
    round_id: int
    peers: int
    honest: torch.Tensor  # (m, d)
    previous: torch.Tensor | None  # (m, d)
    same_strategy: dict[Strategy, int]
    poison_from: int = 0  # the round a slow poisoner turns


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
    attack_view = AttackView(
        own=own, benign=view.honest, previous=previous, peers=view.peers,
        malicious=view.same_strategy.get(strategy, 1),
        generator=torch.Generator().manual_seed(view.task.seed * 1_000_003 + view.round_id * 1_009 + peer_index),
    )
    if strategy is Strategy.ZERO or (strategy is Strategy.COPYCAT and previous is None):
        # In round 0 there is nothing to replay yet: the copycat sends nothing of value either.
        return zero_delta(attack_view)
    attack = {Strategy.COPYCAT: replay, Strategy.NOISE: gaussian, Strategy.SCALING: scaling, Strategy.ALIE: alie,
              Strategy.SLOW_POISON: scaling}
    return attack[strategy](attack_view)
