"""Local training of a peer: the base model and its hash, the corpus, LoRA training from the
round's global adapter, deltas, held-out perplexity, and optional local differential privacy.

One job per module: ``model`` (load, cache, hash), ``corpus`` (fortunes topics, user files,
splits), ``tokens`` (packing), ``adapter`` (spec, state, deltas, reference FedAvg), ``trainer``,
``evaluate``, ``privacy``. The wire format of deltas is ``loraswarm.node.codec``.
"""

from loraswarm.node.codec import AdapterSpec, Delta
from loraswarm.node.training.adapter import (
    LoraParams,
    adapter_spec,
    apply_delta,
    attach_lora,
    compute_delta,
    delta_norm,
    fedavg,
    get_adapter_state,
    initial_adapter,
    set_adapter_state,
)
from loraswarm.node.training.corpus import (
    PeerData,
    chat_formatter,
    deal_topics,
    list_topics,
    load_texts,
    load_topics,
    peer_data,
    split_held_out,
)
from loraswarm.node.training.errors import BaseModelMismatch, DataError, ModelNotFound, TrainingError
from loraswarm.node.training.evaluate import evaluate_adapters, evaluate_ppl, mean_nll
from loraswarm.node.training.model import load_base_model, require_base_model, set_threads
from loraswarm.node.training.privacy import DpParams, PrivacyAccountant, clip_delta, privatize
from loraswarm.node.training.tokens import TokenBlocks, pack_texts
from loraswarm.node.training.trainer import TrainConfig, TrainResult, TrainStats, batch_schedule, train_lora

__all__ = [
    "AdapterSpec",
    "BaseModelMismatch",
    "DataError",
    "Delta",
    "DpParams",
    "LoraParams",
    "ModelNotFound",
    "PeerData",
    "PrivacyAccountant",
    "TokenBlocks",
    "TrainConfig",
    "TrainResult",
    "TrainStats",
    "TrainingError",
    "adapter_spec",
    "apply_delta",
    "attach_lora",
    "batch_schedule",
    "chat_formatter",
    "clip_delta",
    "compute_delta",
    "deal_topics",
    "delta_norm",
    "evaluate_adapters",
    "evaluate_ppl",
    "fedavg",
    "get_adapter_state",
    "initial_adapter",
    "list_topics",
    "load_base_model",
    "load_texts",
    "load_topics",
    "mean_nll",
    "pack_texts",
    "peer_data",
    "privatize",
    "require_base_model",
    "set_adapter_state",
    "set_threads",
    "split_held_out",
    "train_lora",
]
