"""One real base model per test session (loading it, even from the safetensors cache, takes
seconds); tests that use it set the adapter state they need and never assume another test's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from peft import PeftModel
from transformers import PreTrainedTokenizerBase

from loraswarm.node.training import AdapterSpec, LoraParams, adapter_spec, attach_lora, load_base_model, set_threads

REAL_PARAMS = LoraParams(rank=8, alpha=16.0, dropout=0.05, target_modules=("q_proj", "v_proj"))


@dataclass(frozen=True)
class RealModel:
    model: PeftModel
    tokenizer: PreTrainedTokenizerBase
    model_hash: str
    spec: AdapterSpec


@pytest.fixture(scope="session")
def real_model() -> Iterator[RealModel]:
    set_threads(2)
    model, tokenizer, model_hash = load_base_model()
    spec = adapter_spec(model, REAL_PARAMS)
    yield RealModel(attach_lora(model, REAL_PARAMS), tokenizer, model_hash, spec)
