"""Held-out perplexity: of the base model, and of the model under given adapter states."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from peft import PeftModel
from transformers import PreTrainedModel

from loraswarm.node.codec import Delta
from loraswarm.node.training.adapter import get_adapter_state, set_adapter_state
from loraswarm.node.training.device import device_of
from loraswarm.node.training.tokens import TokenBlocks

# Tokens per forward pass. The logits of one token over SmolLM2's 49k vocabulary take 196 KB (and
# the loss makes a log-softmax copy): at the node's seq 128, 8 blocks at once lifted a peer's peak
# RSS above what training one block at a time needs, 2 (256 tokens) stay under it. Shorter blocks
# go more to a pass, for the same memory: fewer, larger matrix products (seq 48: 5 blocks a pass
# evaluate ~15 % faster than 2).
EVAL_TOKENS = 256


@torch.no_grad()
def mean_nll(model: PreTrainedModel | PeftModel, blocks: TokenBlocks) -> float:
    """Mean negative log-likelihood per predicted token, in nats."""
    model.eval()
    step = max(1, EVAL_TOKENS // int(blocks.input_ids.shape[1]))
    total, count = 0.0, 0
    device = device_of(model)
    for start in range(0, len(blocks), step):
        batch = blocks.subset(torch.arange(start, min(start + step, len(blocks)))).to(device)
        n = batch.predicted_tokens
        if n:
            # The model's loss is a mean over predicted tokens; weight it back to a sum.
            total += float(model(input_ids=batch.input_ids, labels=batch.labels).loss) * n
            count += n
    if not count:
        raise ValueError("no predicted tokens to evaluate")
    return total / count


def evaluate_ppl(model: PreTrainedModel | PeftModel, blocks: TokenBlocks) -> float:
    return math.exp(mean_nll(model, blocks))


def evaluate_adapters(
    model: PeftModel, held_out: Mapping[str, TokenBlocks], adapters: Mapping[str, Delta | None]
) -> dict[str, dict[str, float]]:
    """Perplexity per adapter name and per topic; ``None`` names the base model (adapter off).
    The model's adapter state is restored afterwards."""
    saved = get_adapter_state(model)
    results: dict[str, dict[str, float]] = {}
    try:
        for name, state in adapters.items():
            if state is None:
                with model.disable_adapter():
                    results[name] = {t: evaluate_ppl(model, b) for t, b in held_out.items()}
            else:
                set_adapter_state(model, state)
                results[name] = {t: evaluate_ppl(model, b) for t, b in held_out.items()}
    finally:
        set_adapter_state(model, saved)
    return results
