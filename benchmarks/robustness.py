"""Robustness of the aggregation rules on real LoRA deltas of the real model.

    python benchmarks/robustness.py [--quick] [--rounds R] [--steps S] [--rules a,b] [--attacks x,y]

10 peers on fortunes topics (two disjoint topics each: non-IID), 7 honest and 3 colluding
attackers (30%), R cumulative rounds, every attack x every rule. Reported per (attack, rule,
round): perplexity of the global adapter on a small fixed held-out set (the honest peers'
held-out records) vs the clean FedAvg run (honest peers only); per attack: rejection precision /
recall of the validation pipeline over all submissions (the pipeline does not depend on the
rule; a Krum-family rule leaving an accepted update out is not a rejection); per (backdoor,
rule): the backdoor's success rate (triggered prompts whose greedy continuation contains the
target), next to the clean global's.

Every rule above runs behind the validation pipeline, so even "fedavg" averages only what the
pipeline accepted. The baseline "fedavg_unfiltered" is what a naive federation without
loraswarm's checks would do: the sample-weighted FedAvg of every submission of the round,
attackers included, in commit order, by the same rule code (consensus/rules/fedavg.py through
``aggregate``) on a value grid sized to the largest submitted norm instead of the task's norm
bound (which only the pipeline enforces). It is reported for every attack next to the rules, and
counted as failing an attack when its perplexity exceeds the clean run's by more than 3% in some
round or its global turns non-finite (perplexity inf: null in the JSON).

Cost control, stated plainly:
* the honest deltas of round r are trained once, from the clean run's global adapter G_r, and
  reused by every (attack, rule) run, so an attacked run's honest peers do not react to the
  damage done to its global. The attackers' deltas are real too: their own data, the backdoor
  data and the garbage data are trained for real from the same G_r; the model-poisoning attacks
  craft from that (omniscient attacker);
* every trained delta is cached on disk under build/robustness/, keyed by the model, the LoRA
  and training settings and the round: a second run trains nothing (the key does not cover the
  trainer's code: delete the folder after changing it);
* a round's submissions do not depend on the rule, so each (attack, round) is validated once
  and its accepted set aggregated by every rule; perplexity and backdoor success are measured
  once per distinct global adapter (by content hash: a rule whose accepted sets match the clean
  run's reaches the clean run's global);
* ``--quick`` trains two steps on one short block per peer, runs one round of a subset of the
  attacks under the default rule, FedAvg and the unfiltered baseline, and times the rules
  against Flower at 12 peers: a smoke test of the whole path in under a minute, not the figures
  of record.

Before it, a table per attack: the worst perplexity ratio over the rounds of every rule run and
of unfiltered FedAvg ("!" where it fails), and backdoor success. The last line is one JSON object;
the Flower timing keys come from benchmarks/aggregation.py (measured in the same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness/ and tests/ live in the source tree

import aggregation  # the sibling benchmark: Flower timings in the same run
import torch

from harness.attacks import FREE_RIDERS, MODEL_ATTACKS, AttackView
from harness.attacks.backdoor import (
    DEFAULT_TARGET,
    backdoor_prompts,
    backdoor_success,
    backdoor_texts,
)
from harness.attacks.garbage import garbage_texts
from loraswarm.consensus import (
    ConsensusParams,
    RoundContext,
    Submission,
    aggregate,
    fixedpoint,
    tensors_hash,
    validate_round,
)
from loraswarm.consensus.fixedpoint import flatten
from loraswarm.consensus.stack import Stack
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
from loraswarm.protocol.rules import DEFAULT_RULE, RuleId

PEERS, ATTACKERS = 10, 3
HONEST = PEERS - ATTACKERS
DATA_ATTACKS = ("backdoor", "garbage")
ALL_ATTACKS = ("none", *MODEL_ATTACKS, *DATA_ATTACKS, *FREE_RIDERS)
# The quick subset: the clean run, the in-spread colluders (ALIE), a loud model attack, a
# trained data attack and a free rider.
QUICK_ATTACKS = ("none", "alie", "sign_flip", "backdoor", "copy")
CACHE = Path(__file__).resolve().parents[1] / "build" / "robustness"
UNFILTERED = "fedavg_unfiltered"  # the naive baseline: FedAvg of every submission, no pipeline
FAIL_RATIO = 1.03  # the bound on the perplexity ratio vs the clean run


@dataclasses.dataclass(frozen=True)
class Scale:
    rounds: int
    steps: int  # training steps per peer and round
    batch: int
    seq: int  # tokens per block
    eval_blocks: int  # held-out blocks of seq tokens for perplexity
    prompts: int  # triggered prompts for the backdoor's success rate
    timing_peers: int  # deltas per rule in the Flower timing
    timing_repeats: int


# Sized for a shared 2-core CPU: 30 trainings of 256 tokens, perplexity on 256 held-out tokens
# (the same tokens for every global: ratios are paired). Quick: two steps, not one, because a
# single Adam step from B = 0 moves every coordinate by +-lr, a degenerate delta.
FULL = Scale(rounds=3, steps=4, batch=1, seq=64, eval_blocks=4, prompts=4, timing_peers=100, timing_repeats=3)
QUICK = Scale(rounds=1, steps=2, batch=1, seq=16, eval_blocks=2, prompts=2, timing_peers=12, timing_repeats=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for field in dataclasses.fields(Scale):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--rules", default=None, help="comma-separated rule names (default: all)")
    parser.add_argument("--attacks", default=None, help="comma-separated attack names (default: all)")
    # One thread for the model: on a shared 2-core machine two OpenMP threads run a training
    # step 5-20x slower than one whenever another process holds a core (measured). The rule
    # timing against Flower keeps aggregation.py's default of two.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-threads", type=int, default=2)
    args = parser.parse_args()
    quick = args.quick
    scale = dataclasses.replace(QUICK if quick else FULL, **{
        f.name: getattr(args, f.name) for f in dataclasses.fields(Scale) if getattr(args, f.name) is not None})
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    phases: Counter[str] = Counter()

    rules = (args.rules.split(",") if args.rules
             else [DEFAULT_RULE.name.lower(), "fedavg"] if quick else [r.name.lower() for r in RuleId])
    attacks = args.attacks.split(",") if args.attacks else list(QUICK_ATTACKS if quick else ALL_ATTACKS)
    unknown = set(attacks) - set(ALL_ATTACKS)
    if unknown:
        parser.error(f"unknown attacks {sorted(unknown)}")

    model, tokenizer, model_hash = load_base_model()
    lora = LoraParams()
    model = attach_lora(model, lora)
    spec = adapter_spec(model, lora)
    shapes = dict(spec.shapes)
    keys = sorted(shapes)
    config = TrainConfig(steps=scale.steps, batch_size=scale.batch, progress=False, threads=args.threads)

    topics = deal_topics(list_topics(), PEERS, per_peer=2, seed=0)
    data = [peer_data(t, held_out_fraction=0.1, seed=0) for t in topics]
    attacker_texts = data[HONEST].train_texts()
    corpora: dict[str, Callable[[], list[str]]] = {
        **{f"honest{i}": data[i].train_texts for i in range(HONEST)},
        "own": lambda: attacker_texts,
        "backdoor": lambda: backdoor_texts(attacker_texts, seed=1),
        "garbage": lambda: garbage_texts(attacker_texts, seed=2),
    }
    held_texts = [r for d in data[:HONEST] for topic in d.topics for r in d.held_out[topic]]
    held_all = pack_texts(tokenizer, held_texts, scale.seq)
    held = held_all.subset(torch.arange(min(scale.eval_blocks, len(held_all))))
    prompts = backdoor_prompts(held_texts, limit=scale.prompts)
    cache_key = hashlib.sha256(json.dumps({
        "model": model_hash, "lora": dataclasses.asdict(lora), "peers": PEERS, "topics": topics,
        "train": {k: v for k, v in dataclasses.asdict(config).items() if k not in ("progress", "threads")},
        "seq": scale.seq,
    }, sort_keys=True, default=str).encode()).hexdigest()[:16]
    blocks: dict[str, TokenBlocks] = {}

    def trained(role: str, r: int, start: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
        """The delta ``role`` trains in round r from the clean global ``start``: from the cache,
        or trained for real and cached."""
        path = CACHE / f"{cache_key}-r{r}-{role}.pt"
        if path.exists():
            return torch.load(path, weights_only=True)
        t = time.perf_counter()
        if role not in blocks:
            blocks[role] = pack_texts(tokenizer, corpora[role](), scale.seq)
        result = train_lora(model, blocks[role], start, dataclasses.replace(config, seed=seed))
        delta = compute_delta(result.adapter, start)
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.save(delta, path)
        phases["train"] += time.perf_counter() - t
        return delta

    ppl_memo: dict[str, float] = {}

    def ppl(adapter: dict[str, torch.Tensor]) -> float:
        key = tensors_hash(adapter)
        if key not in ppl_memo:
            t = time.perf_counter()
            if finite(adapter):
                set_adapter_state(model, adapter)
                nll = mean_nll(model, held)
                # A broken global's loss may overflow exp or be nan: its perplexity is inf.
                ppl_memo[key] = math.exp(nll) if math.isfinite(nll) and nll < 700 else math.inf
            else:
                ppl_memo[key] = math.inf
            phases["eval"] += time.perf_counter() - t
        return ppl_memo[key]

    # The clean trajectory: honest deltas per round, the clean FedAvg global, attacker trainings.
    print(f"{scale}; cache {CACHE / cache_key}-*", flush=True)
    poisons = [a for a in DATA_ATTACKS if a in attacks]
    clean = [initial_adapter(spec, seed=0)]
    honest_rounds: list[list[dict[str, torch.Tensor]]] = []
    own_rounds: list[dict[str, torch.Tensor]] = []
    poison_rounds: list[dict[str, dict[str, torch.Tensor]]] = []
    for r in range(scale.rounds):
        g = clean[-1]
        honest = [trained(f"honest{i}", r, g, seed=100 * r + i) for i in range(HONEST)]
        own_rounds.append(trained("own", r, g, seed=100 * r + HONEST))
        poison_rounds.append({name: trained(name, r, g, seed=100 * r + 50) for name in poisons})
        honest_rounds.append(honest)
        mean = {k: sum(h[k] for h in honest) / HONEST for k in keys}
        clean.append(apply_delta(g, mean))
        print(f"  round {r}: honest norms "
              f"{[round(float(flatten(h, keys).norm()), 3) for h in honest]}", flush=True)
    clean_ppl = [ppl(g) for g in clean]
    # The task's norm bound, as a task creator would calibrate it: 3x the round-0 honest median.
    norms = sorted(float(flatten(h, keys).norm()) for h in honest_rounds[0])
    norm_bound = 3 * norms[len(norms) // 2]
    print(f"clean ppl by round {[round(p, 2) for p in clean_ppl]}; norm bound {norm_bound:.4f}", flush=True)

    def crafted(attack: str, r: int, previous: torch.Tensor | None) -> list[torch.Tensor]:
        """The attackers' three flat deltas of round r (identical: colluders)."""
        if attack in DATA_ATTACKS:
            return [flatten(poison_rounds[r][attack], keys)] * ATTACKERS
        own = flatten(own_rounds[r], keys)
        if attack == "replay" and previous is None:
            return [own] * ATTACKERS  # nothing revealed yet: round 0 has nothing to replay
        benign = torch.stack([flatten(b, keys) for b in honest_rounds[r]])
        view = AttackView(own=own, benign=benign, previous=previous, peers=PEERS,
                          malicious=ATTACKERS, generator=torch.Generator().manual_seed(r))
        return [{**MODEL_ATTACKS, **FREE_RIDERS}[attack](view)] * ATTACKERS

    backdoor_memo: dict[str, float] = {}

    def backdoor(adapter: dict[str, torch.Tensor]) -> float | None:
        key = tensors_hash(adapter)
        if key not in backdoor_memo:
            t = time.perf_counter()
            # A non-finite global generates nothing meaningful: no rate (null).
            backdoor_memo[key] = backdoor_rate(model, tokenizer, adapter, prompts) if finite(adapter) else None
            phases["eval"] += time.perf_counter() - t
        return backdoor_memo[key]

    results, summary, rejection = [], [], []
    table: dict[str, dict[str, tuple[float, float | None]]] = {}  # attack -> rule -> (worst, backdoor)
    totals: Counter[str] = Counter()  # tp / fp / fn over every attack
    columns = [*rules, UNFILTERED]
    for attack in attacks:
        globals_ = {rule: clean[0] for rule in columns}
        worst = {rule: 0.0 for rule in columns}
        history: tuple[Fingerprint, ...] = ()
        tp = fp = fn = 0
        attacker_reasons: Counter[str] = Counter()
        for r in range(scale.rounds):
            t = time.perf_counter()
            ctx = RoundContext(round=r, current_global_hash=tensors_hash(clean[r]), spec=shapes,
                               norm_bound=norm_bound, params=ConsensusParams(), history=history)
            rows = [flatten(h, keys) for h in honest_rounds[r]]
            if attack != "none":
                previous = flatten(honest_rounds[r - 1][0], keys) if r else None
                rows += crafted(attack, r, previous)
            subs = [Submission(peer=f"0x{i + 1:040x}", commit_index=i, base_hash=ctx.current_global_hash,
                               sample_count=scale.steps * scale.batch, delta=ctx.unflatten(row.clone()))
                    for i, row in enumerate(rows)]
            verdict = validate_round(subs, ctx)
            phases["validate"] += time.perf_counter() - t
            for i, v in enumerate(verdict.verdicts):
                rejected, bad = not v.accepted, i >= HONEST
                tp += rejected and bad
                fp += rejected and not bad
                fn += (not rejected) and bad
                if bad:
                    attacker_reasons[v.reason.name] += 1
            history = history + tuple(verdict.fingerprints.values())
            for rule_name in columns:
                t = time.perf_counter()
                if rule_name == UNFILTERED:
                    delta = unfiltered_fedavg(subs, rows, ctx)
                else:
                    delta = aggregate(verdict.accepted,
                                      dataclasses.replace(ctx, rule_id=RuleId[rule_name.upper()])).delta
                globals_[rule_name] = apply_delta(globals_[rule_name], delta)
                phases["aggregate"] += time.perf_counter() - t
                p = ppl(globals_[rule_name])
                ratio = p / clean_ppl[r + 1]
                worst[rule_name] = max(worst[rule_name], ratio)
                results.append({"attack": attack, "rule": rule_name, "round": r + 1, "ppl": number(p),
                                "ppl_ratio": number(ratio)})
        entry_rejection = {
            "attack": attack,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "honest_rejected": fp,
            "attacker_reasons": dict(sorted(attacker_reasons.items())),
        }
        rejection.append(entry_rejection)
        totals.update(tp=tp, fp=fp, fn=fn)
        print(json.dumps(entry_rejection), flush=True)
        for rule_name in columns:
            entry: dict[str, object] = {"attack": attack, "rule": rule_name,
                                        "ppl_ratio": results[-len(columns) + columns.index(rule_name)]["ppl_ratio"],
                                        "worst_ppl_ratio": number(worst[rule_name])}
            if attack == "backdoor":
                entry["backdoor_success"] = backdoor(globals_[rule_name])
            summary.append(entry)
            table.setdefault(attack, {})[rule_name] = (worst[rule_name], entry.get("backdoor_success"))
            print(json.dumps(entry), flush=True)

    def worst_ratio(rule_name: str) -> float | None:
        ratios = [e["ppl_ratio"] for e in results if e["rule"] == rule_name]
        if any(x is None for x in ratios):
            return None  # non-finite (inf) in some round: null, never a finite stand-in
        return max(ratios) if ratios else None  # type: ignore[type-var]

    clean_backdoor = backdoor(clean[-1]) if "backdoor" in attacks else None
    # Unfiltered FedAvg fails an attack when, in some round, its perplexity exceeds the clean
    # run's by more than FAIL_RATIO or its global breaks (inf, nan: not <= FAIL_RATIO).
    unfiltered_failed = [a for a in attacks if a != "none" and not table[a][UNFILTERED][0] <= FAIL_RATIO]
    print_table(table, columns, rules, clean_backdoor)
    print(f"unfiltered FedAvg fails {len(unfiltered_failed)} of {sum(a != 'none' for a in attacks)} attacks "
          f"(ppl ratio > {FAIL_RATIO} or non-finite): {unfiltered_failed}", flush=True)
    t = time.perf_counter()
    timing = aggregation.measure(scale.timing_peers, scale.timing_repeats, args.timing_threads)
    phases["flwr_timing"] += time.perf_counter() - t
    attacked = [e for e in rejection if e["attack"] != "none"]
    recalls = [e["recall"] for e in attacked if e["recall"] is not None]
    print(json.dumps({
        "clean_ppl": round(clean_ppl[-1], 4),
        "base_ppl": round(clean_ppl[0], 4),
        "default_rule": DEFAULT_RULE.name.lower(),
        "default_worst_ppl_ratio": worst_ratio(DEFAULT_RULE.name.lower()),
        "fedavg_worst_ppl_ratio": worst_ratio("fedavg"),
        "unfiltered_fedavg_worst_ppl_ratio": worst_ratio(UNFILTERED),
        "unfiltered_fedavg_failed_attacks": len(unfiltered_failed),
        "unfiltered_fedavg_failed": unfiltered_failed,
        "unfiltered_fedavg_backdoor_success": table["backdoor"][UNFILTERED][1] if "backdoor" in attacks else None,
        "flwr_time_ratio_max": timing["flwr_time_ratio_max"],
        "krum_family_vs_flwr_ratio": timing["krum_family_vs_flwr_ratio"],
        "timing_peers": scale.timing_peers,
        "rounds": scale.rounds,
        "cells": len(attacks) * len(rules),  # rule cells; the unfiltered baseline is on top
        "attacks": len(attacks),
        "rules": len(rules),
        "rejection_precision": round(totals["tp"] / (totals["tp"] + totals["fp"]), 4)
        if totals["tp"] + totals["fp"] else None,
        "rejection_recall": round(totals["tp"] / (totals["tp"] + totals["fn"]), 4)
        if totals["tp"] + totals["fn"] else None,
        "honest_rejected": totals["fp"],
        "rejection_recall_min": min(recalls) if recalls else None,
        "alie_recall": next((e["recall"] for e in rejection if e["attack"] == "alie"), None),
        "alie_precision": next((e["precision"] for e in rejection if e["attack"] == "alie"), None),
        "clean_backdoor_success": clean_backdoor,
        "scale": dataclasses.asdict(scale),
        "norm_bound": round(norm_bound, 6),
        "rejection": rejection,
        "summary": summary,
        "results": results,
        "phase_seconds": {k: round(v, 1) for k, v in sorted(phases.items())},
        "seconds": round(time.perf_counter() - began, 1),
    }))


