"""`loraswarm export` on the real base model: a round's global adapter, as a node keeps it,
becomes a PEFT folder that `PeftModel.from_pretrained` loads into the same model the network's
code builds; and a hub id resolves from the local Hugging Face cache, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from peft import PeftModel
from typer.testing import CliRunner

from loraswarm.cli import app
from loraswarm.errors import NotFound
from loraswarm.node.codec import decode_delta, encode_delta
from loraswarm.node.globals import encode_global
from loraswarm.node.personal import PERSONAL_CODEC
from loraswarm.node.round_result import RoundResult
from loraswarm.node.state.store import STATE_FILE, StateStore
from loraswarm.node.training import load_base_model, set_adapter_state
from loraswarm.node.training.errors import BaseModelMismatch, ModelNotFound
from loraswarm.node.training.export import WEIGHTS, round_adapter
from loraswarm.node.training.model import directory_hash, resolve_model
from loraswarm.protocol.taskspec import TaskSpec
from tests.training.conftest import RealModel

pytestmark = pytest.mark.e2e


def _peer(tmp_path: Path, real_model: RealModel, task_model: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """A node's data dir holding round 3's result document and its global adapter, its journal
    naming the task's base model as ``task_model``."""
    generator = torch.Generator().manual_seed(7)
    state = {key: torch.randn(shape, generator=generator) * 0.02 for key, shape in real_model.spec.shapes}
    data, global_hash = encode_global(state, real_model.spec)
    state = decode_delta(data, real_model.spec)  # what a node adopts: the wire's precision
    data_dir = tmp_path / "data"
    (data_dir / "globals").mkdir(parents=True)
    (data_dir / "globals" / f"{global_hash}.safetensors").write_bytes(data)
    (data_dir / "results").mkdir()
    (data_dir / "results" / "3.json").write_bytes(RoundResult(1, 3, global_hash, (), (), ()).encode())
    StateStore(data_dir / STATE_FILE).save_base_model(task_model)
    TaskSpec(task_id=1).write(tmp_path / "task.json")
    (tmp_path / "peer.toml").write_text(
        '[node]\nname = "p"\ndata_dir = "data"\n[keys]\nkeystore = "k.json"\n'
        '[chain]\ndeployment = "d.json"\ntask_file = "task.json"\n')
    return tmp_path / "peer.toml", state


def test_exported_global_loads_with_peft_and_computes_what_the_node_computes(real_model: RealModel,
                                                                              tmp_path: Path) -> None:
    config, state = _peer(tmp_path, real_model, real_model.model_hash)
    out = tmp_path / "exported"
    result = CliRunner().invoke(app, ["export", "--config", str(config), "--round", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {WEIGHTS, "adapter_config.json"}
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 8

    tokens = real_model.tokenizer("The network trained this adapter.", return_tensors="pt").input_ids
    set_adapter_state(real_model.model, state)
    real_model.model.eval()
    with torch.no_grad():
        ours = real_model.model(input_ids=tokens).logits
        base, _, _ = load_base_model()
        loaded = PeftModel.from_pretrained(base, str(out))
        theirs = loaded(input_ids=tokens).logits
        with loaded.disable_adapter():
            plain = loaded(input_ids=tokens).logits
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert not torch.allclose(theirs, plain, atol=1e-3)  # the adapter is really applied

    # The node's personal adapter of a round exports the same way.
    personal = {k: v * 2 for k, v in state.items()}
    (tmp_path / "data" / "personal").mkdir()
    (tmp_path / "data" / "personal" / "3.safetensors").write_bytes(
        encode_delta(personal, real_model.spec, PERSONAL_CODEC))
    mine = tmp_path / "personal-out"
    result = CliRunner().invoke(app, ["export", "--config", str(config), "--round", "3", "--personal",
                                      "--out", str(mine)])
    assert result.exit_code == 0, result.output
    set_adapter_state(real_model.model, personal)
    with torch.no_grad():
        ours = real_model.model(input_ids=tokens).logits
        base, _, _ = load_base_model()
        theirs = PeftModel.from_pretrained(base, str(mine))(input_ids=tokens).logits
    assert torch.allclose(ours, theirs, atol=1e-5)

    with pytest.raises(NotFound, match="no result of round 4"):
        round_adapter(tmp_path / "data", 4, personal=False)
    with pytest.raises(NotFound, match="no personal adapter of round 4"):
        round_adapter(tmp_path / "data", 4, personal=True)


def test_an_adapter_is_not_exported_for_another_base_model(real_model: RealModel, tmp_path: Path) -> None:
    # Same shapes, other weights: PEFT would load the adapter and compute nonsense.
    other = "0x" + "ab" * 32
    config, _ = _peer(tmp_path, real_model, other)
    result = CliRunner().invoke(app, ["export", "--config", str(config), "--round", "3", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, BaseModelMismatch)
    assert str(result.exception) == (f"the task's base model hash is {other}, the local base model's is "
                                     f"{real_model.model_hash}: set [training] model to the task's base model")
    assert not (tmp_path / "x").exists()


def test_a_hub_id_resolves_from_the_local_cache_offline(real_model: RealModel, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub cache's layout (refs name a snapshot whose files link to blobs), as
    `hf download` leaves it, built from the local model's files."""
    source = Path(str(real_model.model.get_base_model().config.name_or_path))
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-lm"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in source.iterdir():
        if file.is_file():
            blob = repo / "blobs" / file.name
            shutil.copyfile(file, blob)
            (snapshot / file.name).symlink_to(Path("../../blobs") / file.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # read when imported

    assert resolve_model("acme/tiny-lm") == snapshot
    assert resolve_model(f"acme/tiny-lm@{commit}") == snapshot
    _, _, model_hash = load_base_model("acme/tiny-lm")
    assert model_hash == directory_hash(source)  # a cached hub model hashes like its files anywhere
    with pytest.raises(ModelNotFound, match="acme/other is not in the local Hugging Face cache"):
        resolve_model("acme/other")
