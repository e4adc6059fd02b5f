"""Robustness of the aggregation rules on real LoRA deltas of the real model.

    python benchmarks/robustness.py [--quick] [--rounds R] [--steps S] [--rules a,b] [--attacks x,y]

10 peers on fortunes topics (two disjoint topics each: non-IID), 7 honest and 3 colluding
attackers (30%), R cumulative rounds, every attack x every rule (``--quick``: every attack x
{default rule, fedavg}, tiny training). Reported per (attack, rule, round): held-out perplexity
of the global adapter vs the clean FedAvg run (honest peers only); per (attack, rule): rejection
precision / recall over the attackers' submissions, and the backdoor's success rate (triggered
prompts whose greedy continuation contains the target).

Cost control, stated plainly: the honest deltas of round r are trained once, from the clean
run's global adapter G_r, and reused by every (attack, rule) run; so an attacked run's honest
peers do not react to the damage done to its global. The attackers' deltas are real too: their
own data, the backdoor data and the garbage data are trained for real from the same G_r; the
model-poisoning attacks craft from that (omniscient attacker). Every run is judged by the full
validation pipeline and aggregated by its rule, cumulatively over R rounds.

The last line is one JSON object; the Flower timing keys come from benchmarks/aggregation.py
(measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from loraswarm.consensus import ConsensusParams, RoundContext, Submission, settle_round, tensors_hash
from loraswarm.consensus.attacks import FREE_RIDERS, MODEL_ATTACKS, AttackView
from loraswarm.consensus.attacks.backdoor import (
    DEFAULT_TARGET,
    backdoor_prompts,
    backdoor_success,
    backdoor_texts,
)
from loraswarm.consensus.attacks.garbage import garbage_texts
from loraswarm.consensus.fixedpoint import flatten
from loraswarm.consensus.types import Fingerprint
from loraswarm.node.training import (
    LoraParams,
    adapter_spec,
    apply_delta,
    attach_lora,
    compute_delta,
    deal_topics,
    initial_adapter,
    list_topics,
    peer_data,
    set_adapter_state,
)
from loraswarm.node.training.evaluate import mean_nll
from loraswarm.node.training.model import load_base_model
from loraswarm.node.training.tokens import TokenBlocks, pack_texts
from loraswarm.node.training.trainer import TrainConfig, train_lora
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.rules import DEFAULT_RULE, RuleId

sys.path.insert(0, str(Path(__file__).parent))
import aggregation  # the sibling benchmark: Flower timings in the same run

PEERS, ATTACKERS = 10, 3
HONEST = PEERS - ATTACKERS
DATA_ATTACKS = ("backdoor", "garbage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seq", type=int, default=None)
    parser.add_argument("--eval-blocks", type=int, default=None)
    parser.add_argument("--rules", default=None, help="comma-separated rule names (default: all)")
    parser.add_argument("--attacks", default=None, help="comma-separated attack names (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    quick = args.quick
    steps = args.steps or (2 if quick else 25)
    batch = args.batch or (2 if quick else 4)
    seq = args.seq or (48 if quick else 128)
    eval_blocks = args.eval_blocks or (8 if quick else 64)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    all_rules = [r.name.lower() for r in RuleId]
    rules = (args.rules.split(",") if args.rules
             else [DEFAULT_RULE.name.lower(), "fedavg"] if quick else all_rules)
    attacks = (args.attacks.split(",") if args.attacks
               else ["none", *MODEL_ATTACKS, *DATA_ATTACKS, *FREE_RIDERS])

    model, tokenizer, _ = load_base_model()
    lora = LoraParams()
    model = attach_lora(model, lora)
    spec = adapter_spec(model, lora)
    shapes = dict(spec.shapes)
    config = TrainConfig(steps=steps, batch_size=batch, progress=False, threads=args.threads)

    topics = deal_topics(list_topics(), PEERS, per_peer=2, seed=0)
    data = [peer_data(t, held_out_fraction=0.1, seed=0) for t in topics]
    blocks = [pack_texts(tokenizer, d.train_texts(), seq) for d in data]
    attacker_texts = data[HONEST].train_texts()
    poisoned = {
        "backdoor": pack_texts(tokenizer, backdoor_texts(attacker_texts, seed=1), seq),
        "garbage": pack_texts(tokenizer, garbage_texts(attacker_texts, seed=2), seq),
    }
    held_texts = [r for d in data[:HONEST] for topic in d.topics for r in d.held_out[topic]]
    held_all = pack_texts(tokenizer, held_texts, seq)
    held = held_all.subset(torch.arange(min(eval_blocks, len(held_all))))
    prompts = backdoor_prompts(held_texts, limit=4 if quick else 20)

    def train(data_blocks: TokenBlocks, start: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
        result = train_lora(model, data_blocks, start, TrainConfig(**{**config.__dict__, "seed": seed}))
        return compute_delta(result.adapter, start)

    def ppl(adapter: dict[str, torch.Tensor]) -> float:
        set_adapter_state(model, adapter)
        return math.exp(mean_nll(model, held))

    # The clean trajectory: honest deltas per round, the clean FedAvg global, attacker trainings.
    print(f"training {args.rounds} rounds: {steps} steps x {batch} x {seq} tokens per peer", flush=True)
    keys = sorted(shapes)
    clean = [initial_adapter(spec, seed=0)]
    honest_rounds, own_rounds, poison_rounds = [], [], []
    for r in range(args.rounds):
        g = clean[-1]
        honest = [train(blocks[i], g, seed=100 * r + i) for i in range(HONEST)]
        own_rounds.append(train(blocks[HONEST], g, seed=100 * r + HONEST))
        poison_rounds.append({name: train(b, g, seed=100 * r + 50) for name, b in poisoned.items()})
        honest_rounds.append(honest)
        mean = {k: sum(h[k] for h in honest) / HONEST for k in keys}
        clean.append(apply_delta(g, mean))
        print(f"  round {r}: honest norms "
              f"{[round(float(flatten(h, keys).norm()), 2) for h in honest]}", flush=True)
    clean_ppl = [ppl(g) for g in clean]
    # The task's norm bound, as a task creator would calibrate it: 3x the round-0 honest median.
    norms = sorted(float(flatten(h, keys).norm()) for h in honest_rounds[0])
    norm_bound = 3 * norms[len(norms) // 2]
    print(f"clean ppl by round {[round(p, 2) for p in clean_ppl]}; norm bound {norm_bound:.2f}", flush=True)

    def crafted(attack: str, r: int, benign: list[dict[str, torch.Tensor]],
                previous: torch.Tensor | None) -> list[torch.Tensor]:
        """The attackers' three flat deltas of round r."""
        if attack in DATA_ATTACKS:
            return [flatten(poison_rounds[r][attack], keys)] * ATTACKERS
        table = {**MODEL_ATTACKS, **FREE_RIDERS}
        benign_flat = torch.stack([flatten(b, keys) for b in benign])
        own = flatten(own_rounds[r], keys)
        if attack == "replay" and previous is None:
            return [own] * ATTACKERS  # nothing revealed yet: round 0 has nothing to replay
        view = AttackView(own=own, benign=benign_flat, previous=previous, peers=PEERS,
                          malicious=ATTACKERS, generator=torch.Generator().manual_seed(r))
        return [table[attack](view)] * ATTACKERS

    results, summary = [], []
    for attack in attacks:
        for rule_name in rules:
            rule = RuleId[rule_name.upper()]
            g = clean[0]
            history: tuple[Fingerprint, ...] = ()
            tp = fp = fn = 0
            for r in range(args.rounds):
                ctx = RoundContext(round=r, current_global_hash=tensors_hash(g), spec=shapes,
                                   norm_bound=norm_bound, rule_id=rule,
                                   params=ConsensusParams(), history=history)
                honest = honest_rounds[r]
                previous = flatten(honest_rounds[r - 1][0], keys) if r else None
                rows = [flatten(h, keys) for h in honest]
                if attack != "none":
                    rows += crafted(attack, r, honest, previous)
                subs = [Submission(peer=f"0x{i + 1:040x}", commit_index=i, revealed=True,
                                   commitment_ok=True, signature_ok=True,
                                   base_hash=ctx.current_global_hash, sample_count=steps * batch,
                                   delta=ctx.unflatten(row.clone()))
                        for i, row in enumerate(rows)]
                outcome = settle_round(subs, ctx)
                for i, v in enumerate(outcome.verdicts):
                    rejected = v.reason is not Reason.ACCEPTED
                    bad = i >= HONEST
                    tp += rejected and bad
                    fp += rejected and not bad
                    fn += (not rejected) and bad
                g = apply_delta(g, outcome.aggregate.delta)
                history = history + tuple(outcome.fingerprints.values())
                p = ppl(g)
                results.append({"attack": attack, "rule": rule_name, "round": r + 1, "ppl": round(p, 4),
                                "ppl_ratio": round(p / clean_ppl[r + 1], 4)})
            entry: dict[str, object] = {
                "attack": attack, "rule": rule_name, "ppl_ratio": results[-1]["ppl_ratio"],
                "rejection_precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "rejection_recall": round(tp / (tp + fn), 4) if tp + fn else None,
            }
            if attack == "backdoor":
                entry["backdoor_success"] = backdoor_rate(model, tokenizer, g, prompts)
            summary.append(entry)
            print(json.dumps(entry), flush=True)

    def worst(rule_name: str) -> float | None:
        ratios = [e["ppl_ratio"] for e in summary if e["rule"] == rule_name]
        return max(ratios) if ratios else None  # type: ignore[type-var]

    timing = aggregation.measure(40 if quick else 100, 1 if quick else 3, args.threads)
    print(json.dumps({
        "clean_ppl": round(clean_ppl[-1], 4),
        "base_ppl": round(clean_ppl[0], 4),
        "default_rule": DEFAULT_RULE.name.lower(),
        "default_worst_ppl_ratio": worst(DEFAULT_RULE.name.lower()),
        "fedavg_worst_ppl_ratio": worst("fedavg"),
        "flwr_time_ratio_max": timing["flwr_time_ratio_max"],
        "krum_family_vs_flwr_ratio": timing["krum_family_vs_flwr_ratio"],
        "rounds": args.rounds,
        "steps": steps,
        "norm_bound": round(norm_bound, 4),
        "summary": summary,
        "results": results,
        "seconds": round(time.perf_counter() - began, 1),
    }))


def backdoor_rate(model: torch.nn.Module, tokenizer: object, adapter: dict[str, torch.Tensor],
                  prompts: list[str]) -> float:
    """Share of triggered prompts whose greedy continuation contains the backdoor's target."""
    set_adapter_state(model, adapter)
    outputs = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")  # type: ignore[operator]
            out = model.generate(**ids, max_new_tokens=len(DEFAULT_TARGET.split()) + 4, do_sample=False)
            outputs.append(tokenizer.decode(out[0, ids["input_ids"].shape[1]:]))  # type: ignore[attr-defined]
    return round(backdoor_success(outputs), 4)


if __name__ == "__main__":
    main()
