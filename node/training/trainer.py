"""The local training loop: LoRA steps from the round's global adapter on this peer's blocks.

Kept as lean as a hand-written torch loop (benchmarks/train.py holds it to >= 0.95x of one):
forward and backward per micro-batch, clip, AdamW step, and a progress bar that rich redraws on its
own thread.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from peft import PeftModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from loraswarm.node.codec import Delta
from loraswarm.node.training.adapter import get_adapter_state, set_adapter_state
from loraswarm.node.training.device import device_of
from loraswarm.node.training.model import set_threads
from loraswarm.node.training.outcome import TrainStats
from loraswarm.node.training.tokens import TokenBlocks


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 25
    batch_size: int = 4
    # Blocks per forward/backward pass; gradients accumulate over the step's batch_size blocks, so
    # the update is the same as one pass over the whole batch. Activations and the 49k-vocabulary
    # logits scale with it: with SmolLM2-135M at seq 128, a peer peaked at ~2.3 GB RSS running 4
    # blocks at once and ~1.4 GB running 1 (benchmarks/train.py measures it).
    micro_batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    threads: int | None = None
    progress: bool = True
    # Wall-clock time (time.time()) by which training must end: a round's commit window is a
    # deadline, so a peer commits the steps it managed rather than miss the window.
    deadline: float | None = None


@dataclass(frozen=True)
class TrainResult:
    adapter: Delta
    stats: TrainStats


def batch_schedule(n_blocks: int, steps: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """Block indices of each step: seeded shuffled epochs, concatenated (deterministic)."""
    if n_blocks == 0:
        raise ValueError("no training blocks")
    generator = torch.Generator().manual_seed(seed)
    need = steps * batch_size
    order = torch.cat([torch.randperm(n_blocks, generator=generator) for _ in range(-(-need // n_blocks))])
    return list(order[:need].view(steps, batch_size))


def accumulate_gradients(model: PeftModel, blocks: TokenBlocks, micro_batch_size: int) -> float:
    """Backpropagate the mean loss over every predicted token of ``blocks``, ``micro_batch_size``
    blocks per pass; return that loss. Each pass's loss is its summed token loss over the whole
    batch's token count (``num_items_in_batch``), so the accumulated gradient equals one pass's."""
    total = blocks.predicted_tokens
    loss = 0.0
    device = device_of(model)
    for index in torch.arange(len(blocks)).split(micro_batch_size):
        micro = blocks.subset(index).to(device)
        micro_loss = model(input_ids=micro.input_ids, labels=micro.labels, num_items_in_batch=total).loss
        micro_loss.backward()
        loss += micro_loss.item()
    return loss


@contextmanager
def _stop_on_sigint() -> Iterator[threading.Event]:
    """First Ctrl-C asks the loop to stop after the current step (the adapter stays a consistent
    post-step state); a second one interrupts at once, as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[tps]:.0f} tok/s"),
        TimeRemainingColumn(), disable=not enabled, transient=False,
    )


def train_lora(model: PeftModel, blocks: TokenBlocks, start: Delta, config: TrainConfig) -> TrainResult:
    """Train the adapter from ``start`` (the round's global adapter) for ``config.steps`` steps and
    return the trained adapter tensors with stats. Seeded: the same inputs give the same tensors.
    The global torch RNGs are left as they were (dropout draws from a forked, seeded one)."""
    if config.micro_batch_size < 1:
        raise ValueError("micro_batch_size must be at least 1")
    set_threads(config.threads)
    set_adapter_state(model, start)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = batch_schedule(len(blocks), config.steps, config.batch_size, config.seed)
    losses: list[float] = []
    tokens = 0
    model.train()
    began = time.perf_counter()
    # On a GPU, dropout draws from that device's generator: it is forked and seeded too.
    device = device_of(model)
    forked = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked), _stop_on_sigint() as stop, _progress(config.progress) as bar:
        torch.manual_seed(config.seed)
        task = bar.add_task("train", total=config.steps, loss=float("nan"), tps=0.0)
        for index in schedule:
            batch = blocks.subset(index)
            loss = accumulate_gradients(model, batch, config.micro_batch_size)
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            tokens += batch.predicted_tokens
            bar.update(task, advance=1, loss=losses[-1], tps=tokens / (time.perf_counter() - began))
            if stop.is_set() or (config.deadline is not None and time.time() >= config.deadline):
                break
    model.eval()
    seconds = time.perf_counter() - began
    stats = TrainStats(
        steps=len(losses), tokens=tokens, seconds=seconds, tokens_per_s=tokens / seconds if seconds else 0.0,
        mean_loss=sum(losses) / len(losses) if losses else float("nan"),
        final_loss=losses[-1] if losses else float("nan"), interrupted=stop.is_set(),
    )
    return TrainResult(get_adapter_state(model), stats)
