"""Adapter state, deltas, the training loop and evaluation, on a tiny random Llama."""

from __future__ import annotations

import math
import signal

import pytest
import torch
from peft import get_peft_model_state_dict

from loraswarm.node.codec import Codec, decode_delta, encode_delta
from loraswarm.node.training import (
    LoraParams,
    TokenBlocks,
    TrainConfig,
    adapter_spec,
    apply_delta,
    attach_lora,
    batch_schedule,
    compute_delta,
    evaluate,
    evaluate_adapters,
    evaluate_ppl,
    fedavg,
    get_adapter_state,
    initial_adapter,
    mean_nll,
    set_adapter_state,
    train_lora,
)
from loraswarm.node.training.tokens import IGNORE, pack_ids
from tests.training.tiny import PARAMS, VOCAB, repetitive_blocks, tiny_model

FAST = TrainConfig(steps=6, batch_size=4, lr=1e-2, seed=1, threads=1, progress=False)


@pytest.mark.parametrize("targets", [("q_proj", "v_proj"), ("q_proj", "k_proj", "v_proj", "o_proj", "down_proj")])
def test_spec_from_the_base_model_matches_peft(targets: tuple[str, ...]) -> None:
    params = LoraParams(rank=4, target_modules=targets)
    spec = adapter_spec(tiny_model(), params)
    peft_state = get_peft_model_state_dict(attach_lora(tiny_model(), params))
    assert list(peft_state) == list(spec.keys)
    assert all(tuple(peft_state[k].shape) == s for k, s in spec.shapes)


def test_spec_refuses_targets_that_match_nothing() -> None:
    with pytest.raises(ValueError, match="no linear layer"):
        adapter_spec(tiny_model(), LoraParams(target_modules=("nope",)))


def test_state_round_trips_and_is_strict() -> None:
    model = attach_lora(tiny_model(), PARAMS)
    spec = adapter_spec(model, PARAMS)
    state = initial_adapter(spec, seed=5)
    set_adapter_state(model, state)
    got = get_adapter_state(model)
    assert list(got) == list(spec.keys) and all(torch.equal(got[k], state[k]) for k in spec.keys)
    with pytest.raises(ValueError):
        set_adapter_state(model, dict(list(state.items())[1:]))


def test_initial_adapter_is_deterministic_and_starts_at_the_base_model() -> None:
    base = tiny_model()
    blocks = repetitive_blocks()
    base_ppl = evaluate_ppl(base, blocks)
    model = attach_lora(base, PARAMS)
    spec = adapter_spec(model, PARAMS)
    first, second = initial_adapter(spec, 3), initial_adapter(spec, 3)
    assert all(torch.equal(first[k], second[k]) for k in spec.keys)
    assert not torch.equal(first[spec.keys[0]], initial_adapter(spec, 4)[spec.keys[0]])
    assert all(float(v.abs().max()) == 0 for k, v in first.items() if ".lora_B." in k)
    set_adapter_state(model, first)
    assert evaluate_ppl(model, blocks) == pytest.approx(base_ppl, rel=1e-6)


def test_training_is_seeded_learns_and_leaves_the_global_rng_alone() -> None:
    model = attach_lora(tiny_model(), PARAMS)
    start = initial_adapter(adapter_spec(model, PARAMS), 0)
    blocks = repetitive_blocks()
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    one = train_lora(model, blocks, start, FAST)
    assert torch.equal(torch.get_rng_state(), rng_before)
    two = train_lora(model, blocks, start, FAST)
    other = train_lora(model, blocks, start, TrainConfig(**{**FAST.__dict__, "seed": 2}))
    assert all(torch.equal(one.adapter[k], two.adapter[k]) for k in one.adapter)
    assert any(not torch.equal(one.adapter[k], other.adapter[k]) for k in one.adapter)
    assert one.stats.steps == 6 and one.stats.tokens == 6 * 4 * 15 and not one.stats.interrupted
    before, after = evaluate_adapters(model, {"t": blocks}, {"start": start, "trained": one.adapter}).values()
    assert after["t"] < before["t"]