def finite(tensors: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors.values())


def number(x: float) -> float | None:
    """Rounded for the JSON; inf or nan as null (JSON has no infinity)."""
    return round(x, 4) if math.isfinite(x) else None


def unfiltered_fedavg(subs: list[Submission], rows: list[torch.Tensor], ctx: RoundContext) -> dict[str, torch.Tensor]:
    """The sample-weighted FedAvg delta of every submission (commit order), no validation.

    By the FedAvg rule's own code on a value grid sized to the largest submitted norm (the
    task's norm bound is the pipeline's check, skipped here): every row fits the grid, so
    nothing is clipped. A non-finite submission has no grid value: the float mean, as a naive
    server would compute it, carries the inf or nan into the global."""
    flat = torch.stack(rows)
    weights = [s.sample_count for s in subs]
    if not bool(torch.isfinite(flat).all()):
        w = torch.tensor(weights, dtype=torch.float64)
        return ctx.unflatten(((w @ flat.to(torch.float64)) / w.sum()).to(torch.float32))
    bound = float(flat.to(torch.float64).norm(dim=1).max())
    if bound == 0:
        return ctx.unflatten(torch.zeros(flat.shape[1]))
    bits = fixedpoint.value_bits(bound)
    stack = Stack.of(tuple(s.peer for s in subs), fixedpoint.quantize(flat, bits), tuple(weights), bits)
    return aggregate(stack, dataclasses.replace(ctx, norm_bound=bound, rule_id=RuleId.FEDAVG)).delta


def print_table(table: dict[str, dict[str, tuple[float, float | None]]], columns: list[str], rules: list[str],
                clean_backdoor: float | None) -> None:
    """Per attack: each rule's worst perplexity ratio over the rounds (inf: a broken global), and
    for the backdoor its success rate next to the clean global's."""
    width = max(len(c) for c in columns) + 2
    print("worst ppl ratio vs clean (over rounds); backdoor success in [ ]; clean backdoor success "
          f"{clean_backdoor}", flush=True)
    print(f"{'attack':<16}" + "".join(f"{c:>{width}}" for c in columns), flush=True)
    for attack, cells in table.items():
        line = f"{attack:<16}"
        for c in columns:
            ratio, rate = cells[c]
            text = f"{ratio:.4f}" + ("!" if c == UNFILTERED and not ratio <= FAIL_RATIO else "")
            if rate is not None:
                text += f" [{rate:.2f}]"
            line += f"{text:>{width}}"
        print(line, flush=True)


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
