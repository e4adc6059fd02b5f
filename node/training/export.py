"""A network's adapter (a round's global, a peer's personal one) as a PEFT adapter folder:
``adapter_model.safetensors`` under PEFT's key names (an adapter's keys are already those, see
adapter.py) and ``adapter_config.json`` with the task's LoRA shape, so that
``PeftModel.from_pretrained(base, folder)`` and the tools built on PEFT load what the network
trained."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import save_file

from loraswarm.errors import NotFound
from loraswarm.node.codec import Delta
from loraswarm.node.round_result import RoundResult
from loraswarm.node.training.adapter import LoraParams

WEIGHTS = "adapter_model.safetensors"


def write_peft_adapter(state: Delta, lora: LoraParams, base_model: str, out: Path) -> Path:
    """Write ``state`` as a PEFT adapter folder at ``out``; ``base_model`` is recorded as the model
    it adapts (a folder or hub id)."""
    out.mkdir(parents=True, exist_ok=True)
    save_file({key: tensor.detach().cpu().contiguous() for key, tensor in state.items()}, str(out / WEIGHTS),
              metadata={"format": "pt"})
    config = lora.peft_config()
    config.base_model_name_or_path = base_model
    config.save_pretrained(str(out))
    return out


def round_adapter(data_dir: Path, round_: int, personal: bool) -> Path:
    """The wire file of a round's global adapter (named by the round's result document) or of the
    node's personal adapter after that round, in a node's data directory."""
    if personal:
        path = data_dir / "personal" / f"{round_}.safetensors"
        if not path.is_file():
            raise NotFound(f"no personal adapter of round {round_} in {path.parent}: the node keeps one only with "
                           "[training] personal = true, after each round it settled")
        return path
    result_file = data_dir / "results" / f"{round_}.json"
    if not result_file.is_file():
        raise NotFound(f"no result of round {round_} in {result_file.parent}: the node has not settled that round "
                       "(`loraswarm node status` shows the rounds it did)")
    path = data_dir / "globals" / f"{RoundResult.decode(result_file.read_bytes()).global_hash}.safetensors"
    if not path.is_file():
        raise NotFound(f"the global adapter of round {round_} is not in {path.parent}: the node has not adopted it")
    return path
