"""What each simulated peer sends in a round.

Free riders want pay without work; attackers want to move the model. Their deltas:
- no_show: commits, never reveals (keeps the option to withhold).
- zero: reveals an all-zero delta.
- copycat: commit-reveal hides this round's deltas until after the commit, so the freshest thing
  it can copy is an honest peer's delta from the previous round (a replay).
- noise: a random vector with an honest-looking norm.
- scaling: an honest delta reversed and boosted 10x (model replacement / boosting).
- alie: "A Little Is Enough" (Baruch et al., NeurIPS 2019, https://arxiv.org/abs/1902.06156):
  the colluders all send mean - z * std of the honest deltas, coordinate-wise, with the paper's
  z_max for n peers and f colluders, so every coordinate stays within the honest spread. The
  colluders are omniscient here (they see this round's honest deltas): the strongest variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from statistics import NormalDist

import numpy as np

from loraswarm.incentives.sim.synthetic import SyntheticTask

SCALE_FACTOR = -10.0


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
    colluders) and the deltas revealed in the previous round (what a copycat can replay)."""

    task: SyntheticTask
    round_id: int
    peers: int
    colluders: int
    honest: list[np.ndarray]
    previous: list[np.ndarray]


def alie_z(n: int, f: int) -> float:
    """z_max of the ALIE paper: the largest shift that keeps a majority of peers beyond it."""
    s = math.floor(n / 2 + 1) - f
    return NormalDist().inv_cdf((n - s) / n)


def make_delta(strategy: Strategy, peer_index: int, view: RoundView) -> np.ndarray | None:
    """The delta a peer reveals this round, or None if it does not reveal."""
    task, r = view.task, view.round_id
    if strategy is Strategy.HONEST:
        return task.honest_delta(peer_index, r)
    if strategy is Strategy.NO_SHOW:
        return None
    if strategy is Strategy.ZERO:
        return np.zeros(task.dim)
    if strategy is Strategy.COPYCAT:
        # Before the first round has been revealed there is nothing to copy: it sends zeros.
        return view.previous[peer_index % len(view.previous)].copy() if view.previous else np.zeros(task.dim)
    if strategy is Strategy.NOISE:
        return task.noise_delta(peer_index, r)
    if strategy is Strategy.SCALING:
        return SCALE_FACTOR * task.honest_delta(peer_index, r)
    honest = np.stack(view.honest)
    return honest.mean(axis=0) - alie_z(view.peers, view.colluders) * honest.std(axis=0)
