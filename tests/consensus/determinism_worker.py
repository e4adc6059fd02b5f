"""Run by test_determinism.py in a fresh process: settle randomized rounds with the given torch
thread count, submissions shuffled by the given seed, and print one JSON line per round. Odd
rounds carry a reputation prior (random multipliers, the same in every process); rounds after
one of the same adapter shape carry the earlier aggregates as the global's recent changes (the
free-rider projection and residual agreement)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import sys

import torch

from harness.attacks import FREE_RIDERS, MODEL_ATTACKS
from harness.simulate import Population, attacked_round, lora_spec, submissions
from loraswarm.consensus import ConsensusParams, RoundContext, apply_delta, fixedpoint, settle_round, tensors_hash
from loraswarm.protocol.rules import RuleId


def main(threads: int, order_seed: int, rounds: int) -> None:
    torch.set_num_threads(threads)
    attacks = {**MODEL_ATTACKS, **FREE_RIDERS}
    history: tuple = ()
    previous = None
    changes: list[dict[str, torch.Tensor]] = []
    for r in range(rounds):
        rng = random.Random(r)  # the round's content: the same in every process
        spec = lora_spec(layers=rng.choice([1, 2]), hidden=rng.choice([64, 256, 1024]), rank=8)
        global_adapter = {k: torch.randn(s, generator=torch.Generator().manual_seed(r))
                          for k, s in spec.items()}
        ctx = RoundContext(round=r, current_global_hash=tensors_hash(global_adapter), spec=spec,
                           norm_bound=rng.choice([8.0, 16.0, 10.5]),
                           rule_id=rng.choice(list(RuleId)),
                           params=ConsensusParams(byzantine_fraction=0.2), history=history)
        changes = [c for c in changes if {k: tuple(t.shape) for k, t in c.items()} == spec]
        ctx = dataclasses.replace(ctx, changes=tuple(changes))
        d = ctx.numel
        generator = torch.Generator().manual_seed(1000 + r)
        name = rng.choice(sorted(attacks))
        old = previous if previous is not None and previous.numel() == d else None
        if name == "replay" and old is None:
            name = "sign_flip"
        rows, _ = attacked_round(Population(d=d), honest=rng.randint(5, 9), attack=attacks[name],
                                 malicious=rng.randint(1, 3), generator=generator, previous=old, ctx=ctx,
                                 changes=tuple(fixedpoint.flatten(c, ctx.keys) for c in changes))
        samples = [rng.randint(1, 20_000) for _ in range(rows.shape[0])]
        subs = submissions(ctx, rows, samples=samples)
        if r % 2:
            # Its own generator, so the rounds' content stays what it was without a prior.
            prior_rng = random.Random(50_000 + r)
            ctx = dataclasses.replace(ctx, prior={s.peer: prior_rng.randint(100_000, 1_000_000) for s in subs})
        random.Random(order_seed * 1000 + r).shuffle(subs)  # arrival order differs per process
        outcome = settle_round(subs, ctx)
        new_global = apply_delta(global_adapter, outcome.aggregate.delta)
        measures = repr([(v.peer, sorted(v.measures.items())) for v in outcome.verdicts])
        print(json.dumps({
            "round": r,
            "attack": name,
            "rule": ctx.rule_id.name,
            "prior": ctx.prior is not None,
            "order": [s.peer for s in subs],
            "verdicts": [(v.peer, int(v.reason)) for v in outcome.verdicts],
            "accepted": sorted(outcome.aggregate.selected),
            "measures": hashlib.sha256(measures.encode()).hexdigest(),
            "aggregate": outcome.aggregate.hash,
            "global": tensors_hash(new_global),
        }), flush=True)
        history = history + tuple(outcome.fingerprints.values())
        previous = rows[0]
        changes.append(outcome.aggregate.delta)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
