"""What a task fixes on chain about its model: the base model's hash and the initial global
adapter's hash, derived from a task file and a model (``loraswarm task create``, the demo); and
the adapter's size on the wire, which its windows must carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loraswarm.node.windows import AdapterSize
from loraswarm.protocol.taskspec import TaskSpec


@dataclass(frozen=True)
class ModelFacts:
    model_hash: str
    initial_global: str
    adapter: AdapterSize


def model_facts(spec_file: TaskSpec, model: Path | str | None = None) -> ModelFacts:
    """The base model hash, the initial global adapter hash and the adapter's size for a task spec."""
    # Imported here: torch, transformers and peft take seconds to load, and every command of the
    # CLI imports its modules (`loraswarm --help` included); only this function needs them.
    from loraswarm.node.codec import Codec, size_bound
    from loraswarm.node.globals import GLOBAL_CODEC, encode_global
    from loraswarm.node.learner import lora_params
    from loraswarm.node.training.adapter import adapter_spec, initial_adapter
    from loraswarm.node.training.model import load_base_model

    base, _tokenizer, model_hash = load_base_model(model)
    spec = adapter_spec(base, lora_params(spec_file))
    _data, global_hash = encode_global(initial_adapter(spec, spec_file.init_seed), spec)
    size = AdapterSize(spec.numel, size_bound(spec, Codec.parse(spec_file.codec)), size_bound(spec, GLOBAL_CODEC))
    return ModelFacts(model_hash, global_hash, size)
