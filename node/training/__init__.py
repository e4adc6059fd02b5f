"""Local training of a peer: the base model and its hash, the corpus, LoRA training from the
round's global adapter, deltas, held-out perplexity, and optional local differential privacy.

One job per module: ``model`` (load, cache, hash), ``corpus`` (fortunes topics, user files,
splits), ``tokens`` (packing), ``adapter`` (spec, state, deltas, reference FedAvg), ``trainer``,
``evaluate``, ``privacy``. The wire format of deltas is ``loraswarm.node.codec``.

The package itself imports nothing: each name below loads its module on first use, so that a
process which needs one light module (the codec's types, the device check) does not pay for
transformers, peft and dp-accounting (seconds and hundreds of MB per process; light peers in scale
runs start by the dozen).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from loraswarm.node.training.outcome import TrainStats
    from loraswarm.node.training.privacy import DpParams, PrivacyAccountant, clip_delta, privatize
    from loraswarm.node.training.tokens import TokenBlocks, pack_texts
    from loraswarm.node.training.trainer import TrainConfig, TrainResult, batch_schedule, train_lora

_HOME = {
    "AdapterSpec": "loraswarm.node.codec",
    "BaseModelMismatch": "loraswarm.node.training.errors",
    "DataError": "loraswarm.node.training.errors",
    "Delta": "loraswarm.node.codec",
    "DpParams": "loraswarm.node.training.privacy",
    "LoraParams": "loraswarm.node.training.adapter",
    "ModelNotFound": "loraswarm.node.training.errors",
    "PeerData": "loraswarm.node.training.corpus",
    "PrivacyAccountant": "loraswarm.node.training.privacy",
    "TokenBlocks": "loraswarm.node.training.tokens",
    "TrainConfig": "loraswarm.node.training.trainer",
    "TrainResult": "loraswarm.node.training.trainer",
    "TrainStats": "loraswarm.node.training.outcome",
    "TrainingError": "loraswarm.node.training.errors",
    "adapter_spec": "loraswarm.node.training.adapter",
    "apply_delta": "loraswarm.node.training.adapter",
    "attach_lora": "loraswarm.node.training.adapter",
    "batch_schedule": "loraswarm.node.training.trainer",
    "chat_formatter": "loraswarm.node.training.corpus",
    "clip_delta": "loraswarm.node.training.privacy",
    "compute_delta": "loraswarm.node.training.adapter",
    "deal_topics": "loraswarm.node.training.corpus",
    "delta_norm": "loraswarm.node.training.adapter",
    "evaluate_adapters": "loraswarm.node.training.evaluate",
    "evaluate_ppl": "loraswarm.node.training.evaluate",
    "fedavg": "loraswarm.node.training.adapter",
    "get_adapter_state": "loraswarm.node.training.adapter",
    "initial_adapter": "loraswarm.node.training.adapter",
    "list_topics": "loraswarm.node.training.corpus",
    "load_base_model": "loraswarm.node.training.model",
    "load_texts": "loraswarm.node.training.corpus",
    "load_topics": "loraswarm.node.training.corpus",
    "mean_nll": "loraswarm.node.training.evaluate",
    "pack_texts": "loraswarm.node.training.tokens",
    "peer_data": "loraswarm.node.training.corpus",
    "privatize": "loraswarm.node.training.privacy",
    "require_base_model": "loraswarm.node.training.model",
    "set_adapter_state": "loraswarm.node.training.adapter",
    "set_threads": "loraswarm.node.training.model",
    "split_held_out": "loraswarm.node.training.corpus",
    "train_lora": "loraswarm.node.training.trainer",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
