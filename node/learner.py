"""The peer's model work: load the base model once, train a round's update, evaluate adapters.

``behaviour`` lets the demo and end-to-end tests run adversarial peers through the same code:
``scaling`` boosts its honest update (model replacement, Bagdasaryan et al. 2020), ``zero`` sends
an all-zero delta (a free rider), ``noshow`` commits nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from loraswarm.node.codec import AdapterSpec, Codec, Delta, content_hash, encode_delta
from loraswarm.node.config import TrainingSection
from loraswarm.node.training.adapter import (
    LoraParams,
    adapter_spec,
    attach_lora,
    compute_delta,
    get_adapter_state,
    initial_adapter,
    set_adapter_state,
)
from loraswarm.node.training.corpus import PeerData, load_texts, peer_data
from loraswarm.node.training.evaluate import evaluate_ppl
from loraswarm.node.training.model import load_base_model, require_base_model, set_threads
from loraswarm.node.training.tokens import TokenBlocks, pack_texts
from loraswarm.node.training.trainer import TrainConfig, TrainStats, train_lora
from loraswarm.protocol.taskspec import TaskSpec

BEHAVIOURS = ("honest", "scaling", "zero", "noshow")
SCALING_GAMMA = 20.0
GLOBAL_CODEC = Codec("fp32")  # globals are stored exactly: their hash is recorded on chain


def lora_params(task: TaskSpec) -> LoraParams:
    return LoraParams(task.lora.rank, task.lora.alpha, task.lora.dropout, tuple(task.lora.target_modules))


def encode_global(state: Delta, spec: AdapterSpec) -> tuple[bytes, str]:
    data = encode_delta(state, spec, GLOBAL_CODEC)
    return data, content_hash(data)


@dataclass(frozen=True)
class Update:
    delta: Delta
    stats: TrainStats


class Learner:
    def __init__(self, task: TaskSpec, training: TrainingSection, task_model_hash: str | None,
                 progress: bool = False) -> None:
        set_threads(training.threads)
        base, self.tokenizer, self.model_hash = load_base_model(training.model)
        if task_model_hash is not None:
            require_base_model(self.model_hash, task_model_hash)
        params = lora_params(task)
        self.spec = adapter_spec(base, params)
        self.model = attach_lora(base, params)
        self.task = task
        self.training = training
        self.progress = progress
        self.data: PeerData | None = None
        self.train_blocks: TokenBlocks | None = None
        self.eval_blocks: TokenBlocks | None = None

    def initial_global(self) -> tuple[Delta, bytes, str]:
        state = initial_adapter(self.spec, self.task.init_seed)
        data, digest = encode_global(state, self.spec)
        return state, data, digest

    def load_data(self) -> None:
        """The peer's private training text and its held-out split (fortunes topics and/or files)."""
        texts: list[str] = []
        held: list[str] = []
        if self.training.topics:
            self.data = peer_data(self.training.topics, seed=self.training.seed)
            texts += self.data.train_texts()
            held += [t for topic in self.data.topics for t in self.data.held_out[topic]]
        for path in self.training.data:
            records = load_texts(Path(path))
            cut = max(1, len(records) // 10)
            texts += records[cut:]
            held += records[:cut]
        if not texts:
            raise ValueError("the peer has no training data: set training.topics or training.data")
        self.train_blocks = pack_texts(self.tokenizer, texts, self.task.seq_len)
        self.eval_blocks = pack_texts(self.tokenizer, held[: self.training.eval_records], self.task.seq_len)

    def train(self, global_state: Delta, round_: int, behaviour: str, deadline: float | None = None) -> Update:
        if self.train_blocks is None:
            self.load_data()
        assert self.train_blocks is not None
        config = TrainConfig(steps=self.training.steps, batch_size=self.training.batch_size, lr=self.training.lr,
                             seed=self.training.seed * 100_003 + round_, threads=self.training.threads,
                             progress=self.progress, deadline=deadline)
        result = train_lora(self.model, self.train_blocks, global_state, config)
        delta = compute_delta(result.adapter, global_state)
        if behaviour == "scaling":
            delta = {k: v * SCALING_GAMMA for k, v in delta.items()}
        elif behaviour == "zero":
            delta = {k: torch.zeros_like(v) for k, v in delta.items()}
        return Update(delta, result.stats)

    def held_out_key(self) -> str:
        """Names what a base-model perplexity was measured on: the base model and the exact
        held-out tokens (a changed config or data file gives another key)."""
        if self.eval_blocks is None:
            self.load_data()
        assert self.eval_blocks is not None
        digest = hashlib.sha256(self.model_hash.encode())
        for tensor in (self.eval_blocks.input_ids, self.eval_blocks.labels):
            digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def held_out_ppl(self, state: Delta | None) -> float:
        """Perplexity of the base model (state None) or of an adapter on the peer's held-out text."""
        if self.eval_blocks is None:
            self.load_data()
        assert self.eval_blocks is not None
        if state is None:
            with self.model.disable_adapter():
                return evaluate_ppl(self.model, self.eval_blocks)
        saved = get_adapter_state(self.model)
        try:
            set_adapter_state(self.model, state)
            return evaluate_ppl(self.model, self.eval_blocks)
        finally:
            set_adapter_state(self.model, saved)
