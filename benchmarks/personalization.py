"""Personal adapters against the consensus global, on the real base model (SmolLM2-135M-Instruct).

    python benchmarks/personalization.py [--quick] [--rounds R] [--steps S]

Three peers train LoRA on disjoint fortunes topics; a fourth reveals a sign-flipped, x20 copy of
an honest delta. Each round the consensus pipeline (``settle_round``, the default rule) judges
the four and yields the new global; then every honest peer folds the round into its personal
adapter (``node/personal.py``) from the ACCEPTED deltas only, choosing on a selection set cut
from its own training blocks (never trained on here). Reported per peer: held-out perplexity on
its own topic of the base model, the global and the personal adapter after the last round, and
the wall time of ``Personalizer.update`` (the extra work per round; held-out evaluations
included).

The last line is one JSON object (keys: personal_vs_global_ppl_ratio (mean over peers of
personal / global), extra_s_per_round, selection_s_per_round, peers, rounds, poisoned_entered).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from loraswarm.consensus import RoundContext, Submission, apply_delta, settle_round, tensors_hash
from loraswarm.node.personal import Personalizer, PersonalParams, split_selection
from loraswarm.node.training import (
    LoraParams,
    TrainConfig,
    adapter_spec,
    attach_lora,
    compute_delta,
    initial_adapter,
    load_base_model,
    pack_texts,
    peer_data,
    set_threads,
    train_lora,
)

TOPICS = [["zippy"], ["songs-poems"], ["startrek"]]  # topics that differ in kind (see tests/personal)
POISONED = "0x" + "ee" * 20
NORM_BOUND = 50.0  # the task spec's default


def peer_address(i: int) -> str:
    return f"0x{i + 1:040x}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, steps and tokens (< 1 minute)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    steps = args.steps or (3 if args.quick else 8)
    seq_len, batch, held_records = (48, 4, 6) if args.quick else (64, 4, 16)
    # each candidate is one pass over the selection set: quick takes 8 blocks, not the default 32
    params = PersonalParams(selection_blocks=8) if args.quick else PersonalParams()

    set_threads(args.threads)
    began = time.perf_counter()
    base, tokenizer, _ = load_base_model()
    lora = LoraParams()
    spec = adapter_spec(base, lora)
    model = attach_lora(base, lora)
    print(f"model loaded in {time.perf_counter() - began:.1f} s; {rounds} rounds x {steps} steps x {batch} x "
          f"{seq_len} tokens per peer", flush=True)
    peers = [peer_data(t, held_out_fraction=0.1, seed=0) for t in TOPICS]
    train, personal = [], []
    workdir = Path(tempfile.mkdtemp(prefix="personalization-"))
    for i, data in enumerate(peers):
        rest, selection = split_selection(pack_texts(tokenizer, data.train_texts(), seq_len), params)
        held = pack_texts(tokenizer, [t for topic in data.topics for t in data.held_out[topic][:held_records]],
                          seq_len)
        train.append(rest)
        personal.append(Personalizer(model, spec, selection, held, workdir / str(i), params))

    global_state = initial_adapter(spec, seed=0)
    update_s, selection_s, entered = [], [], False
    for r in range(rounds):
        deltas = {}
        for i, blocks in enumerate(train):
            config = TrainConfig(steps=steps, batch_size=batch, lr=2e-3, seed=100 * r + i, threads=args.threads,
                                 progress=False)
            deltas[peer_address(i)] = compute_delta(train_lora(model, blocks, global_state, config).adapter,
                                                    global_state)
        deltas[POISONED] = {k: -20.0 * v for k, v in deltas[peer_address(0)].items()}
        ctx = RoundContext(round=r, current_global_hash=tensors_hash(global_state), spec=dict(spec.shapes),
                           norm_bound=NORM_BOUND)
        subs = [Submission(peer=p, commit_index=j, base_hash=ctx.current_global_hash, sample_count=steps * batch,
                           delta=d)
                for j, (p, d) in enumerate(deltas.items())]
        outcome = settle_round(subs, ctx)
        new_global = apply_delta(global_state, outcome.aggregate.delta)
        print(f"round {r}: verdicts {[(v.peer[-4:], v.reason.name) for v in outcome.verdicts]}", flush=True)
        for i, p in enumerate(personal):
            t0 = time.perf_counter()
            report = p.update(r, global_state, new_global, outcome.verdicts, deltas)
            update_s.append(time.perf_counter() - t0)
            selection_s.append(report.seconds)
            entered |= report.weights.get(POISONED, 0.0) > 0
            weights = {k[-4:]: round(w, 3) for k, w in report.weights.items()}
            print(f"  peer {i} {TOPICS[i]}: weights {weights} beta {report.beta} lam {report.lam} ppl "
                  f"base {report.ppl['base']:.2f} global {report.ppl['global']:.2f} "
                  f"personal {report.ppl['personal']:.2f} ({update_s[-1]:.1f} s)", flush=True)
        global_state = new_global

    last = [json.loads((workdir / str(i) / "personal" / f"{rounds - 1}.json").read_text()) for i in range(len(TOPICS))]
    ratios = [rep["ppl"]["personal"] / rep["ppl"]["global"] for rep in last]
    assert all(torch.isfinite(v).all() for v in global_state.values())
    print(json.dumps({
        "personal_vs_global_ppl_ratio": round(statistics.mean(ratios), 4),
        "extra_s_per_round": round(statistics.mean(update_s), 2),
        "selection_s_per_round": round(statistics.mean(selection_s), 2),
        "per_peer": [{"topics": TOPICS[i], **{k: round(v, 3) for k, v in rep["ppl"].items()}}
                     for i, rep in enumerate(last)],
        "peers": len(TOPICS), "rounds": rounds, "steps": steps, "seq_len": seq_len,
        "poisoned_entered": entered, "total_s": round(time.perf_counter() - began, 1),
    }))


if __name__ == "__main__":
    main()
