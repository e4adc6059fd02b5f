"""The global's public history in exact integers (consensus/history.py), the leave-one-out median
(rules/_select.py) and the median step along the reference direction (aggregate.py)."""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.simulate import Population, lora_spec, submissions
from loraswarm.consensus import ConsensusParams, RoundContext, fixedpoint, settle_round
from loraswarm.consensus.aggregate import median_step
from loraswarm.consensus.history import Span, _adjugate, _det, on_grid
from loraswarm.consensus.rules._select import LeaveOneOut, coordinate_median
from loraswarm.consensus.stack import Stack

SPEC = lora_spec(layers=1, hidden=64, rank=8)
CTX = RoundContext(round=1, current_global_hash="0x01", spec=SPEC, norm_bound=8.0)
BITS = fixedpoint.value_bits(CTX.norm_bound)


def fraction_det(m: list[list[int]]) -> Fraction:
    a = [[Fraction(x) for x in row] for row in m]
    n, det = len(a), Fraction(1)
    for k in range(n):
        pivot = next((r for r in range(k, n) if a[r][k] != 0), None)
        if pivot is None:
            return Fraction(0)
        if pivot != k:
            a[k], a[pivot] = a[pivot], a[k]
            det = -det
        det *= a[k][k]
        for r in range(k + 1, n):
            f = a[r][k] / a[k][k]
            a[r] = [x - f * y for x, y in zip(a[r], a[k], strict=True)]
    return det


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(st.integers(-50, 50), min_size=n, max_size=n),
                                                      min_size=n, max_size=n)))
def test_bareiss_determinant_and_adjugate_are_exact(m: list[list[int]]) -> None:
    assert _det(m) == fraction_det(m)
    adj = _adjugate(m)
    n = len(m)
    product = [[sum(m[i][k] * adj[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    assert product == [[_det(m) if i == j else 0 for j in range(n)] for i in range(n)]


def test_residual_inner_products_match_a_float_projection() -> None:
    g = torch.Generator().manual_seed(0)
    changes = [torch.randn(CTX.numel, generator=g) for _ in range(3)]
    rows = torch.randn((4, CTX.numel), generator=g)
    span = Span(changes, BITS, CTX.norm_bound)
    assert span.k == 3 and span.det > 0
    values = torch.stack([fixedpoint.quantize(r, BITS) for r in rows])
    scores = fixedpoint.to_score(values)
    b = span.coordinates(scores)
    gram = fixedpoint.exact_int(scores @ scores.T)
    basis = span.basis.T  # (d, k) score grid
    q, _ = torch.linalg.qr(basis)
    residual = scores - (scores @ q) @ q.T
    for i in range(4):
        for j in range(4):
            exact = span.residual(int(gram[i, j]), b[i], b[j]) / span.det
            assert math.isclose(exact, float(residual[i] @ residual[j]), rel_tol=1e-6, abs_tol=1e-3 * float(
                residual[i].norm() * residual[j].norm()))


def test_dependent_changes_add_no_direction_and_big_ones_are_scaled_down() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(CTX.numel, generator=g)
    span = Span([a, 2 * a, torch.zeros(CTX.numel)], BITS, CTX.norm_bound)
    assert span.k == 1
    assert span.last is not None and torch.equal(span.last, on_grid(2 * a, BITS, CTX.norm_bound))
    huge = 1000 * a
    values = on_grid(huge, BITS, CTX.norm_bound)
    limit = (Fraction(CTX.norm_bound) * Fraction(2) ** (BITS - fixedpoint.SCORE_SHIFT)) ** 2
    assert fixedpoint.sq_norm(values) <= limit
    assert float(torch.nn.functional.cosine_similarity(values.double(), huge.double(), dim=0)) > 0.999999
    assert not Span([], BITS, CTX.norm_bound)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 30), st.integers(0, 2**31))
def test_leave_one_out_median_is_the_median_of_the_others(n: int, d: int, seed: int) -> None:
    values = torch.randint(-5, 6, (n, d), dtype=torch.int32, generator=torch.Generator().manual_seed(seed))
    loo = LeaveOneOut(values)
    for i in range(n):
        assert torch.equal(loo.without(i), coordinate_median(torch.cat([values[:i], values[i + 1:]])))


def test_median_step_sets_the_step_along_the_reference_to_the_median() -> None:
    rows = Population(d=CTX.numel).honest(7, torch.Generator().manual_seed(2))
    values = torch.stack([fixedpoint.quantize(r, BITS) for r in rows])
    stack = Stack.of(tuple(f"0x{i:040x}" for i in range(7)), values, (1,) * 7, BITS)
    reference = coordinate_median(values)
    mean = stack.weighted_mean([1] * 7)
    stepped = median_step(mean, stack, reference)
    along = sorted(int(v) for v in stack.dots(reference).tolist())
    got = int(fixedpoint.exact_int(fixedpoint.to_score(stepped) @ fixedpoint.to_score(reference)))
    assert abs(got - along[3]) <= 1e-6 * abs(along[3])
    # Only the component along the reference moved.
    moved = (stepped - mean).to(torch.float64)
    ref = reference.to(torch.float64)
    assert float(torch.nn.functional.cosine_similarity(moved, ref, dim=0)).__abs__() > 0.999
    # Same integers every time (and from a permuted stack).
    perm = [3, 1, 6, 0, 2, 5, 4]
    shuffled = Stack.of(tuple(stack.peers[i] for i in perm), values[perm], (1,) * 7, BITS)
    assert torch.equal(median_step(mean, shuffled, reference), stepped)


def test_settle_round_reads_the_changes() -> None:
    """The same round with and without the public history: the history changes the reference of
    the median step (and the agreement measure), never the verdicts of honest updates."""
    population = Population(d=CTX.numel)
    g = torch.Generator().manual_seed(3)
    trend = population.trend(g)
    change = population.honest(7, g, trend).mean(dim=0)
    rows = population.honest(7, g, trend)
    with_history = RoundContext(round=1, current_global_hash="0x01", spec=SPEC, norm_bound=8.0,
                                changes=(CTX.unflatten(change),))
    plain = settle_round(submissions(CTX, rows), CTX)
    informed = settle_round(submissions(with_history, rows), with_history)
    assert [v.reason for v in plain.verdicts] == [v.reason for v in informed.verdicts]
    assert plain.aggregate.hash != informed.aggregate.hash
    assert all(informed.aggregate.agreement[p] < plain.aggregate.agreement[p] for p in plain.aggregate.agreement)
    off = RoundContext(round=1, current_global_hash="0x01", spec=SPEC, norm_bound=8.0,
                       changes=(CTX.unflatten(change),), params=ConsensusParams(history_changes=0, trend_median=False))
    assert settle_round(submissions(off, rows), off).aggregate.hash == settle_round(
        submissions(CTX, rows), RoundContext(round=1, current_global_hash="0x01", spec=SPEC, norm_bound=8.0,
                                             params=ConsensusParams(trend_median=False))).aggregate.hash
