"""The personalization rule on pure tensors and a tiny random Llama: softmax weights over loss
gains, the ACCEPTED-only guard, candidate selection, and saving / reloading across a restart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from loraswarm.consensus import Verdict
from loraswarm.node.personal import (
    NO_VERDICT,
    Personalizer,
    PersonalParams,
    SelectionLoss,
    accepted_deltas,
    gain_weights,
    personalize,
    split_selection,
)
from loraswarm.node.round_result import VerdictRow
from loraswarm.node.training import Delta, adapter_spec, attach_lora, get_adapter_state, initial_adapter
from loraswarm.protocol.codes import Reason
from tests.training.tiny import PARAMS, repetitive_blocks, tiny_model

KEYS = ("a", "b")


def state(value: float) -> Delta:
    return {k: torch.full((2, 3), value) for k in KEYS}


def quadratic(target: Delta) -> SelectionLoss:
    """Selection loss with its minimum at ``target``: gains are exact and easy to reason about."""
    return lambda s: float(sum(((s[k] - target[k]) ** 2).sum() for k in KEYS))


def test_weights_are_a_softmax_over_positive_gains_only() -> None:
    w = gain_weights({"own": 0.2, "near": 0.1, "hurts": -0.3, "flat": 0.0}, temperature=0.05)
    assert w["hurts"] == 0.0 and w["flat"] == 0.0
    assert math.isclose(w["own"] + w["near"], 1.0)
    assert math.isclose(w["own"] / w["near"], math.exp(0.1 / 0.05))
    assert gain_weights({"x": -1.0, "y": 0.0}, 0.05) == {"x": 0.0, "y": 0.0}
    with pytest.raises(ValueError):
        gain_weights({"x": 1.0}, 0.0)


def test_only_accepted_verdicts_pass_the_guard_whatever_the_caller_hands_in() -> None:
    verdicts = [
        Verdict("0xAA", Reason.ACCEPTED, {}),
        Verdict("0xbb", Reason.NORM_BOUND, {}),
        VerdictRow("0xcc", int(Reason.NOT_SELECTED), {}),
        VerdictRow("0xdd", int(Reason.ACCEPTED), {}),
    ]
    deltas = {p: state(1.0) for p in ("0xaa", "0xbb", "0xcc", "0xdd", "0xee")}
    kept, excluded = accepted_deltas(verdicts, deltas)
    assert sorted(kept) == ["0xaa", "0xdd"]
    assert excluded == {"0xbb": "NORM_BOUND", "0xcc": "NOT_SELECTED", "0xee": NO_VERDICT}
    # A peer with an accepted and a rejected verdict is not trusted.
    kept, _ = accepted_deltas([*verdicts, Verdict("0xaa", Reason.KRUM_OUTLIER, {})], deltas)
    assert "0xaa" not in kept


def test_a_rejected_delta_never_enters_even_when_it_would_help_most() -> None:
    start, target = state(0.0), state(1.0)
    own, other = state(0.6), state(-0.2)
    poisoned = state(1.0)  # lands exactly on the peer's optimum: the largest gain of all
    new_global = state(0.2)
    verdicts = [Verdict("own", Reason.ACCEPTED, {}), Verdict("other", Reason.ACCEPTED, {}),
                Verdict("bad", Reason.MEDIAN_OUTLIER, {})]
    with_bad, report = personalize(start, new_global, None, verdicts, {"own": own, "other": other, "bad": poisoned},
                                   quadratic(target), round_=0)
    without, _ = personalize(start, new_global, None, verdicts[:2], {"own": own, "other": other},
                             quadratic(target), round_=0)
    assert "bad" not in report.weights and report.excluded == {"bad": "MEDIAN_OUTLIER"}
    assert all(torch.equal(with_bad[k], without[k]) for k in KEYS)
    # "other" moves away from the target: no weight; the own delta carries the blend.
    assert report.weights == {"other": 0.0, "own": 1.0}
    # lam 3/2 goes furthest towards the target: G' + 1.5 (own - G') = 0.2 + 1.5 * 0.4 = 0.8.
    assert (report.beta, report.lam) == (0.0, 1.5)
    assert all(torch.allclose(with_bad[k], state(0.8)[k]) for k in KEYS)
    assert report.selection_nll["personal"] < report.selection_nll["global"]


def test_the_global_wins_when_no_delta_helps_and_the_offset_is_carried_when_it_does() -> None:
    start, new_global = state(0.0), state(0.5)
    verdicts = [Verdict("p", Reason.ACCEPTED, {})]
    same, report = personalize(start, new_global, None, verdicts, {"p": state(-1.0)}, quadratic(state(0.5)), 0)
    assert report.weights == {"p": 0.0} and (report.beta, report.lam) == (0.0, 0.0)
    assert all(torch.equal(same[k], new_global[k]) for k in KEYS)
    # A previous personal adapter 0.5 above the old global: carrying that offset reaches 1.0.
    carried, report = personalize(start, new_global, state(0.5), verdicts, {"p": state(-1.0)},
                                  quadratic(state(1.0)), 1)
    assert (report.beta, report.lam) == (1.0, 0.0)
    assert all(torch.allclose(carried[k], state(1.0)[k]) for k in KEYS)


def test_selection_split_is_seeded_disjoint_and_capped() -> None:
    blocks = repetitive_blocks(seq_len=8, n_tokens=8 * 200)
    params = PersonalParams(selection_fraction=0.1, selection_blocks=8)
    rest, chosen = split_selection(blocks, params)
    again = split_selection(blocks, params)[1]
    assert len(chosen) == 8 and len(rest) == len(blocks) - 8
    assert torch.equal(chosen.input_ids, again.input_ids)
    assert len(split_selection(blocks)[1]) == 32  # the default: a fifth of 200 blocks, capped at 32
    with pytest.raises(ValueError):
        split_selection(blocks.subset(torch.arange(1)))


def test_personalizer_saves_each_round_and_reloads_the_latest(tmp_path: Path) -> None:
    model = attach_lora(tiny_model(), PARAMS)
    spec = adapter_spec(model, PARAMS)
    blocks = repetitive_blocks(seq_len=16, n_tokens=16 * 20)
    rest, selection = split_selection(blocks)
    start = initial_adapter(spec, seed=0)
    generator = torch.Generator().manual_seed(0)
    deltas = {f"0x{i}": {k: 0.01 * torch.randn(s, generator=generator) for k, s in spec.shapes} for i in range(3)}
    verdicts = [Verdict("0x0", Reason.ACCEPTED, {}), Verdict("0x1", Reason.ACCEPTED, {}),
                Verdict("0x2", Reason.ZERO_UPDATE, {})]
    new_global = {k: start[k] + (deltas["0x0"][k] + deltas["0x1"][k]) / 2 for k in spec.keys}
    before = get_adapter_state(model)
    personal = Personalizer(model, spec, selection, rest, tmp_path)
    report = personal.update(0, start, new_global, verdicts, deltas)
    assert set(report.ppl) == {"base", "global", "personal"} and "0x2" not in report.weights
    assert json.loads((tmp_path / "personal" / "0.json").read_text())["excluded"] == {"0x2": "ZERO_UPDATE"}
    after = get_adapter_state(model)
    assert all(torch.equal(after[k], before[k]) for k in spec.keys)  # evaluation restored the model
    restarted = Personalizer(model, spec, selection, rest, tmp_path)
    assert restarted.round == 0 and restarted.state is not None
    assert all(torch.equal(restarted.state[k], personal.state[k]) for k in spec.keys)  # type: ignore[index]
    # Settling the same round again after the restart folds nothing in twice.
    assert restarted.update(0, start, new_global, verdicts, deltas) == report
    assert all(torch.equal(restarted.state[k], personal.state[k]) for k in spec.keys)  # type: ignore[index]


def test_the_peers_own_chain_is_a_candidate_even_when_consensus_rejected_its_delta() -> None:
    # The other peer's delta gains most from G on S (0.9 is near the target 1.0), so the gain blend
    # is all "other"; the peer's own chain, its previous personal adapter plus its own delta, lands
    # on the target. Consensus rejected the own delta: it stays out of the blend, not out of the chain.
    start, new_global, previous, target = state(0.0), state(0.3), state(0.5), state(1.0)
    deltas = {"own": state(0.5), "other": state(0.9)}
    verdicts = [Verdict("own", Reason.MEDIAN_OUTLIER, {}), Verdict("other", Reason.ACCEPTED, {})]
    chained, report = personalize(start, new_global, previous, verdicts, deltas, quadratic(target), 1, own="OWN")
    assert report.weights == {"other": 1.0} and report.excluded == {"own": "MEDIAN_OUTLIER"}
    assert (report.blend, report.beta, report.lam) == ("own", 1.0, 1.0)
    assert all(torch.allclose(chained[k], target[k]) for k in KEYS)
    # Without its own address the rule cannot get there: on S it does worse than the chain.
    _, blind = personalize(start, new_global, previous, verdicts, deltas, quadratic(target), 1)
    assert blind.blend == "gains" and blind.selection_nll["personal"] > report.selection_nll["personal"]
    # Never worse on S than the global or the own chain, whichever deltas come.
    generator = torch.Generator().manual_seed(3)
    for _ in range(20):
        rand = {p: {k: torch.randn(2, 3, generator=generator) for k in KEYS} for p in ("own", "other")}
        loss = quadratic({k: torch.randn(2, 3, generator=generator) for k in KEYS})
        _, report = personalize(start, new_global, previous, verdicts, rand, loss, 1, own="own")
        chain = {k: previous[k] + rand["own"][k] for k in KEYS}
        assert report.selection_nll["personal"] <= min(loss(new_global), loss(chain))