@pytest.mark.parametrize("micro_batch_size", [1, 3])
def test_micro_batches_give_the_update_of_one_pass_over_the_batch(micro_batch_size: int) -> None:
    # No dropout: its masks are drawn per pass, so only then are the two updates comparable. The
    # stream ends in a partly padded block, so micro-batches carry unequal token counts.
    params = LoraParams(rank=4, alpha=8.0, dropout=0.0, target_modules=("q_proj", "v_proj"))
    model = attach_lora(tiny_model(), params)
    start = initial_adapter(adapter_spec(model, params), 0)
    blocks = repetitive_blocks(n_tokens=90)
    assert int((blocks.labels == IGNORE).sum()) > 0
    config = TrainConfig(**{**FAST.__dict__, "batch_size": len(blocks)})
    whole = train_lora(model, blocks, start, TrainConfig(**{**config.__dict__, "micro_batch_size": len(blocks)}))
    split = train_lora(model, blocks, start, TrainConfig(**{**config.__dict__, "micro_batch_size": micro_batch_size}))
    assert split.stats.mean_loss == pytest.approx(whole.stats.mean_loss, rel=1e-5)
    assert all(torch.allclose(split.adapter[k], whole.adapter[k], atol=1e-5) for k in whole.adapter)
    with pytest.raises(ValueError, match="micro_batch_size"):
        train_lora(model, blocks, start, TrainConfig(**{**config.__dict__, "micro_batch_size": 0}))


def test_first_ctrl_c_stops_after_a_whole_step() -> None:
    class InterruptingBlocks(TokenBlocks):
        calls = 0

        def subset(self, index: torch.Tensor) -> TokenBlocks:
            InterruptingBlocks.calls += 1
            if InterruptingBlocks.calls == 2:
                signal.raise_signal(signal.SIGINT)
            return super().subset(index)

    model = attach_lora(tiny_model(), PARAMS)
    start = initial_adapter(adapter_spec(model, PARAMS), 0)
    plain = repetitive_blocks()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs as a background job
    result = train_lora(model, InterruptingBlocks(plain.input_ids, plain.labels), start, FAST)
    assert result.stats.interrupted and result.stats.steps == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler it found is back
    assert all(torch.isfinite(v).all() for v in result.adapter.values())


def test_batch_schedule_covers_epochs_deterministically() -> None:
    schedule = batch_schedule(n_blocks=5, steps=5, batch_size=2, seed=0)
    flat = torch.cat(schedule).tolist()
    assert sorted(flat[:5]) == [0, 1, 2, 3, 4] and flat == torch.cat(batch_schedule(5, 5, 2, 0)).tolist()


def test_delta_apply_and_fedavg() -> None:
    spec = adapter_spec(tiny_model(), PARAMS)
    g = initial_adapter(spec, 0)
    trained = {k: v + 0.5 for k, v in g.items()}
    delta = compute_delta(trained, g)
    assert all(torch.allclose(delta[k], torch.full_like(delta[k], 0.5)) for k in spec.keys)
    assert all(torch.allclose(apply_delta(g, delta)[k], trained[k]) for k in spec.keys)
    ones, threes = spec.zeros(), {k: torch.full(s, 3.0) for k, s in spec.shapes}
    ones = {k: v + 1 for k, v in ones.items()}
    avg = fedavg([ones, threes], [3, 1])  # (3*1 + 1*3) / 4
    assert all(torch.allclose(v, torch.full_like(v, 1.5)) for v in avg.values())
    with pytest.raises(ValueError):
        fedavg([ones], [0])


def test_adapter_state_survives_the_codec() -> None:
    model = attach_lora(tiny_model(), PARAMS)
    spec = adapter_spec(model, PARAMS)
    result = train_lora(model, repetitive_blocks(), initial_adapter(spec, 0), FAST)
    decoded = decode_delta(encode_delta(result.adapter, spec, Codec()), spec)
    assert all(torch.equal(decoded[k], result.adapter[k]) for k in spec.keys)


def test_packing_masks_only_the_padding() -> None:
    blocks = pack_ids(list(range(1, 11)), seq_len=4, pad_id=0)
    assert blocks.input_ids.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 0, 0]]
    assert blocks.labels[-1].tolist() == [9, 10, IGNORE, IGNORE]
    assert blocks.predicted_tokens == 3 + 3 + 1


def test_blocks_per_pass_do_not_change_the_mean_nll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluation batches as many blocks as fit in EVAL_TOKENS; the mean per predicted token is
    the same for one block a pass and for all at once (the last block is padded: its weight
    must follow its predicted tokens, not the block count)."""
    model, blocks = tiny_model(), repetitive_blocks(seq_len=16, n_tokens=150)
    assert blocks.labels[-1, -1] == IGNORE
    by_pass = []
    for tokens in (16, 48, 16 * len(blocks)):
        monkeypatch.setattr(evaluate, "EVAL_TOKENS", tokens)
        by_pass.append(mean_nll(model, blocks))
    assert by_pass == pytest.approx([by_pass[0]] * 3, rel=1e-6)


def test_untrained_model_is_near_uniform() -> None:
    ppl = evaluate_ppl(tiny_model(), repetitive_blocks())
    assert VOCAB / 3 < ppl < VOCAB * 3 and math.isfinite(ppl)
