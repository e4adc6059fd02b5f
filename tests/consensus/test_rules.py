"""Properties of the aggregation rules beyond Flower parity: symmetric rules do not depend on
row order, robust rules resist what they are built for, and the registry covers every id."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loraswarm.consensus import ConsensusParams, fixedpoint
from loraswarm.consensus.rules import RULES
from loraswarm.consensus.stack import Stack
from loraswarm.protocol.rules import RuleId

BITS = fixedpoint.value_bits(16.0)
# Rules whose result is a symmetric function of the multiset of updates.
SYMMETRIC = [RuleId.FEDAVG, RuleId.MEDIAN, RuleId.TRIMMED_MEAN, RuleId.CENTERED_CLIP,
             RuleId.GEOMETRIC_MEDIAN, RuleId.MULTI_KRUM, RuleId.BULYAN]


def stack_of(rows: torch.Tensor, weights: list[int] | None = None) -> Stack:
    values = torch.stack([fixedpoint.quantize(r, BITS) for r in rows])
    n = rows.shape[0]
    return Stack.of(tuple(f"0x{i:040x}" for i in range(n)), values, tuple(weights or [1] * n), BITS)


def cluster(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centre = torch.randn(d, generator=g)
    return centre + 0.3 * torch.randn((n, d), generator=g)


def test_registry_covers_every_rule_id() -> None:
    assert set(RULES) == set(RuleId)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(SYMMETRIC), st.integers(5, 12), st.integers(0, 2**31))
def test_symmetric_rules_ignore_row_order(rule: RuleId, n: int, seed: int) -> None:
    rows = cluster(n, 300, seed)
    weights = [int(w) for w in torch.randint(1, 1000, (n,), generator=torch.Generator().manual_seed(seed))]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1)).tolist()
    params = ConsensusParams()
    a = RULES[rule](stack_of(rows, weights), params).values
    b = RULES[rule](stack_of(rows[perm], [weights[i] for i in perm]), params).values
    assert torch.equal(a, b)


@pytest.mark.parametrize("rule", [RuleId.MEDIAN, RuleId.TRIMMED_MEAN, RuleId.KRUM, RuleId.MULTI_KRUM,
                                  RuleId.BULYAN, RuleId.CENTERED_CLIP, RuleId.GEOMETRIC_MEDIAN])
def test_robust_rules_resist_two_far_outliers(rule: RuleId) -> None:
    rows = cluster(11, 400, seed=3)
    honest_mean = rows[:9].mean(dim=0)
    rows[9:] = honest_mean + 8.0  # far away, still within the norm bound per coordinate
    out = fixedpoint.dequantize(RULES[rule](stack_of(rows), ConsensusParams()).values, BITS)
    plain = rows.mean(dim=0)
    assert float((out - honest_mean).norm()) < 0.25 * float((plain - honest_mean).norm()), rule


def test_krum_family_selection() -> None:
    rows = cluster(10, 200, seed=4)
    rows[0] += 5.0
    params = ConsensusParams(byzantine_fraction=0.2)
    assert 0 not in RULES[RuleId.KRUM](stack_of(rows), params).selected
    chosen = RULES[RuleId.MULTI_KRUM](stack_of(rows), params).selected
    assert len(chosen) == 8 and 0 not in chosen
    assert len(RULES[RuleId.BULYAN](stack_of(rows), params).selected) == 10 - 2 * 1


def test_centered_clip_equals_mean_when_nothing_is_clipped() -> None:
    rows = cluster(8, 300, seed=5)
    params = ConsensusParams(clip_radius=1e6, clip_iterations=5)
    out = RULES[RuleId.CENTERED_CLIP](stack_of(rows), params).values
    mean = RULES[RuleId.FEDAVG](stack_of(rows), params).values
    # Each iteration rounds once on the grid: a few grid steps apart at most.
    assert int((out - mean).abs().max()) <= 5
