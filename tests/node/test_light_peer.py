"""Light peers of scale runs (harness/light_peer.py) and the node's import weight they rely on.

benchmarks/scale.py runs them for real (real processes, chain and validators); these tests pin
what the benchmark's figures assume: a light peer sends its own cached real training, bent like a
full node's, and importing the node daemon loads none of the model's libraries (a full node loads
them in check_training, before it stakes; a light peer never does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from harness.light_peer import MANIFEST, LightLearner
from loraswarm.node.codec import AdapterSpec, Delta, content_hash, encode_delta
from loraswarm.node.config import Behaviour
from loraswarm.node.globals import GLOBAL_CODEC
from loraswarm.node.training.outcome import SCALING_GAMMA

SPEC = AdapterSpec.of({"a.lora_A": (2, 8), "a.lora_B": (8, 2)})


def _delta(seed: int) -> Delta:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=generator) for k, s in SPEC.shapes}


def _cache(folder: Path, peers: int, rounds: int) -> None:
    """A cache as build_cache leaves it, with random tensors in place of trainings."""
    folder.mkdir()
    initial = encode_delta(SPEC.zeros(), SPEC, GLOBAL_CODEC)
    (folder / "initial.bin").write_bytes(initial)
    trained = {}
    for i in range(peers):
        for r in range(rounds):
            (folder / f"peer{i}-round{r}.bin").write_bytes(encode_delta(_delta(100 * i + r), SPEC, GLOBAL_CODEC))
            trained[f"{i}/{r}"] = {"steps": 4, "tokens": 256, "seconds": 2.0}
    (folder / MANIFEST).write_text(json.dumps({"spec_hash": "0x00", "model_hash": "0xm",
                                               "initial_global": content_hash(initial), "trained": trained,
                                               "spec": [[k, list(s)] for k, s in SPEC.shapes]}))


def test_each_light_peer_sends_its_own_cached_training_bent_by_its_behaviour(tmp_path: Path) -> None:
    _cache(tmp_path / "cache", peers=3, rounds=2)
    first, second = LightLearner(tmp_path / "cache", 0), LightLearner(tmp_path / "cache", 1)
    start, data, digest = first.initial_global()
    assert digest == content_hash(data) and all(float(v.abs().sum()) == 0 for v in start.values())
    own = first.train(start, 0, Behaviour.HONEST)
    assert all(torch.equal(own.delta[k], _delta(0)[k]) for k, _ in SPEC.shapes)
    assert own.stats.steps == 4 and own.stats.tokens == 256 and own.stats.tokens_per_s == 128.0
    other = second.train(start, 0, Behaviour.HONEST)
    assert not torch.equal(own.delta["a.lora_A"], other.delta["a.lora_A"])
    # Rounds past the cache reuse it cyclically; round 1 is another training.
    assert torch.equal(first.train(start, 2, Behaviour.HONEST).delta["a.lora_A"], own.delta["a.lora_A"])
    assert not torch.equal(first.train(start, 1, Behaviour.HONEST).delta["a.lora_A"], own.delta["a.lora_A"])
    scaled = first.train(start, 0, Behaviour.SCALING)
    assert torch.allclose(scaled.delta["a.lora_B"], SCALING_GAMMA * own.delta["a.lora_B"])
    assert all(float(v.abs().sum()) == 0 for v in first.train(start, 0, Behaviour.ZERO).delta.values())


def test_a_peer_missing_from_the_cache_is_refused(tmp_path: Path) -> None:
    _cache(tmp_path / "cache", peers=1, rounds=1)
    try:
        LightLearner(tmp_path / "cache", 5)
    except SystemExit as exc:
        assert "peer 5" in str(exc)
    else:
        raise AssertionError("a light peer without cached trainings started")


def test_the_node_daemon_loads_no_model_library_until_it_loads_the_model() -> None:
    probe = ("import sys, loraswarm.node.daemon; "
             "print(sorted(m for m in ('transformers', 'peft', 'dp_accounting') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
