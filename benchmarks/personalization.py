"""Personal adapters against the consensus global and against training alone, on the real base
model (SmolLM2-135M-Instruct), over every peer of random topic deals.

    python benchmarks/personalization.py [--quick] [--seeds 0 1] [--peers P] [--rounds R] [--steps S]

Per seed: ``deal_topics`` deals one fortunes topic to each of P peers at random (among the topics
with enough held-out text to measure: at least ``--held-tokens``); a further peer reveals a
sign-flipped, x20 copy of peer 0's delta. Each round every honest peer trains S steps from the
global, the consensus pipeline (``settle_round``, the default rule) judges the deltas and yields
the new global, and every honest peer folds the round into its personal adapter
(``node/personal.py``), choosing on a selection set cut from its own training blocks (never
trained on), as a node runs the rule (knowing which delta is its own); with ``--gain-only`` each
peer also keeps one by the rule without its own chain (``own=None``: the gain-weighted blend only,
the rule before issue 17). The baseline for "what a peer gives up by joining": the same peer training
alone, the same R rounds of S steps (same seeds, same batch) from the same start adapter on its
own training blocks, no federation.

Reported per peer, on its own held-out topic after the last round: perplexity of the base model,
the global, the local-only adapter and both personal adapters. Every peer of every seed counts:
the figures are the median and the worst peer, never a chosen one.

The last line is one JSON object (keys: personal_vs_global_ppl_ratio (median peer),
personal_vs_global_ppl_ratio_max (worst peer), personal_vs_local_ppl_ratio_median / _max,
global_vs_local_ppl_ratio_median / _max, with ``--gain-only`` the same for the rule without the
own chain (``gain_only_...``), per_peer, the settings, extra_s_per_round, total_s).

--quick does not fit in a minute on two cores (4 peers, 2 rounds of federated and of local-only
training, and the selection passes: 6 minutes on the 2-core machine otherwise idle, 20 shared); it
says so.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from loraswarm.consensus import RoundContext, Submission, apply_delta, settle_round, tensors_hash
from loraswarm.node.personal import Personalizer, PersonalParams, split_selection
from loraswarm.node.training import (
    Delta,
    LoraParams,
    TokenBlocks,
    TrainConfig,
    adapter_spec,
    attach_lora,
    compute_delta,
    deal_topics,
    get_adapter_state,
    initial_adapter,
    list_topics,
    load_base_model,
    load_topics,
    mean_nll,
    pack_texts,
    peer_data,
    set_adapter_state,
    set_threads,
    split_held_out,
    train_lora,
)

POISONED = "0x" + "ee" * 20
NORM_BOUND = 50.0  # the task spec's default
HELD_OUT_FRACTION = 0.1  # the node's default
LR = 2e-3


def peer_address(i: int) -> str:
    return f"0x{i + 1:040x}"


def held_out_ppl(model: torch.nn.Module, blocks: TokenBlocks, state: Delta | None) -> float:
    saved = get_adapter_state(model)
    try:
        if state is None:
            with model.disable_adapter():  # type: ignore[operator]
                return math.exp(mean_nll(model, blocks))  # type: ignore[arg-type]
        set_adapter_state(model, state)  # type: ignore[arg-type]
        return math.exp(mean_nll(model, blocks))  # type: ignore[arg-type]
    finally:
        set_adapter_state(model, saved)  # type: ignore[arg-type]


def eligible_topics(tokenizer, seq_len: int, held_blocks: int, seed: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Topics whose held-out records pack into at least ``held_blocks`` blocks (a topic of a few
    records cannot be measured; pratchett has one)."""
    out = []
    for topic, records in load_topics(list_topics()).items():
        _, held = split_held_out(records, HELD_OUT_FRACTION, seed)
        if len(pack_texts(tokenizer, held, seq_len)) >= held_blocks:
            out.append(topic)
    return out


