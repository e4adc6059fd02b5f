"""Every attack of the library against the default pipeline and rule, on synthetic LoRA-shaped
rounds (7 honest peers, 3 colluding attackers): the aggregate stays close to the clean honest
mean, and closer than plain FedAvg without filtering where the attack is a real one."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from harness.attacks import FREE_RIDERS, MODEL_ATTACKS
from harness.simulate import Population, attacked_round, lora_spec, submissions
from loraswarm.consensus import RoundContext, fixedpoint, settle_round
from loraswarm.consensus.fingerprint import fingerprint
from loraswarm.protocol.codes import FREE_RIDE, MALICIOUS, Reason
from loraswarm.protocol.rules import DEFAULT_RULE

SPEC = lora_spec(layers=2, hidden=128, rank=8)
CTX = RoundContext(round=1, current_global_hash="0x01", spec=SPEC, norm_bound=16.0)
HONEST, MALICIOUS_PEERS = 7, 3
# Relative error of the aggregate vs the clean honest mean. Every attacker of these rounds is
# rejected (identical colluders too: ALIE's cluster as collusion, the others by their own
# checks), so what is left is the rule's and the grid's rounding (measured: below 0.004).
TOLERANCE = 0.02


def run(name: str, seed: int) -> tuple[float, float, list[Reason]]:
    attack = {**MODEL_ATTACKS, **FREE_RIDERS}[name]
    g = torch.Generator().manual_seed(seed)
    population = Population(d=CTX.numel)
    previous = population.honest(1, torch.Generator().manual_seed(1000 + seed))[0]
    ctx = CTX
    if name == "replay":
        old = fixedpoint.quantize(previous, fixedpoint.value_bits(CTX.norm_bound))
        ctx = dataclasses.replace(CTX, history=(fingerprint(old),))
    rows, _ = attacked_round(population, HONEST, attack, MALICIOUS_PEERS, g, previous=previous)
    outcome = settle_round(submissions(ctx, rows), ctx)
    clean = rows[:HONEST].mean(dim=0)
    ours = fixedpoint.flatten(outcome.aggregate.delta, ctx.keys)
    plain = rows.mean(dim=0)
    error = float((ours - clean).norm() / clean.norm())
    plain_error = float((plain - clean).norm() / clean.norm())
    return error, plain_error, [v.reason for v in outcome.verdicts]


@pytest.mark.parametrize("name", sorted(MODEL_ATTACKS))
def test_model_poisoning_is_contained(name: str) -> None:
    assert CTX.rule_id is DEFAULT_RULE
    for seed in range(2):
        error, plain_error, reasons = run(name, seed)
        assert reasons[:HONEST] == [Reason.ACCEPTED] * HONEST, (name, reasons)
        assert error <= TOLERANCE, (name, seed, error)
        assert error <= plain_error + 1e-6, (name, seed, error, plain_error)


@pytest.mark.parametrize("name", sorted(FREE_RIDERS))
def test_free_riders_earn_nothing(name: str) -> None:
    error, _, reasons = run(name, seed=3)
    assert reasons[:HONEST] == [Reason.ACCEPTED] * HONEST, (name, reasons)
    # Every free rider is rejected, for a free-riding reason (never slashed as malicious).
    assert all(r in FREE_RIDE for r in reasons[HONEST:]), (name, reasons)
    assert not any(r in MALICIOUS for r in reasons[HONEST:])
    assert error <= 0.01
