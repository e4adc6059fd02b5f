"""Robustness of the validation pipeline and the aggregation rules on real LoRA deltas of the real
model, against adaptive colluders that never send identical vectors.

    python benchmarks/robustness.py [--quick] [--deals D] [--rounds R] [--rules a,b] [--attacks x,y]

Per topic deal (seed s: fortunes topics dealt two per peer by ``deal_topics(seed=s)``, non-IID):
10 peers, 7 honest and 3 attackers (30%), R cumulative rounds, each peer training 8 steps of
batch 2 x 64 tokens per round from the round's global. Every attack of ``harness.attacks``
crafts one vector per attacker (own jitter, own data, own solution; the library's default jitter
keeps two colluders below the near-duplicate cosine); the data attacks (backdoor, garbage) train
each attacker on its own poisoned data. Reported per (attack, rule, round): perplexity of the
global adapter on held-out text of the honest peers' topics (>= 512 tokens) vs the clean run
(FedAvg of the honest peers only); per attack: its worst ratio under the default rule over
rounds and deals, and the pipeline's recall (attacker submissions rejected); honest submissions
rejected over everything; for free riders, the most a free rider was scored relative to the
median honest peer of its round (incentives.scoring on the round's verdicts: a free rider must not
be paid as a full contributor).

The white-box attack knows the task's whole RoundContext (every ConsensusParams value, the norm
bound, the replay history, the run's global changes) and searches for the most damaging update
that ``validate_round`` still accepts (harness/attacks/whitebox.py). The mimicking free riders send
the run's own previous global changes (public), rescaled to the previous round's median norm,
plus noise; the mixed one and the inflated claim add each free rider's own cheap training (2 steps
of one block each, an eighth of an honest peer's tokens).

Every rule runs behind the validation pipeline. The baseline "fedavg_unfiltered" is a naive
federation without it: the sample-weighted FedAvg of every submission (by the FedAvg rule's code
on a grid sized to the largest submitted norm); it fails an attack when its perplexity exceeds
the clean run's by more than 3% in some round or its global breaks (inf: null in the JSON).

Cost control, stated plainly:
* the honest deltas of round r are trained once, from the clean run's global G_r, and reused by
  every (attack, rule) run, so an attacked run's honest peers do not react to the damage done to
  its global. The attackers' own, backdoor, garbage and cheap trainings are real too, from G_r;
* every trained delta is cached under build/robustness/, keyed by the model, LoRA and training
  settings, the deal's topics and the round (the key does not cover the trainer's code: delete
  the folder after changing it);
* a round is validated once per (deal, attack), with the default rule's run supplying the global
  changes (RoundContext.changes) and the free riders' previous global change; every rule
  aggregates that accepted set; perplexity is measured once per distinct global (content hash);
* ``--quick``: one deal, two rounds, a subset of the attacks (the adaptive in-spread ones, the
  white-box and the mimic), the default rule, FedAvg and the unfiltered baseline, the rules timed
  against Flower at 12 peers. The training scale is the full one (never a degenerate delta). With
  the deltas cached it takes about five minutes on two cores (measured 2026-12-03), over the
  one-minute budget of a quick mode: the white-box search validates a whole round at each step
  of its bisections (2 jitters x 4 directions x 6 steps per round); a cold cache trains 14 deltas
  first.

The last line is one JSON object; the Flower timing keys come from benchmarks/aggregation.py
(measured in the same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness/ and tests/ live in the source tree

import aggregation  # the sibling benchmark: Flower timings in the same run
import torch

from harness.attacks import CLAIM_FACTORS, FREE_RIDERS, MODEL_ATTACKS, NEEDS_CHEAP, AttackView
from harness.attacks.backdoor import DEFAULT_TARGET, backdoor_prompts, backdoor_success, backdoor_texts
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
from loraswarm.incentives.from_consensus import outcomes_from_verdicts
from loraswarm.incentives.scoring import ScoringParams, score_round
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
QUICK_ATTACKS = ("none", "alie", "min_max_sgn", "fang_trimmed_mean", "whitebox", "mimic")
CACHE = Path(__file__).resolve().parents[1] / "build" / "robustness"
UNFILTERED = "fedavg_unfiltered"
DEFAULT = DEFAULT_RULE.name.lower()
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
    deals: int  # topic deals (seeds 0 .. deals - 1)


FULL = Scale(rounds=3, steps=8, batch=2, seq=64, eval_blocks=10, prompts=4, timing_peers=100, timing_repeats=3,
             deals=2)
QUICK = dataclasses.replace(FULL, rounds=2, eval_blocks=9, prompts=2, timing_peers=12, timing_repeats=1, deals=1)


class Deal:
    """One topic deal: the peers' data, its trained deltas (cached), and its clean trajectory."""

    def __init__(self, seed: int, scale: Scale, model: torch.nn.Module, tokenizer: object, model_hash: str,
                 lora: LoraParams, threads: int, phases: Counter[str]) -> None:
        self.seed, self.scale, self.model, self.tokenizer, self.phases = seed, scale, model, tokenizer, phases
        spec = adapter_spec(model, lora)
        self.spec = spec
        self.shapes = dict(spec.shapes)
        self.keys = sorted(self.shapes)
        self.config = TrainConfig(steps=scale.steps, batch_size=scale.batch, progress=False, threads=threads)
        cheap = dataclasses.replace(self.config, steps=2, batch_size=1)
        topics = deal_topics(list_topics(), PEERS, per_peer=2, seed=seed)
        data = [peer_data(t, held_out_fraction=0.1, seed=0) for t in topics]
        self.corpora: dict[str, tuple[Callable[[], list[str]], TrainConfig]] = {
            f"honest{i}": (data[i].train_texts, self.config) for i in range(HONEST)}
        for a in range(ATTACKERS):
            own = data[HONEST + a].train_texts
            self.corpora[f"own{a}"] = (own, self.config)
            self.corpora[f"backdoor{a}"] = (lambda own=own, a=a: backdoor_texts(own(), seed=1 + a), self.config)
            self.corpora[f"garbage{a}"] = (lambda own=own, a=a: garbage_texts(own(), seed=2 + a), self.config)
            self.corpora[f"cheap{a}"] = (own, cheap)
        held_texts = [r for d in data[:HONEST] for topic in d.topics for r in d.held_out[topic]]
        held_all = pack_texts(tokenizer, held_texts, scale.seq)  # type: ignore[arg-type]
        self.held = held_all.subset(torch.arange(min(scale.eval_blocks, len(held_all))))
        self.held_tokens = self.held.predicted_tokens
        self.prompts = backdoor_prompts(held_texts, limit=scale.prompts)
        self.key = hashlib.sha256(json.dumps({
            "model": model_hash, "lora": dataclasses.asdict(lora), "peers": PEERS, "topics": topics,
            "train": {k: v for k, v in dataclasses.asdict(self.config).items() if k not in ("progress", "threads")},
            "seq": scale.seq,
        }, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.blocks: dict[str, TokenBlocks] = {}
        self.clean = [initial_adapter(spec, seed=0)]
        self.memo: dict[tuple[str, int], torch.Tensor] = {}

    def trained(self, role: str, r: int) -> torch.Tensor:
        """The flat delta ``role`` trains in round r from the clean global: from the cache, or
        trained for real and cached."""
        if (role, r) in self.memo:
            return self.memo[(role, r)]
        path = CACHE / f"{self.key}-r{r}-{role}.pt"
        if path.exists():
            delta = torch.load(path, weights_only=True)
        else:
            t = time.perf_counter()
            texts, config = self.corpora[role]
            if role not in self.blocks:
                self.blocks[role] = pack_texts(self.tokenizer, texts(), self.scale.seq)  # type: ignore[arg-type]
            start = self.global_(r)
            seed = 100 * r + list(self.corpora).index(role)
            result = train_lora(self.model, self.blocks[role], start, dataclasses.replace(config, seed=seed))
            delta = compute_delta(result.adapter, start)
            CACHE.mkdir(parents=True, exist_ok=True)
            torch.save(delta, path)
            self.phases["train"] += time.perf_counter() - t
            print(f"  deal {self.seed} round {r}: trained {role} ({time.perf_counter() - t:.1f} s)", flush=True)
        self.memo[(role, r)] = flatten(delta, self.keys)
        return self.memo[(role, r)]

    def global_(self, r: int) -> dict[str, torch.Tensor]:
        """The clean global G_r: FedAvg (equal weights) of the honest deltas of earlier rounds."""
        while len(self.clean) <= r:
            q = len(self.clean) - 1
            honest = [self.unflat(self.trained(f"honest{i}", q)) for i in range(HONEST)]
            self.clean.append(apply_delta(self.clean[q], {k: sum(h[k] for h in honest) / HONEST for k in self.keys}))
        return self.clean[r]

    def unflat(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for key in self.keys:
            size = math.prod(self.shapes[key])
            out[key] = flat[start:start + size].reshape(self.shapes[key])
            start += size
        return out

    def honest(self, r: int) -> torch.Tensor:
        return torch.stack([self.trained(f"honest{i}", r) for i in range(HONEST)])

    def rows_of(self, role: str, r: int) -> torch.Tensor:
        return torch.stack([self.trained(f"{role}{a}", r) for a in range(ATTACKERS)])


class Evaluator:
    """Perplexity and backdoor success of a global adapter, memoized by content hash."""

    def __init__(self, deal: Deal) -> None:
        self.deal = deal
        self.ppl_memo: dict[str, float] = {}
        self.backdoor_memo: dict[str, float | None] = {}

    def ppl(self, adapter: dict[str, torch.Tensor]) -> float:
        key = tensors_hash(adapter)
        if key not in self.ppl_memo:
            t = time.perf_counter()
            if finite(adapter):
                set_adapter_state(self.deal.model, adapter)
                nll = mean_nll(self.deal.model, self.deal.held)
                self.ppl_memo[key] = math.exp(nll) if math.isfinite(nll) and nll < 700 else math.inf
            else:
                self.ppl_memo[key] = math.inf
            self.deal.phases["eval"] += time.perf_counter() - t
        return self.ppl_memo[key]

    def backdoor(self, adapter: dict[str, torch.Tensor]) -> float | None:
        key = tensors_hash(adapter)
        if key not in self.backdoor_memo:
            t = time.perf_counter()
            self.backdoor_memo[key] = (backdoor_rate(self.deal.model, self.deal.tokenizer, adapter, self.deal.prompts)
                                       if finite(adapter) else None)
            self.deal.phases["eval"] += time.perf_counter() - t
        return self.backdoor_memo[key]


@dataclasses.dataclass
class AttackRun:
    """One attack on one deal: per-rule perplexity ratios by round and the pipeline's verdicts."""

    worst: dict[str, float]
    ratios: list[dict[str, object]]
    attacker_reasons: Counter[str]
    tp: int = 0
    fp: int = 0
    fn: int = 0
    honest_total: int = 0
    paid_vs_honest: float = 0.0
    backdoor: dict[str, float | None] = dataclasses.field(default_factory=dict)


def run_attack(deal: Deal, ev: Evaluator, attack: str, rules: list[str], norm_bound: float) -> AttackRun:
    scale = deal.scale
    columns = [*rules, UNFILTERED]
    globals_ = {rule: deal.clean[0] for rule in columns}
    run = AttackRun({rule: 0.0 for rule in columns}, [], Counter())
    history: tuple[Fingerprint, ...] = ()
    changes: list[dict[str, torch.Tensor]] = []  # the default rule's run: public global changes
    claim = scale.steps * scale.batch
    for r in range(scale.rounds):
        t = time.perf_counter()
        ctx = RoundContext(round=r, current_global_hash=tensors_hash(deal.global_(r)), spec=deal.shapes,
                           norm_bound=norm_bound, params=ConsensusParams(), history=history,
                           changes=tuple(changes))
        honest = deal.honest(r)
        rows = list(honest)
        claims = [claim] * HONEST
        if attack != "none":
            crafted = craft(deal, attack, r, ctx, honest, [flatten(c, deal.keys) for c in changes])
            rows += list(crafted)
            claims += [round(claim * CLAIM_FACTORS.get(attack, 1.0))] * ATTACKERS
        subs = [Submission(peer=f"0x{i + 1:040x}", commit_index=i, base_hash=ctx.current_global_hash,
                           sample_count=claims[i], delta=ctx.unflatten(row.clone()))
                for i, row in enumerate(rows)]
        verdict = validate_round(subs, ctx)
        deal.phases["validate"] += time.perf_counter() - t
        for i, v in enumerate(verdict.verdicts):
            rejected, bad = not v.accepted, i >= HONEST
            run.tp += rejected and bad
            run.fp += rejected and not bad
            run.fn += (not rejected) and bad
            run.honest_total += not bad
            if bad:
                run.attacker_reasons[v.reason.name] += 1
        history = history + tuple(verdict.fingerprints.values())
        for rule_name in columns:
            t = time.perf_counter()
            if rule_name == UNFILTERED:
                delta = unfiltered_fedavg(subs, rows, ctx)
            else:
                agg = aggregate(verdict.accepted, dataclasses.replace(ctx, rule_id=RuleId[rule_name.upper()]))
                delta = agg.delta
                if rule_name == DEFAULT:
                    changes.append(delta)
                    if attack in FREE_RIDERS:
                        run.paid_vs_honest = max(run.paid_vs_honest, paid_ratio(verdict.verdicts, agg.agreement))
            globals_[rule_name] = apply_delta(globals_[rule_name], delta)
            deal.phases["aggregate"] += time.perf_counter() - t
            p = ev.ppl(globals_[rule_name])
            ratio = p / ev.ppl(deal.global_(r + 1))
            run.worst[rule_name] = max(run.worst[rule_name], ratio)
            run.ratios.append({"deal": deal.seed, "attack": attack, "rule": rule_name, "round": r + 1,
                               "ppl": number(p), "ppl_ratio": number(ratio)})
    if attack == "backdoor":
        run.backdoor = {rule: ev.backdoor(globals_[rule]) for rule in columns}
    return run


def craft(deal: Deal, attack: str, r: int, ctx: RoundContext, honest: torch.Tensor,
          changes: list[torch.Tensor]) -> torch.Tensor:
    """The attackers' rows of round r: real trainings for the data attacks, else the library's
    crafted rows (each attacker its own)."""
    if attack in DATA_ATTACKS:
        return deal.rows_of(attack, r)
    previous = deal.honest(r - 1)[:ATTACKERS] if r else None
    if attack == "replay" and previous is None:
        return deal.rows_of("own", r)  # round 0 has nothing to replay: they train
    typical = None
    if r:
        norms = sorted(float(x) for x in deal.honest(r - 1).to(torch.float64).norm(dim=1))
        typical = norms[(len(norms) - 1) // 2]
    needs_own = attack in ("sign_flip", "scaling")
    view = AttackView(
        own=deal.rows_of("own", r) if needs_own else torch.zeros((ATTACKERS, honest.shape[1])),
        benign=honest, peers=PEERS, generator=torch.Generator().manual_seed(1000 * deal.seed + r),
        previous=previous, changes=tuple(changes), typical_norm=typical,
        cheap=deal.rows_of("cheap", r) if attack in NEEDS_CHEAP else None, ctx=ctx)
    return {**MODEL_ATTACKS, **FREE_RIDERS}[attack](view)


def paid_ratio(verdicts: tuple[object, ...], agreement: dict[str, float]) -> float:
    """The largest free rider's score (incentives.scoring on this round's verdicts, agreement
    from the aggregate) over the median honest peer's."""
    from loraswarm.consensus.types import Verdict

    settled = []
    for v in verdicts:
        assert isinstance(v, Verdict)
        if v.accepted:
            v = dataclasses.replace(v, measures={**v.measures, "agreement": agreement[v.peer]})
        settled.append(v)
    scores = list(score_round(outcomes_from_verdicts(settled), ScoringParams()).values())
    honest = sorted(scores[:HONEST])
    median = honest[(HONEST - 1) // 2]
    return max(scores[HONEST:]) / median if median else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for field in dataclasses.fields(Scale):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--rules", default=None, help="comma-separated rule names (default: all)")
    parser.add_argument("--attacks", default=None, help="comma-separated attack names (default: all)")
    # One thread for the model: on a shared 2-core machine two OpenMP threads run a training
    # step 5-20x slower than one whenever another process holds a core (measured).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-threads", type=int, default=2)
    args = parser.parse_args()
    scale = dataclasses.replace(QUICK if args.quick else FULL, **{
        f.name: getattr(args, f.name) for f in dataclasses.fields(Scale) if getattr(args, f.name) is not None})
    if scale.steps < 8 or scale.batch < 2 or scale.seq < 64:
        parser.error("the training scale must not be degenerate: >= 8 steps, batch >= 2, seq >= 64")
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    phases: Counter[str] = Counter()
    rules = (args.rules.split(",") if args.rules
             else [DEFAULT, "fedavg"] if args.quick else [r.name.lower() for r in RuleId])
    if DEFAULT not in rules:
        rules.insert(0, DEFAULT)
    attacks = args.attacks.split(",") if args.attacks else list(QUICK_ATTACKS if args.quick else ALL_ATTACKS)
    if unknown := set(attacks) - set(ALL_ATTACKS):
        parser.error(f"unknown attacks {sorted(unknown)}")
    if "none" not in attacks:
        attacks.insert(0, "none")

    model, tokenizer, model_hash = load_base_model()
    lora = LoraParams()
    model = attach_lora(model, lora)
    print(f"{scale}", flush=True)

    runs: dict[str, list[AttackRun]] = {a: [] for a in attacks}
    clean_ppl: list[float] = []
    base_ppl: list[float] = []
    bounds: list[float] = []
    held_tokens: list[int] = []
    clean_backdoor: list[float | None] = []
    for seed in range(scale.deals):
        deal = Deal(seed, scale, model, tokenizer, model_hash, lora, args.threads, phases)
        ev = Evaluator(deal)
        print(f"deal {seed}: cache {CACHE / deal.key}-*; held-out tokens {deal.held_tokens}", flush=True)
        norms = sorted(float(x) for x in deal.honest(0).to(torch.float64).norm(dim=1))
        # The task's norm bound, as a task creator would calibrate it: 3x the round-0 honest median.
        norm_bound = 3 * norms[len(norms) // 2]
        trajectory = [ev.ppl(deal.global_(r)) for r in range(scale.rounds + 1)]
        print(f"deal {seed}: clean ppl by round {[round(p, 2) for p in trajectory]}; norm bound {norm_bound:.4f}",
              flush=True)
        clean_ppl.append(trajectory[-1])
        base_ppl.append(trajectory[0])
        bounds.append(norm_bound)
        held_tokens.append(deal.held_tokens)
        for attack in attacks:
            t = time.perf_counter()
            run = run_attack(deal, ev, attack, rules, norm_bound)
            runs[attack].append(run)
            recall = run.tp / (run.tp + run.fn) if run.tp + run.fn else None
            print(json.dumps({"deal": seed, "attack": attack, "worst": {k: number(v) for k, v in run.worst.items()},
                              "recall": recall, "honest_rejected": run.fp,
                              "attacker_reasons": dict(sorted(run.attacker_reasons.items())),
                              "paid_vs_honest": number(run.paid_vs_honest) if attack in FREE_RIDERS else None,
                              "backdoor": run.backdoor or None, "s": round(time.perf_counter() - t, 1)}), flush=True)
        clean_backdoor.append(ev.backdoor(deal.global_(scale.rounds)) if "backdoor" in attacks else None)

    columns = [*rules, UNFILTERED]
    table = {a: {c: max(run.worst[c] for run in runs[a]) for c in columns} for a in attacks}
    print_table(table, columns)
    summary: dict[str, dict[str, object]] = {}
    for attack in attacks:
        tp = sum(run.tp for run in runs[attack])
        fn = sum(run.fn for run in runs[attack])
        entry: dict[str, object] = {"worst_ppl_ratio": number(table[attack][DEFAULT]),
                                    "recall": round(tp / (tp + fn), 4) if tp + fn else None}
        if attack in FREE_RIDERS:
            entry["paid_vs_honest_max"] = number(max(run.paid_vs_honest for run in runs[attack]))
        if attack == "backdoor":
            entry["backdoor_success"] = {c: [run.backdoor.get(c) for run in runs[attack]] for c in columns}
        summary[attack] = entry
    results = [row for a in attacks for run in runs[a] for row in run.ratios]

    def worst_ratio(rule_name: str) -> float | None:
        ratios = [e["ppl_ratio"] for e in results if e["rule"] == rule_name]
        if any(x is None for x in ratios):
            return None  # non-finite (inf) in some round: null, never a finite stand-in
        return max(ratios) if ratios else None  # type: ignore[type-var]

    unfiltered_failed = [a for a in attacks if a != "none" and not table[a][UNFILTERED] <= FAIL_RATIO]
    honest_total = sum(run.honest_total for a in attacks for run in runs[a])
    honest_rejected = sum(run.fp for a in attacks for run in runs[a])
    t = time.perf_counter()
    timing = aggregation.measure(scale.timing_peers, scale.timing_repeats, args.timing_threads)
    phases["flwr_timing"] += time.perf_counter() - t
    print(json.dumps({
        "clean_ppl": round(statistics.mean(clean_ppl), 4),
        "clean_ppl_by_deal": [round(p, 4) for p in clean_ppl],
        "base_ppl_by_deal": [round(p, 4) for p in base_ppl],
        "default_rule": DEFAULT,
        "default_worst_ppl_ratio": worst_ratio(DEFAULT),
        "attacks": summary,
        "honest_rejected_fraction": round(honest_rejected / honest_total, 4) if honest_total else None,
        "honest_rejected": honest_rejected,
        "honest_submissions": honest_total,
        "fedavg_worst_ppl_ratio": worst_ratio("fedavg") if "fedavg" in rules else None,
        "unfiltered_fedavg_worst_ppl_ratio": worst_ratio(UNFILTERED),
        "unfiltered_fedavg_failed": unfiltered_failed,
        "flwr_time_ratio_max": timing["flwr_time_ratio_max"],
        "krum_family_vs_flwr_ratio": timing["krum_family_vs_flwr_ratio"],
        "timing_peers": scale.timing_peers,
        "rounds": scale.rounds,
        "deals": scale.deals,
        "rules": rules,
        "clean_backdoor_success": clean_backdoor,
        "scale": dataclasses.asdict(scale),
        "held_out_tokens": min(held_tokens),
        "norm_bound_by_deal": [round(b, 6) for b in bounds],
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
    weights = [min(s.sample_count, ctx.params.max_samples) for s in subs]
    if not bool(torch.isfinite(flat).all()):
        w = torch.tensor(weights, dtype=torch.float64)
        return ctx.unflatten(((w @ flat.to(torch.float64)) / w.sum()).to(torch.float32))
    bound = float(flat.to(torch.float64).norm(dim=1).max())
    if bound == 0:
        return ctx.unflatten(torch.zeros(flat.shape[1]))
    bits = fixedpoint.value_bits(bound)
    stack = Stack.of(tuple(s.peer for s in subs), fixedpoint.quantize(flat, bits), tuple(weights), bits)
    plain = dataclasses.replace(ctx, norm_bound=bound, rule_id=RuleId.FEDAVG, changes=())
    return aggregate(stack, plain).delta


def print_table(table: dict[str, dict[str, float]], columns: list[str]) -> None:
    """Per attack: each rule's worst perplexity ratio over rounds and deals (inf: a broken global)."""
    width = max(len(c) for c in columns) + 2
    print("worst ppl ratio vs clean (over rounds and deals)", flush=True)
    print(f"{'attack':<20}" + "".join(f"{c:>{width}}" for c in columns), flush=True)
    for attack, cells in table.items():
        line = f"{attack:<20}"
        for c in columns:
            text = f"{cells[c]:.4f}" + ("!" if not cells[c] <= FAIL_RATIO else "")
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
            out = model.generate(**ids, max_new_tokens=len(DEFAULT_TARGET.split()) + 4,  # type: ignore[operator]
                                 do_sample=False)
            outputs.append(tokenizer.decode(out[0, ids["input_ids"].shape[1]:]))  # type: ignore[attr-defined]
    return round(backdoor_success(outputs), 4)


if __name__ == "__main__":
    main()
