"""The peer's model work: load the base model once, train a round's update, evaluate adapters.

A demo or test peer's ``Behaviour`` (node/config.py) bends its honest delta into an attack, so that
adversaries run through the same code as everyone else.
"""

from __future__ import annotations

import hashlib

from loraswarm.node.codec import Delta
from loraswarm.node.config import Behaviour, TrainingSection
from loraswarm.node.globals import encode_global
from loraswarm.node.training.adapter import (
    LoraParams,
    adapter_spec,
    attach_lora,
    get_adapter_state,
    initial_adapter,
    set_adapter_state,
)
from loraswarm.node.training.device import pick_device
from loraswarm.node.training.evaluate import evaluate_ppl
from loraswarm.node.training.local import local_update, select_texts
from loraswarm.node.training.model import SET_TASK_MODEL, load_base_model, require_base_model, set_threads
from loraswarm.node.training.outcome import TrainedDelta, bend
from loraswarm.node.training.privacy import DpParams, PrivacyAccountant
from loraswarm.node.training.tokens import TokenBlocks, pack_texts
from loraswarm.node.training.trainer import TrainConfig
from loraswarm.protocol.taskspec import TaskSpec


def lora_params(task: TaskSpec) -> LoraParams:
    return LoraParams.of(task.lora)


class Learner:
    def __init__(self, task: TaskSpec, training: TrainingSection, task_model_hash: str | None,
                 progress: bool = False) -> None:
        set_threads(training.threads)
        base, self.tokenizer, self.model_hash = load_base_model(training.model)
        if task_model_hash is not None:
            require_base_model(self.model_hash, task_model_hash, SET_TASK_MODEL)
        params = lora_params(task)
        self.spec = adapter_spec(base, params)
        self.model = attach_lora(base, params).to(pick_device(training.device))
        self.task = task
        self.training = training
        self.progress = progress
        self.dp = DpParams(training.dp_clip, training.dp_noise) if training.dp_clip is not None else None
        self.accountant = PrivacyAccountant(self.dp) if self.dp is not None else None
        self.train_blocks: TokenBlocks | None = None
        self.eval_blocks: TokenBlocks | None = None

    def initial_global(self) -> tuple[Delta, bytes, str]:
        state = initial_adapter(self.spec, self.task.init_seed)
        data, digest = encode_global(state, self.spec)
        return state, data, digest

    def load_data(self) -> None:
        """The peer's private training text and its held-out split (fortunes topics and/or files)."""
        texts, held = select_texts(self.tokenizer, self.training.topics, self.training.data,
                                   self.training.held_out_fraction, self.training.seed)
        flat = [text for records in held.values() for text in records]
        self.train_blocks = pack_texts(self.tokenizer, texts, self.task.seq_len)
        self.eval_blocks = pack_texts(self.tokenizer, flat[: self.training.eval_records], self.task.seq_len)

    def train(self, global_state: Delta, round_: int, behaviour: Behaviour,
              deadline: float | None = None) -> TrainedDelta:
        """One round of local training (local DP when the config asks for it), through the same
        code as ``loraswarm train run``; the demo's adversarial behaviours then bend the delta."""
        if self.train_blocks is None:
            self.load_data()
        assert self.train_blocks is not None
        recipe = self.task.recipe
        config = TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr,
                             seed=self.training.seed * 100_003 + round_, threads=self.training.threads,
                             progress=self.progress, deadline=deadline)
        update = local_update(self.model, self.train_blocks, global_state, config, self.dp, self.accountant)
        return TrainedDelta(bend(update.delta, behaviour), update.stats)

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
