"""Texts to fixed-length token blocks, the unit that training and evaluation consume.

Records are joined with the EOS token and cut into ``seq_len`` blocks (packing: no padding inside
a block, so every position trains). The last, partial block is padded with EOS and its padding is
masked out of the labels; causal attention means padding at the end never changes earlier logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from loraswarm.node.training.errors import DataError

IGNORE = -100  # label value that Hugging Face causal-LM losses skip


@dataclass(frozen=True)
class TokenBlocks:
    input_ids: torch.Tensor  # int64 [n, seq_len]
    labels: torch.Tensor  # int64 [n, seq_len], IGNORE on padding

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def subset(self, index: torch.Tensor) -> TokenBlocks:
        return TokenBlocks(self.input_ids[index], self.labels[index])

    def to(self, device: torch.device) -> TokenBlocks:
        return TokenBlocks(self.input_ids.to(device), self.labels.to(device))

    @property
    def predicted_tokens(self) -> int:
        """Tokens that carry a loss (a label at a position that has a predecessor)."""
        return int((self.labels[:, 1:] != IGNORE).sum())


def pack_ids(ids: Sequence[int], seq_len: int, pad_id: int) -> TokenBlocks:
    if seq_len < 2:
        raise ValueError("seq_len must be at least 2")
    if not ids:
        raise DataError("no tokens to train or evaluate on")
    flat = torch.tensor(list(ids), dtype=torch.int64)
    pad = -len(flat) % seq_len
    labels = torch.cat([flat, torch.full((pad,), IGNORE, dtype=torch.int64)])
    flat = torch.cat([flat, torch.full((pad,), pad_id, dtype=torch.int64)])
    return TokenBlocks(flat.view(-1, seq_len), labels.view(-1, seq_len))


def pack_texts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], seq_len: int) -> TokenBlocks:
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError("the tokenizer has no EOS token to separate records")
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(eos)
    return pack_ids(ids, seq_len, eos)
