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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from loraswarm.consensus.attacks import AttackView, alie, gaussian, replay, scaling, zero_delta
from loraswarm.incentives.sim.synthetic import SyntheticTask


class Strategy(Enum):
    HONEST = "honest"
    NO_SHOW = "no_show"
    ZERO = "zero"
    COPYCAT = "copycat"
    NOISE = "noise"
    SCALING = "scaling"
    ALIE = "alie"

    @property
    def group(self) -> str:
        if self is Strategy.HONEST:
            return "honest"
        if self in (Strategy.SCALING, Strategy.ALIE):
            return "attacker"
        return "free_rider"


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


def make_delta(strategy: Strategy, peer_index: int, view: RoundView) -> torch.Tensor | None:
    """The flat float32 delta a peer reveals this round, or None if it does not reveal."""
    if strategy is Strategy.NO_SHOW:
        return None
    own = view.task.honest_delta(peer_index, view.round_id)
    if strategy is Strategy.HONEST:
        return own
    previous = None if view.previous is None else view.previous[peer_index % len(view.previous)]
    attack_view = AttackView(
        own=own, benign=view.honest, previous=previous, peers=view.peers,
        malicious=view.same_strategy.get(strategy, 1),
        generator=torch.Generator().manual_seed(view.task.seed * 1_000_003 + view.round_id * 1_009 + peer_index),
    )
    if strategy is Strategy.ZERO or (strategy is Strategy.COPYCAT and previous is None):
        # In round 0 there is nothing to replay yet: the copycat sends nothing of value either.
        return zero_delta(attack_view)
    attack = {Strategy.COPYCAT: replay, Strategy.NOISE: gaussian, Strategy.SCALING: scaling, Strategy.ALIE: alie}
    return attack[strategy](attack_view)
