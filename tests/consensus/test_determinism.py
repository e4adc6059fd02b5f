"""Two validator processes, torch threads 1 and 2, fed the same deltas in different orders,
reach identical verdicts, measures, accepted sets and global adapter hashes over 20 randomized
rounds (every rule and every attack of the library in the mix, half of them under a reputation
prior)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("determinism_worker.py")
ROOT = Path(__file__).resolve().parents[2]  # the worker imports harness/, which is not installed
ROUNDS = 20


def start(threads: int, order_seed: int) -> subprocess.Popen[str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, str(WORKER), str(threads), str(order_seed), str(ROUNDS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": path})


@pytest.mark.e2e
def test_two_processes_agree_bit_for_bit() -> None:
    procs = [start(1, 1), start(2, 2)]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        outputs.append([json.loads(line) for line in out.splitlines()])
    one, two = outputs
    assert len(one) == len(two) == ROUNDS
    for a, b in zip(one, two, strict=True):
        assert a["order"] != b["order"] or len(a["order"]) < 3
        for key in ("verdicts", "accepted", "measures", "aggregate", "global"):
            assert a[key] == b[key], (a["round"], a["rule"], a["attack"], key)
    # The rounds were not trivial: updates were rejected, for several different reasons.
    codes = {code for rnd in one for _, code in rnd["verdicts"]}
    assert len(codes - {0}) >= 3
    assert len({rnd["rule"] for rnd in one}) >= 5
    # The prior rounds include rules that read it (weights, or the weighted median).
    reading = {"FEDAVG", "MULTI_KRUM", "GEOMETRIC_MEDIAN", "MEDIAN", "CENTERED_CLIP"}
    assert len({rnd["rule"] for rnd in one if rnd["prior"]} & reading) >= 2
