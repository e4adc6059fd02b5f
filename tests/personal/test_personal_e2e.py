"""Personal adapters on the real base model: three peers on disjoint fortunes topics, consensus
(``settle_round``, the default rule) for the global over three rounds, and a fourth peer that
reveals a sign-flipped x20 copy of an honest delta every round. Each honest peer's personal
adapter must beat the global on its own held-out topic, and the rejected delta must never enter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from loraswarm.consensus import RoundContext, Submission, apply_delta, settle_round, tensors_hash
from loraswarm.node.personal import Personalizer, PersonalParams, PersonalReport, split_selection
from loraswarm.node.training import TrainConfig, compute_delta, initial_adapter, pack_texts, peer_data, train_lora
from loraswarm.protocol.codes import Reason
from tests.training.conftest import RealModel

pytestmark = pytest.mark.e2e

PEER_TOPICS = [["computers"], ["food"], ["law"]]
SEQ_LEN = 48
HELD_OUT_RECORDS = 8
ROUNDS = 3
POISONED = "0x" + "ee" * 20
PARAMS = PersonalParams(selection_blocks=4)


def test_personal_adapters_beat_the_global_on_own_topics_and_never_take_a_rejected_delta(
    real_model: RealModel, tmp_path: Path
) -> None:
    model, tokenizer, spec = real_model.model, real_model.tokenizer, real_model.spec
    train, personal = [], []
    for i, topics in enumerate(PEER_TOPICS):
        data = peer_data(topics, held_out_fraction=0.1, seed=0)
        # The selection set is cut from the training text and not trained on: the reported
        # held-out perplexity is of text that neither training nor selection saw.
        rest, selection = split_selection(pack_texts(tokenizer, data.train_texts(), SEQ_LEN), PARAMS)
        held = pack_texts(tokenizer, [t for topic in data.topics for t in data.held_out[topic][:HELD_OUT_RECORDS]],
                          SEQ_LEN)
        train.append(rest)
        personal.append(Personalizer(model, spec, selection, held, tmp_path / str(i), PARAMS))
    honest = [f"0x{i + 1:040x}" for i in range(len(PEER_TOPICS))]

    global_state = initial_adapter(spec, seed=0)
    last: dict[int, PersonalReport] = {}
    for round_ in range(ROUNDS):
        deltas = {}
        for i, blocks in enumerate(train):
            config = TrainConfig(steps=4, batch_size=4, lr=2e-3, seed=100 * round_ + i, threads=2, progress=False)
            deltas[honest[i]] = compute_delta(train_lora(model, blocks, global_state, config).adapter, global_state)
        deltas[POISONED] = {k: -20.0 * v for k, v in deltas[honest[0]].items()}
        ctx = RoundContext(round=round_, current_global_hash=tensors_hash(global_state), spec=dict(spec.shapes),
                           norm_bound=50.0)
        outcome = settle_round([
            Submission(peer=p, commit_index=j, revealed=True, commitment_ok=True, signature_ok=True,
                       base_hash=ctx.current_global_hash, sample_count=16, delta=d)
            for j, (p, d) in enumerate(deltas.items())
        ], ctx)
        reasons = {v.peer: v.reason for v in outcome.verdicts}
        assert reasons[POISONED] is not Reason.ACCEPTED, reasons  # the scenario needs consensus to reject it
        new_global = apply_delta(global_state, outcome.aggregate.delta)
        for i, peer in enumerate(personal):
            report = last[i] = peer.update(round_, global_state, new_global, outcome.verdicts, deltas)
            print(f"round {round_} peer {PEER_TOPICS[i]}: weights {report.weights} beta {report.beta} "
                  f"lam {report.lam} ppl {report.ppl}")
            assert POISONED not in report.weights and report.excluded[POISONED] == reasons[POISONED].name
            assert set(report.weights) == {p for p in honest if reasons[p] is Reason.ACCEPTED}
        global_state = new_global

    for i, peer in enumerate(personal):
        ppl = last[i].ppl
        print(f"{PEER_TOPICS[i]}: base {ppl['base']:.2f} global {ppl['global']:.2f} personal {ppl['personal']:.2f}")
        assert ppl["personal"] < ppl["global"], (PEER_TOPICS[i], ppl)
        restarted = Personalizer(model, spec, peer.selection, peer.held_out, tmp_path / str(i), PARAMS)
        assert restarted.round == ROUNDS - 1 and restarted.state is not None and peer.state is not None
        assert all(torch.equal(restarted.state[k], peer.state[k]) for k in spec.keys)
