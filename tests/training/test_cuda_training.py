"""A peer trains on a CUDA GPU (`[training] device = "cuda"`) through the node's own Learner: the
model folder is loaded from disk, moved to the GPU, trained for a round from the global, and its
delta comes back as CPU float32 tensors that the wire codec encodes; the same round on the CPU
gives the same delta up to float rounding, and held-out perplexity agrees.

Runs only where torch sees a CUDA GPU (the CPU machines of CI skip it). The model is a small
randomly initialised Llama with a byte-level BPE tokenizer trained here, saved as a model folder:
the same loading, LoRA, training and evaluation code as the real base model, which is too large
to carry to a GPU machine that cannot reach a model hub.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from loraswarm.node.codec import Codec, decode_delta, encode_delta
from loraswarm.node.config import Behaviour, TrainingSection
from loraswarm.node.learner import Learner
from loraswarm.protocol.taskspec import LoraSection, RecipeSection, TaskSpec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU: torch sees none here")

WORDS = ("ledger", "adapter", "gossip", "validator", "quorum", "stake", "round", "delta", "peer", "chain",
         "reward", "slash", "median", "commit", "reveal", "seal", "open", "claim", "merkle", "token")


def _records(n: int) -> list[str]:
    gen = torch.Generator().manual_seed(7)
    return [" ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (24,), generator=gen)) for _ in range(n)]


def _model_folder(root: Path) -> Path:
    """A model folder as `[training] model` takes it: config, weights and a tokenizer."""
    folder = root / "model"
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_records(200), trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "</s>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="</s>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, use_cache=False)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _learner(folder: Path, data: Path, device: str, dropout: float = 0.0) -> Learner:
    # The CPU and the GPU draw dropout masks from different generators: the comparison of the two
    # trains without dropout, the GPU's own reproducibility with the task's default.
    task = TaskSpec(task_id=1, seq_len=32, lora=LoraSection(dropout=dropout),
                    recipe=RecipeSection(steps=8, batch_size=2, lr=3e-3))
    training = TrainingSection(model=str(folder), data=[data], device=device, eval_records=8)
    return Learner(task, training, task_model_hash=None)


def _flat(delta: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([delta[k].flatten() for k in sorted(delta)])


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


@pytest.fixture
def notes(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "notes.txt"
    data.write_text("\n\n".join(_records(120)))
    return _model_folder(tmp_path), data


def test_a_round_trained_on_the_gpu_is_the_cpu_round(notes: tuple[Path, Path]) -> None:
    folder, data = notes
    gpu, cpu = _learner(folder, data, "cuda"), _learner(folder, data, "cpu")
    assert next(gpu.model.parameters()).device.type == "cuda"
    assert next(cpu.model.parameters()).device.type == "cpu"

    start, _, _ = gpu.initial_global()
    on_gpu = gpu.train(start, round_=0, behaviour=Behaviour.HONEST)
    on_cpu = cpu.train(start, round_=0, behaviour=Behaviour.HONEST)
    assert on_gpu.stats.steps == on_cpu.stats.steps == 8

    a, b = _flat(on_gpu.delta), _flat(on_cpu.delta)
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in on_gpu.delta.values())
    assert bool(torch.isfinite(a).all()) and float(a.norm()) > 0
    # Same steps, batches and seed: only the order of float operations differs between devices.
    assert _cosine(a, b) > 0.999, _cosine(a, b)
    assert abs(float(a.norm()) / float(b.norm()) - 1) < 0.01

    wire = encode_delta(on_gpu.delta, gpu.spec, Codec("int8", zstd=True))
    back = decode_delta(wire, gpu.spec)
    assert set(back) == set(on_gpu.delta)

    trained = {k: start[k] + on_gpu.delta[k] for k in start}
    ppl_gpu, ppl_cpu = gpu.held_out_ppl(trained), cpu.held_out_ppl(trained)
    assert math.isfinite(ppl_gpu) and abs(ppl_gpu / ppl_cpu - 1) < 1e-3, (ppl_gpu, ppl_cpu)
    assert ppl_gpu < gpu.held_out_ppl(start)  # the round learned the notes' words


def test_the_seed_fixes_a_gpu_round_with_dropout(notes: tuple[Path, Path]) -> None:
    """Dropout on the GPU draws from the GPU's generator, which the trainer seeds and forks like
    the CPU's: the same round trains the same delta again, and the caller's generator is untouched."""
    folder, data = notes
    gpu = _learner(folder, data, "cuda", dropout=0.05)
    start, _, _ = gpu.initial_global()
    torch.cuda.manual_seed(1234)
    before = torch.cuda.get_rng_state()
    first = _flat(gpu.train(start, round_=3, behaviour=Behaviour.HONEST).delta)
    assert torch.equal(torch.cuda.get_rng_state(), before)
    again = _flat(gpu.train(start, round_=3, behaviour=Behaviour.HONEST).delta)
    other = _flat(gpu.train(start, round_=4, behaviour=Behaviour.HONEST).delta)
    assert _cosine(first, again) > 0.99999, _cosine(first, again)
    assert _cosine(first, other) < 0.999  # another round's seed: other batches and masks
