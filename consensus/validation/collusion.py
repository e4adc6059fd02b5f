"""Colluders that each add their own jitter to one crafted vector are no near-duplicates, yet
they still share the crafted core: their deviations from the round's robust centre point the
same way, while independent trainings deviate in near-orthogonal directions (each peer's data
and noise; real LoRA deltas of honest peers: cosines of -0.1 to 0.1 between deviations).

Two updates whose deviations from the coordinate-wise median (weighted under a prior) have a
cosine above collusion_cos are linked, and linked updates form a group that counts as ONE
contributor: the rule sees the group's mean as one row (aggregate.py) and each member's claim
is divided by the group's size (what incentives pays by). Nobody is rejected or slashed for it:
an honest peer that an attacker imitates (it would have to predict the peer's deviation before
the commit closes) loses a share of one round's weight, not its stake. A Sybil operator that
reveals one training from many identities with jitter is one contributor, paid once.

Similar in spirit to FoolsGold (Fung, Yoon, Beschastnikh, "The Limitations of Federated Learning
in Sybil Settings", RAID 2020, https://arxiv.org/abs/1808.04866), which down-weights clients
whose updates are too similar; here on deviations from a robust centre, decided exactly.
"""

from __future__ import annotations

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.rules._prior import reference_median
from loraswarm.consensus.validation.state import Finding, RoundState, cos_above, cosine


def collusion(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    if len(alive) < 3:
        return {}
    stack = state.stack(alive)
    centre = reference_median(stack.values, stack.prior)
    dots = [int(v) for v in stack.dots(centre).tolist()]
    centre_sq = fixedpoint.sq_norm(centre)
    n = len(alive)
    gram = stack.gram

    def deviation(a: int, b: int) -> int:
        return int(gram[a, b]) - dots[a] - dots[b] + centre_sq

    own = [deviation(r, r) for r in range(n)]
    threshold = state.ctx.params.collusion_cos
    label = list(range(n))
    best = [0.0] * n
    for r in range(n):
        for k in range(r):
            dev = deviation(k, r)
            c = cosine(dev, own[k], own[r])
            best[r], best[k] = max(best[r], c), max(best[k], c)
            if label[k] != label[r] and cos_above(dev, own[k], own[r], threshold):
                merged, kept = max(label[k], label[r]), min(label[k], label[r])
                label = [kept if x == merged else x for x in label]
    sizes = {root: label.count(root) for root in set(label)}
    state.groups.update({i: alive[label[r]] for r, i in enumerate(alive) if sizes[label[r]] > 1})
    return {i: Finding(measures={"max_deviation_cos": best[r], "group_size": float(sizes[label[r]])})
            for r, i in enumerate(alive)}
