"""A tiny randomly initialised Llama for unit tests: the same code paths as the real model in
milliseconds (the real one is exercised by the e2e tests)."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from loraswarm.node.training import LoraParams, TokenBlocks
from loraswarm.node.training.tokens import pack_ids

VOCAB = 64
PARAMS = LoraParams(rank=4, alpha=8.0, dropout=0.1, target_modules=("q_proj", "v_proj"))


def tiny_model(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, use_cache=False,
    )
    return LlamaForCausalLM(config).eval()


def repetitive_blocks(seq_len: int = 16, n_tokens: int = 400) -> TokenBlocks:
    """A periodic token stream: easy to learn, so a few steps must lower the loss."""
    return pack_ids([3 + (i % 7) for i in range(n_tokens)], seq_len, pad_id=0)
