"""What a task fixes on chain about its model: the base model's hash and the initial global
adapter's hash, derived from a task file and a model (``loraswarm task create``, the demo)."""

from __future__ import annotations

from pathlib import Path

from loraswarm.protocol.taskspec import TaskSpec


def model_facts(spec_file: TaskSpec, model: Path | None = None) -> tuple[str, str]:
    """(base model hash, initial global adapter hash) for a task spec."""
    # Imported here: torch, transformers and peft take seconds to load, and every command of the
    # CLI imports its modules (`loraswarm --help` included); only this function needs them.
    from loraswarm.node.globals import encode_global
    from loraswarm.node.learner import lora_params
    from loraswarm.node.training.adapter import adapter_spec, initial_adapter
    from loraswarm.node.training.model import load_base_model

    base, _tokenizer, model_hash = load_base_model(model)
    spec = adapter_spec(base, lora_params(spec_file))
    _data, global_hash = encode_global(initial_adapter(spec, spec_file.init_seed), spec)
    return model_hash, global_hash
