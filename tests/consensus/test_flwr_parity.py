"""Our rules against Flower's reference aggregators on the same arrays. Inputs are drawn on the
value grid (exactly representable), so the only differences left are our rounding of a mean onto
the grid (one grid step) and the float32 of the result (one float32 ulp)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from flwr.server.strategy.aggregate import (
    aggregate,
    aggregate_krum,
    aggregate_median,
    aggregate_trimmed_avg,
)

from loraswarm.consensus import ConsensusParams, fixedpoint
from loraswarm.consensus.rules import RULES
from loraswarm.consensus.stack import Stack
from loraswarm.protocol.rules import RuleId

BITS = fixedpoint.value_bits(4.0)
STEP = math.ldexp(1.0, -BITS)
RTOL = 2.0 ** -23
SHAPES = [(8, 32), (32, 8), (50,)]


def grid_round(n: int, seed: int) -> tuple[Stack, list[tuple[list[np.ndarray], int]]]:
    """n random updates (two layers and a bias), as our Stack and as Flower's results list."""
    rng = np.random.default_rng(seed)
    d = sum(math.prod(s) for s in SHAPES)
    flat = torch.from_numpy(rng.normal(0, 0.05, (n, d)).astype(np.float32))
    flat[: n // 3] += torch.from_numpy(rng.normal(0, 0.2, (n // 3, d)).astype(np.float32))
    values = torch.stack([fixedpoint.quantize(row, BITS) for row in flat])
    weights = [int(w) for w in rng.integers(1, 500, n)]
    exact = fixedpoint.dequantize(values, BITS).numpy().astype(np.float64)
    results = []
    for row, w in zip(exact, weights, strict=True):
        layers, start = [], 0
        for shape in SHAPES:
            size = math.prod(shape)
            layers.append(row[start:start + size].reshape(shape))
            start += size
        results.append((layers, w))
    return Stack.of(tuple(f"0x{i:040x}" for i in range(n)), values, tuple(weights), BITS), results


def ours(rule: RuleId, stack: Stack, params: ConsensusParams) -> np.ndarray:
    out = RULES[rule](stack, params)
    return fixedpoint.dequantize(out.values, BITS).numpy().astype(np.float64)


def flat(layers: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([layer.reshape(-1) for layer in layers])


@pytest.mark.parametrize("n", [7, 10])
def test_fedavg_matches_flower(n: int) -> None:
    stack, results = grid_round(n, seed=n)
    np.testing.assert_allclose(ours(RuleId.FEDAVG, stack, ConsensusParams()),
                               flat(aggregate(results)), rtol=RTOL, atol=STEP)


@pytest.mark.parametrize("n", [7, 10])
def test_median_matches_flower(n: int) -> None:
    stack, results = grid_round(n, seed=10 + n)
    np.testing.assert_allclose(ours(RuleId.MEDIAN, stack, ConsensusParams()),
                               flat(aggregate_median(results)), rtol=RTOL, atol=STEP)


@pytest.mark.parametrize(("n", "trim"), [(10, 0.2), (9, 0.1), (12, 0.3)])
def test_trimmed_mean_matches_flower(n: int, trim: float) -> None:
    stack, results = grid_round(n, seed=20 + n)
    params = ConsensusParams(trim_fraction=trim)
    np.testing.assert_allclose(ours(RuleId.TRIMMED_MEAN, stack, params),
                               flat(aggregate_trimmed_avg(results, trim)), rtol=RTOL, atol=STEP)


@pytest.mark.parametrize("n", [7, 10, 13])
def test_krum_matches_flower(n: int) -> None:
    stack, results = grid_round(n, seed=30 + n)
    params = ConsensusParams(byzantine_fraction=0.25)
    f = params.byzantine(n)
    # Krum returns one of the inputs: identical bytes, not merely close.
    np.testing.assert_array_equal(ours(RuleId.KRUM, stack, params),
                                  flat(aggregate_krum(results, f, 0)))


@pytest.mark.parametrize("n", [7, 10, 13])
def test_multi_krum_matches_flower(n: int) -> None:
    stack, results = grid_round(n, seed=40 + n)
    params = ConsensusParams(byzantine_fraction=0.25)
    f = params.byzantine(n)
    np.testing.assert_allclose(ours(RuleId.MULTI_KRUM, stack, params),
                               flat(aggregate_krum(results, f, n - f)), rtol=RTOL, atol=STEP)