def run_seed(seed: int, args: argparse.Namespace, model, tokenizer, spec, params: PersonalParams,  # type: ignore[no-untyped-def]
             held_blocks: int, workdir: Path, timings: dict[str, list[float]]) -> tuple[list[dict], bool]:
    pool = eligible_topics(tokenizer, args.seq_len, held_blocks, seed)
    deal = deal_topics(pool, args.peers, 1, seed)
    print(f"seed {seed}: {len(pool)} measurable topics; dealt {[d[0] for d in deal]}", flush=True)
    train, held, own_rule, gain_rule = [], [], [], []
    for i, topics in enumerate(deal):
        data = peer_data(topics, held_out_fraction=HELD_OUT_FRACTION, seed=seed)
        rest, selection = split_selection(pack_texts(tokenizer, data.train_texts(), args.seq_len), params)
        heldout = pack_texts(tokenizer, [t for topic in data.topics for t in data.held_out[topic]], args.seq_len)
        heldout = heldout.subset(torch.arange(held_blocks))
        train.append(rest)
        held.append(heldout)
        own_rule.append(Personalizer(model, spec, selection, heldout, workdir / f"{seed}-{i}-own", params,
                                     own=peer_address(i)))
        if args.gain_only:
            gain_rule.append(Personalizer(model, spec, selection, heldout, workdir / f"{seed}-{i}-gain", params))
    start = initial_adapter(spec, seed=0)
    global_state, local = start, [start] * len(deal)
    entered = False
    for r in range(args.rounds):
        deltas = {}
        for i, blocks in enumerate(train):
            config = TrainConfig(steps=args.steps, batch_size=args.batch, lr=LR, seed=10_000 * seed + 100 * r + i,
                                 threads=args.threads, progress=False)
            t0 = time.perf_counter()
            deltas[peer_address(i)] = compute_delta(train_lora(model, blocks, global_state, config).adapter,
                                                    global_state)
            timings["train"].append(time.perf_counter() - t0)
            # Training alone: the same steps, seeds and batch, from the peer's own previous adapter.
            local[i] = train_lora(model, blocks, local[i], config).adapter
        deltas[POISONED] = {k: -20.0 * v for k, v in deltas[peer_address(0)].items()}
        ctx = RoundContext(round=r, current_global_hash=tensors_hash(global_state), spec=dict(spec.shapes),
                           norm_bound=NORM_BOUND)
        subs = [Submission(peer=p, commit_index=j, base_hash=ctx.current_global_hash,
                           sample_count=args.steps * args.batch, delta=d)
                for j, (p, d) in enumerate(deltas.items())]
        outcome = settle_round(subs, ctx)
        new_global = apply_delta(global_state, outcome.aggregate.delta)
        print(f" round {r}: verdicts {[(v.peer[-4:], v.reason.name) for v in outcome.verdicts]}", flush=True)
        for i in range(len(deal)):
            known = {"global": held_out_ppl(model, held[i], new_global)}
            for name, personal in [("own", own_rule[i])] + ([("gain", gain_rule[i])] if args.gain_only else []):
                t0 = time.perf_counter()
                report = personal.update(r, global_state, new_global, outcome.verdicts, deltas, known)
                timings[name].append(time.perf_counter() - t0)
                entered |= report.weights.get(POISONED, 0.0) > 0
                if name == "own":
                    print(f"  peer {i} {deal[i][0]}: chose {report.blend} beta {report.beta} lam {report.lam}; ppl "
                          f"base {report.ppl['base']:.2f} global {report.ppl['global']:.2f} "
                          f"personal {report.ppl['personal']:.2f} ({timings[name][-1]:.1f} s)", flush=True)
        global_state = new_global
    rows = []
    for i, topics in enumerate(deal):
        own = own_rule[i].report(args.rounds - 1)
        row = {"seed": seed, "topic": topics[0], "base": own.ppl["base"], "global": own.ppl["global"],
               "local": held_out_ppl(model, held[i], local[i]), "personal": own.ppl["personal"],
               "chose": f"{own.blend} beta {own.beta} lam {own.lam}"}
        if args.gain_only:
            row["personal_gain_only"] = gain_rule[i].report(args.rounds - 1).ppl["personal"]
        print(f" seed {seed} peer {i} {topics[0]}: " + " ".join(
            f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)), flush=True)
        rows.append(row)
    assert all(torch.isfinite(v).all() for v in global_state.values())
    return rows, entered


