"""What a model-poisoning or free-riding attacker sees when it crafts its updates.

Attacks are pure functions ``(AttackView) -> rows`` over flat float32 vectors (flatten a delta
with ``fixedpoint.flatten`` in sorted key order, unflatten with ``RoundContext.unflatten``): one
row per attacker, ``view.own.shape[0]`` of them. Colluders coordinate but never send one vector
from several identities: a crafted direction is shared, and each colluder adds its own jitter
(``jittered``), trains on its own data, or solves its own problem. An attacker that sent one row
from every identity would be caught as a near-duplicate cluster (consensus/validation/
free_riders.py) and is not the worst case.

The strongest published attacks assume an omniscient attacker that knows the benign updates of
the round; ``benign`` holds them. The white-box attack also knows the task's consensus context
(``ctx``: every ConsensusParams value, the norm bound, the replay history, the recent global
changes) and runs the real validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from loraswarm.consensus.types import RoundContext

# Each colluder's jitter, as a fraction of the shared vector's norm: two colluders then sit at
# cosine ~1 / (1 + 0.3**2) = 0.92 of each other, below ConsensusParams.duplicate_cos (0.99), so
# the near-duplicate test does not link them (what the issue measured min-max with).
DEFAULT_JITTER = 0.3


@dataclass(frozen=True)
class AttackView:
    own: torch.Tensor  # (f, d): each attacker's own honestly trained delta (f rows to craft)
    benign: torch.Tensor  # (m, d): benign deltas of the round known to the attackers
    peers: int  # n, all updates of the round
    generator: torch.Generator  # every random choice comes from here: runs reproduce
    # Deltas revealed in earlier rounds (what a replay resends), one or more rows.
    previous: torch.Tensor | None = None
    # The recent changes of the global adapter, oldest first: public (every peer holds the globals).
    changes: tuple[torch.Tensor, ...] = ()
    # The median norm of the previous round's revealed updates (public once revealed); None: the
    # benign updates' median norm stands in.
    typical_norm: float | None = None
    # (f, d): each free rider's cheap own training (a fraction of an honest peer's steps).
    cheap: torch.Tensor | None = None
    # The task's consensus context, for the white-box attack (the round's real checks).
    ctx: RoundContext | None = None
    # Colluders in the round (ALIE's z, Krum's f); None: the rows to craft.
    colluders: int | None = None

    @property
    def malicious(self) -> int:
        """f: the colluding attackers among the round's peers."""
        return self.colluders if self.colluders is not None else int(self.own.shape[0])

    @property
    def rows(self) -> int:
        return int(self.own.shape[0])

    def noise(self, scale: float, rows: int | None = None) -> torch.Tensor:
        """Gaussian noise, one row per attacker (or ``rows``), standard deviation ``scale``."""
        shape = (self.rows if rows is None else rows, self.own.shape[1])
        return scale * torch.randn(shape, generator=self.generator, dtype=torch.float32)

    def norm(self) -> float:
        """A typical update norm: the previous round's median when known, else the benign one."""
        if self.typical_norm is not None:
            return self.typical_norm
        norms = sorted(float(x) for x in self.benign.to(torch.float64).norm(dim=1))
        return norms[(len(norms) - 1) // 2]


Attack = Callable[[AttackView], torch.Tensor]


def benign_rms(view: AttackView) -> float:
    """Root mean square coordinate of the benign updates: the natural unit of noise attacks."""
    return float(view.benign.to(torch.float64).pow(2).mean().sqrt())


def unit_noise(view: AttackView) -> torch.Tensor:
    """(f, d) float64 Gaussian directions of unit norm, one per attacker."""
    x = torch.randn((view.rows, view.own.shape[1]), generator=view.generator, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def jittered(core: torch.Tensor, view: AttackView, jitter: float = DEFAULT_JITTER) -> torch.Tensor:
    """One row per attacker: the shared ``core`` plus the attacker's own Gaussian jitter of
    ``jitter`` times the core's norm. Pairwise cosine ~1 / (1 + jitter**2)."""
    core = core.to(torch.float64)
    return (core[None] + jitter * float(core.norm()) * unit_noise(view)).to(torch.float32)
