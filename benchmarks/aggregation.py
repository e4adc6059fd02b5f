"""Aggregation rules against Flower's reference aggregators, same deltas, same run.

    python benchmarks/aggregation.py [--quick] [--peers N] [--threads T]

n deltas of the real task's LoRA size (460,800 parameters: SmolLM2-135M, r=8 on q_proj and
v_proj, 30 layers), drawn on the value grid so both sides aggregate the same numbers. Each rule
is timed from its natural input: ours from float deltas, so each of our timings includes the
conversion to the round's fixed-point stack (``ingest_s``: validation builds it once per round for
all its checks; counted in full against every rule, as if the rule were the round's only user),
Flower's from its list of per-layer arrays. Our Krum family includes its exact Gram matrix (a fresh
stack each run). Best of ``--repeats`` runs per rule on both sides; Bulyan runs once on both sides
(Flower's recomputes all pairwise distances in a Python double loop at every one of its n - 2f Krum
picks).

The last line is one JSON object (keys: flwr_time_ratio_max, krum_family_vs_flwr_ratio, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness/ and tests/ live in the source tree

import numpy as np
import torch
from flwr.server.strategy.aggregate import (
    aggregate,
    aggregate_bulyan,
    aggregate_krum,
    aggregate_median,
    aggregate_trimmed_avg,
)

from harness.simulate import Population
from loraswarm.consensus import ConsensusParams, fixedpoint
from loraswarm.consensus.rules import RULES
from loraswarm.consensus.stack import Stack
from loraswarm.protocol.rules import RuleId

NORM_BOUND = 16.0
TRIM = 0.2
KRUM_FAMILY = ("krum", "multi_krum", "bulyan")


def smollm2_layers() -> list[tuple[int, ...]]:
    """Adapter tensor shapes: per layer q_proj A (8, 576), B (576, 8); v_proj A (8, 576), B (192, 8)."""
    return [shape for _ in range(30) for shape in ((8, 576), (576, 8), (8, 576), (192, 8))]


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n: int, repeats: int, threads: int) -> dict[str, object]:
    """Time every rule against Flower's on n deltas; the JSON object the benchmark prints."""
    torch.set_num_threads(threads)
    # Bulyan needs n >= 4f + 3; the largest such f stresses the Krum family most.
    f = (n - 3) // 4
    params = ConsensusParams(byzantine_fraction=(f + 0.5) / n, trim_fraction=TRIM)
    assert params.byzantine(n) == f

    shapes = smollm2_layers()
    d = sum(math.prod(s) for s in shapes)
    bits = fixedpoint.value_bits(NORM_BOUND)
    rows = Population(d=d).honest(n, torch.Generator().manual_seed(0))
    weights = [int(w) for w in torch.randint(10, 1000, (n,), generator=torch.Generator().manual_seed(1))]

    def ingest() -> Stack:
        values = torch.stack([fixedpoint.quantize(r, bits) for r in rows])
        return Stack.of(tuple(f"0x{i:040x}" for i in range(n)), values, tuple(weights), bits)

    ingest_s = best_of(repeats, ingest)
    ingested = ingest()
    values = torch.stack([fixedpoint.quantize(r, bits) for r in rows])

    exact = fixedpoint.dequantize(values, bits).numpy()
    results = []
    for row, w in zip(exact, weights, strict=True):
        layers, offset = [], 0
        for shape in shapes:
            size = math.prod(shape)
            layers.append(row[offset:offset + size].reshape(shape).copy())
            offset += size
        results.append((layers, w))

    def fresh() -> Stack:
        # A new stack over the ingested forms: nothing cached, so the Gram matrix is timed.
        return dataclasses.replace(ingested)

    def ours(rule: RuleId) -> Callable[[], object]:
        return lambda: RULES[rule](fresh(), params)

    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "fedavg": (ours(RuleId.FEDAVG), lambda: aggregate(results)),
        "median": (ours(RuleId.MEDIAN), lambda: aggregate_median(results)),
        "trimmed_mean": (ours(RuleId.TRIMMED_MEAN), lambda: aggregate_trimmed_avg(results, TRIM)),
        "krum": (ours(RuleId.KRUM), lambda: aggregate_krum(results, f, 0)),
        "multi_krum": (ours(RuleId.MULTI_KRUM), lambda: aggregate_krum(results, f, n - f)),
        "bulyan": (ours(RuleId.BULYAN),
                   lambda: aggregate_bulyan(list(results), f, aggregate_krum, to_keep=0)),
    }
    timings: dict[str, dict[str, float]] = {}
    for name, (mine, theirs) in pairs.items():
        runs = 1 if name == "bulyan" else repeats
        rule_s = best_of(runs, mine)
        ours_s = ingest_s + rule_s
        flwr_s = best_of(runs, theirs)
        timings[name] = {"ours_s": round(ours_s, 4), "rule_s": round(rule_s, 4), "flwr_s": round(flwr_s, 4),
                         "ratio": round(ours_s / flwr_s, 4)}
        print(f"{name:13s} ours {ours_s:8.3f} s (rule {rule_s:.3f})   flwr {flwr_s:8.3f} s   "
              f"ratio {ours_s / flwr_s:.3f}", flush=True)
    extra = {name: round(ingest_s + best_of(repeats, ours(rule)), 4)
             for name, rule in (("centered_clip", RuleId.CENTERED_CLIP),
                                ("geometric_median", RuleId.GEOMETRIC_MEDIAN))}
    print(f"ingest (quantize {n} deltas, counted in every rule above): {ingest_s:.3f} s; no-Flower rules: {extra}")
    return {
        "peers": n,
        "params": d,
        "byzantine_f": f,
        "threads": threads,
        "ingest_s": round(ingest_s, 4),
        "timings": timings,
        "ours_only_s": extra,
        "flwr_time_ratio_max": max(t["ratio"] for t in timings.values()),
        "krum_family_vs_flwr_ratio": max(timings[k]["ratio"] for k in KRUM_FAMILY),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 peers, one repeat (< 1 min)")
    parser.add_argument("--peers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n = args.peers or (40 if args.quick else 100)
    print(json.dumps(measure(n, args.repeats or (2 if args.quick else 3), args.threads)))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
