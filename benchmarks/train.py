"""Local training and delta codec figures, on the real base model (SmolLM2-135M-Instruct).

    python benchmarks/train.py [--quick] [--threads T]

1. Throughput: our training loop (``train_lora``, progress bar on) against a plain peft + torch
   loop on the same batches and micro-batches (one block per forward/backward pass, gradients
   accumulated over the step's batch, as the node trains), same optimizer, same model, in the same
   run. The two are interleaved (ours, plain, ours, plain, ...) after a one-block warm-up step
   each, so load from other processes hits both alike; tokens/s are totals over all repetitions,
   each timed around the whole call.
2. Codec: wire size of a real delta per codec against fp32, encode/decode MB/s (of fp32 payload).
3. Quality: FedAvg of two peers' real deltas (disjoint topics), applied to the initial adapter;
   held-out loss of that global adapter when the deltas travel int8+zstd vs fp32, as a share of the
   loss (``int8_loss_change_pct``) and as a share of what training changed the loss
   (``int8_loss_change_vs_training``: |int8 - fp32| / |initial - fp32|), so that a short training
   that moves the loss little cannot hide the codec's error.
4. Peak RSS of this process, which is one training peer: it trains and evaluates like a node, with
   the node's defaults (blocks of 128 tokens, micro-batches of one block), in --quick too, where
   only the counts shrink (steps, repetitions, held-out records): --quick still trains 4 steps of 2 blocks,
   so the delta is a training, not one step's noise.

The last line is one JSON object (keys: tokens_per_s, plain_tokens_per_s, train_vs_plain_ratio,
fp16_size_ratio, int8_size_ratio, int8_loss_change_pct, int8_loss_change_vs_training, peak_rss_mb, ...).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from peft import PeftModel

from loraswarm.node.codec import AdapterSpec, Codec, Delta, decode_delta, encode_delta
from loraswarm.node.training import (
    LoraParams,
    TokenBlocks,
    TrainConfig,
    adapter_spec,
    apply_delta,
    attach_lora,
    batch_schedule,
    compute_delta,
    fedavg,
    initial_adapter,
    load_base_model,
    mean_nll,
    pack_texts,
    peer_data,
    set_adapter_state,
    set_threads,
    train_lora,
)

CODECS = ["fp32", "fp16", "int8", "fp16+zstd", "int8+zstd"]
NODE_BATCH_SIZE = 4  # blocks per step of a node (node/config.py's default)


def plain_loop(model: PeftModel, blocks: TokenBlocks, start: Delta, config: TrainConfig) -> tuple[int, float]:
    """The baseline: what anyone would write by hand with peft and torch, nothing else."""
    began = time.perf_counter()
    set_adapter_state(model, start)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    tokens = 0
    for index in batch_schedule(len(blocks), config.steps, config.batch_size, config.seed):
        # Gradient accumulation over micro-batches, as transformers documents it: each pass's loss
        # is divided by the whole batch's token count.
        batch_tokens = int((blocks.labels[index][:, 1:] != -100).sum())
        for micro in index.split(config.micro_batch_size):
            input_ids, labels = blocks.input_ids[micro], blocks.labels[micro]
            loss = model(input_ids=input_ids, labels=labels, num_items_in_batch=batch_tokens).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += batch_tokens
    model.eval()
    return tokens, time.perf_counter() - began


def ours(model: PeftModel, blocks: TokenBlocks, start: Delta, config: TrainConfig) -> tuple[int, float, Delta]:
    began = time.perf_counter()
    result = train_lora(model, blocks, start, config)
    return result.stats.tokens, time.perf_counter() - began, result.adapter


def codec_figures(delta: Delta, spec: AdapterSpec, repeats: int) -> dict[str, dict[str, float]]:
    out = {}
    megabytes = spec.fp32_bytes / 1e6
    for name in CODECS:
        codec = Codec.parse(name)
        began = time.perf_counter()
        for _ in range(repeats):
            wire = encode_delta(delta, spec, codec)
        encode_s = (time.perf_counter() - began) / repeats
        began = time.perf_counter()
        for _ in range(repeats):
            decode_delta(wire, spec)
        decode_s = (time.perf_counter() - began) / repeats
        out[name] = {"bytes": len(wire), "size_ratio": len(wire) / spec.fp32_bytes,
                     "encode_mb_s": megabytes / encode_s, "decode_mb_s": megabytes / decode_s}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, same training (< 1 minute)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    # Peak RSS grows with the block length and the blocks per pass (one, as a node), so --quick
    # keeps the node's block length and cuts only the counts.
    seq_len = 128
    steps, batch_size, reps, held_records = (4, 2, 2, 4) if args.quick else (5, NODE_BATCH_SIZE, 3, 30)
    set_threads(args.threads)

    began = time.perf_counter()
    base, tokenizer, model_hash = load_base_model()
    params = LoraParams()
    spec = adapter_spec(base, params)
    model = attach_lora(base, params)
    print(f"base model {model_hash[:18]}... loaded in {time.perf_counter() - began:.1f} s; "
          f"adapter {spec.numel:,} params ({spec.fp32_bytes / 1e6:.2f} MB fp32)")
    peers = [peer_data(["cookie"]), peer_data(["science"])]
    blocks = [pack_texts(tokenizer, p.train_texts(), seq_len) for p in peers]
    held_out = pack_texts(tokenizer, [t for p in peers for ts in p.held_out.values() for t in ts[:held_records]],
                          seq_len)
    start = initial_adapter(spec, seed=0)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=2e-3, threads=args.threads, seed=0)

    # One pass of one block each is enough to take first-call costs out of the timed runs.
    warm = TrainConfig(**{**config.__dict__, "steps": 1, "batch_size": 1, "progress": False})
    ours(model, blocks[0], start, warm)
    plain_loop(model, blocks[0], start, warm)
    totals = {"ours": [0, 0.0], "plain": [0, 0.0]}
    adapter = start
    for rep in range(reps):
        rep_config = TrainConfig(**{**config.__dict__, "seed": rep})
        tokens, seconds, adapter = ours(model, blocks[0], start, rep_config)
        totals["ours"][0] += tokens
        totals["ours"][1] += seconds
        tokens, seconds = plain_loop(model, blocks[0], start, rep_config)
        totals["plain"][0] += tokens
        totals["plain"][1] += seconds
    tokens_per_s = totals["ours"][0] / totals["ours"][1]
    plain_tokens_per_s = totals["plain"][0] / totals["plain"][1]
    print(f"training: ours {tokens_per_s:.1f} tok/s, plain peft+torch {plain_tokens_per_s:.1f} tok/s "
          f"({reps} x {steps} steps of {config.batch_size} x {seq_len} tokens each, "
          f"{config.micro_batch_size} block(s) per pass)")

    # The first peer's delta is the last repetition of our loop; the second trains on its own topic,
    # with a node's batch in --quick too, so that the peak RSS covers a whole step of a node.
    other_config = TrainConfig(**{**config.__dict__, "steps": steps, "batch_size": NODE_BATCH_SIZE})
    other = train_lora(model, blocks[1], start, other_config)
    deltas = [compute_delta(adapter, start), compute_delta(other.adapter, start)]
    figures = codec_figures(deltas[0], spec, repeats=3 if args.quick else 10)
    for name, f in figures.items():
        print(f"codec {name:<10} {f['bytes']:>9} bytes  {f['size_ratio']:.3f}x fp32  "
              f"encode {f['encode_mb_s']:7.1f} MB/s  decode {f['decode_mb_s']:7.1f} MB/s")

    int8 = Codec("int8", zstd=True)
    travelled = [decode_delta(encode_delta(d, spec, int8), spec) for d in deltas]
    weights = [1.0, 1.0]
    losses = {}
    for name, ds in (("fp32", deltas), ("int8+zstd", travelled)):
        set_adapter_state(model, apply_delta(start, fedavg(ds, weights)))
        losses[name] = mean_nll(model, held_out)
    set_adapter_state(model, start)
    losses["initial"] = mean_nll(model, held_out)
    codec_error = abs(losses["int8+zstd"] - losses["fp32"])
    change = codec_error / losses["fp32"] * 100
    trained = abs(losses["initial"] - losses["fp32"])
    print(f"held-out loss ({held_out.predicted_tokens} tokens): initial {losses['initial']:.4f}, "
          f"aggregate fp32 {losses['fp32']:.4f}, int8+zstd {losses['int8+zstd']:.4f} ({change:.4f}% change; "
          f"{codec_error / trained:.6f} of the {trained:.4f} that training changed)")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_rss_mb:.0f} MB; total {time.perf_counter() - began:.1f} s")
    print(json.dumps({
        "tokens_per_s": round(tokens_per_s, 2),
        "plain_tokens_per_s": round(plain_tokens_per_s, 2),
        "train_vs_plain_ratio": round(tokens_per_s / plain_tokens_per_s, 4),
        "fp16_size_ratio": round(figures["fp16"]["size_ratio"], 4),
        "int8_size_ratio": round(figures["int8+zstd"]["size_ratio"], 4),
        "int8_loss_change_pct": round(change, 4),
        "int8_loss_change_vs_training": round(codec_error / trained, 6),
        "steps": steps, "blocks_per_step": batch_size, "seq_len": seq_len,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "codecs": {k: {m: round(v, 4) for m, v in f.items()} for k, f in figures.items()},
        "held_out_loss": {k: round(v, 5) for k, v in losses.items()},
        "quick": args.quick,
        "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
