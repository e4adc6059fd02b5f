"""``loraswarm export``: a round's global (or the node's personal) adapter as a PEFT adapter
folder that ``PeftModel.from_pretrained(base, DIR)`` loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loraswarm.node.config import load_config
from loraswarm.protocol.taskspec import TaskSpec


def export_cmd(
    config: Annotated[Path, typer.Option("--config", help="The peer's TOML config.")],
    round_: Annotated[int, typer.Option("--round", help="The finalized round whose adapter to export.")],
    out: Annotated[Path, typer.Option(help="Folder to write the PEFT adapter into.")],
    personal: Annotated[bool, typer.Option(help="The node's personal adapter instead of the global.")] = False,
) -> None:
    """Write a round's global adapter (or the node's personal one) as a PEFT adapter folder."""
    # torch, transformers and peft load in seconds: only this command needs them
    from loraswarm.node.codec import decode_delta
    from loraswarm.node.learner import lora_params
    from loraswarm.node.state.store import STATE_FILE, StateStore
    from loraswarm.node.training.adapter import adapter_spec
    from loraswarm.node.training.export import round_adapter, write_peft_adapter
    from loraswarm.node.training.model import SET_TASK_MODEL, load_base_model, require_base_model

    loaded = load_config(config)
    wire = round_adapter(loaded.node.data_dir, round_, personal)
    lora = lora_params(TaskSpec.read(loaded.chain.task_file))
    base, _tokenizer, model_hash = load_base_model(loaded.training.model)
    journal = loaded.node.data_dir / STATE_FILE
    # An adapter applied to another base model than the one it was trained on loads without
    # complaint when the shapes agree, and computes nonsense.
    if journal.is_file():
        store = StateStore(journal)
        task_model = store.base_model()
        store.close()
        if task_model is not None:
            require_base_model(model_hash, task_model, SET_TASK_MODEL)
    state = decode_delta(wire.read_bytes(), adapter_spec(base, lora))
    write_peft_adapter(state, lora, loaded.training.model or str(base.config.name_or_path), out)
    typer.echo(f"wrote the {'personal' if personal else 'global'} adapter of round {round_} to {out} "
               f"(base model {model_hash}); load it with PeftModel.from_pretrained(base, {str(out)!r})")