def ratios(rows: list[dict], num: str, den: str) -> dict[str, float]:
    values = [row[num] / row[den] for row in rows]
    return {"median": round(statistics.median(values), 4), "max": round(max(values), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer rounds, steps and tokens")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--peers", type=int, default=4)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--held-tokens", type=int, help="held-out tokens per peer")
    parser.add_argument("--selection-blocks", type=int)
    parser.add_argument("--gain-only", action="store_true",
                        help="also run the rule without the own chain (gain_only_* keys; doubles the selection work)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    # quick keeps the node's default selection set of 32 blocks: with 8 blocks of 32 tokens the
    # choice did not carry to held-out text (one peer 1.046 x the global where S said better).
    quick = {"seeds": [0], "rounds": 2, "steps": 4, "batch": 2, "seq_len": 32, "held_tokens": 512,
             "selection_blocks": PersonalParams().selection_blocks}
    full = {"seeds": [0, 1], "rounds": 3, "steps": 10, "batch": 4, "seq_len": 64, "held_tokens": 512,
            "selection_blocks": PersonalParams().selection_blocks}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.steps < 4 or args.batch < 2:
        parser.error("training this short is degenerate: use >= 4 steps and batch >= 2")
    held_blocks = max(1, args.held_tokens // args.seq_len)
    params = PersonalParams(selection_blocks=args.selection_blocks)

    set_threads(args.threads)
    began = time.perf_counter()
    base, tokenizer, _ = load_base_model()
    lora = LoraParams()
    spec = adapter_spec(base, lora)
    model = attach_lora(base, lora)
    print(f"model loaded in {time.perf_counter() - began:.1f} s; seeds {args.seeds}, {args.peers} peers, "
          f"{args.rounds} rounds x {args.steps} steps x batch {args.batch} x {args.seq_len} tokens; held-out "
          f"{held_blocks * args.seq_len} tokens; selection {args.selection_blocks} blocks", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="personalization-"))
    timings: dict[str, list[float]] = {"train": [], "own": [], "gain": []}
    rows, entered = [], False
    for seed in args.seeds:
        seed_rows, seed_entered = run_seed(seed, args, model, tokenizer, spec, params, held_blocks, workdir, timings)
        rows += seed_rows
        entered |= seed_entered
    vs_global, vs_local = ratios(rows, "personal", "global"), ratios(rows, "personal", "local")
    global_local = ratios(rows, "global", "local")
    total_s = time.perf_counter() - began
    note = None
    if args.quick and total_s > 60:
        note = (f"--quick took {total_s:.0f} s, over the one-minute budget: {args.peers} peers x {args.rounds} "
                f"rounds of federated and local-only training cannot fit in a minute on two cores")
        print(note, flush=True)
    gain_only = {}
    if args.gain_only:
        gain_global = ratios(rows, "personal_gain_only", "global")
        gain_local = ratios(rows, "personal_gain_only", "local")
        gain_only = {"gain_only_personal_vs_global_ppl_ratio": gain_global["median"],
                     "gain_only_personal_vs_global_ppl_ratio_max": gain_global["max"],
                     "gain_only_personal_vs_local_ppl_ratio_median": gain_local["median"],
                     "gain_only_personal_vs_local_ppl_ratio_max": gain_local["max"]}
    print(json.dumps({
        "personal_vs_global_ppl_ratio": vs_global["median"],
        "personal_vs_global_ppl_ratio_max": vs_global["max"],
        "personal_vs_local_ppl_ratio_median": vs_local["median"],
        "personal_vs_local_ppl_ratio_max": vs_local["max"],
        "global_vs_local_ppl_ratio_median": global_local["median"],
        "global_vs_local_ppl_ratio_max": global_local["max"],
        **gain_only,
        "targets_met": vs_global["median"] <= 0.97 and vs_global["max"] <= 1.0 and vs_local["max"] <= 1.0,
        "per_peer": [{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in rows],
        "seeds": args.seeds, "peers": args.peers, "rounds": args.rounds, "steps": args.steps, "batch": args.batch,
        "seq_len": args.seq_len, "held_out_tokens": held_blocks * args.seq_len,
        "selection_blocks": args.selection_blocks, "poisoned_entered": entered,
        "train_s_per_peer_round": round(statistics.mean(timings["train"]), 2),
        "extra_s_per_round": round(statistics.mean(timings["own"]), 2),
        "total_s": round(total_s, 1), "note": note,
    }))


if __name__ == "__main__":
    main()
