"""Federated training on the real base model, and personal adapters: three peers on disjoint
fortunes topics, their deltas through the wire codec (int8+zstd), consensus (``settle_round``,
the default rule) for the global over three rounds, and a fourth peer that reveals a sign-flipped
x20 copy of an honest delta every round. The global must beat the base model on every peer's
held-out topic (federated training learns); the rejected delta must never enter a personal
adapter; each honest peer's personal adapter must beat the global on its own held-out topic.

The topics differ in kind (Zippy the Pinhead's non sequiturs, song lyrics and poems, Star Trek
quotes): personalization pays where peers' text differs. On topics that differ mostly in subject
(computers, food, law) the peer's own delta barely beats the global at this scale (measured
personal/global after 3 rounds: 0.98, 0.995, 1.002), so there a test could not tell a working
rule from noise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from loraswarm.consensus import RoundContext, Submission, apply_delta, settle_round, tensors_hash
from loraswarm.node.codec import Codec, decode_delta, encode_delta
from loraswarm.node.personal import Personalizer, PersonalParams, PersonalReport, split_selection
from loraswarm.node.training import TrainConfig, compute_delta, initial_adapter, pack_texts, peer_data, train_lora
from loraswarm.protocol.codes import Reason
from tests.training.conftest import RealModel

pytestmark = pytest.mark.e2e

PEER_TOPICS = [["zippy"], ["songs-poems"], ["startrek"]]
SEQ_LEN = 48
HELD_OUT_RECORDS = 8
ROUNDS = 3
POISONED = "0x" + "ee" * 20
# Half the default selection set: each candidate costs one pass over it (~2 s per 16 blocks here).
PARAMS = PersonalParams(selection_blocks=16)
CODEC = Codec("int8", zstd=True)


@dataclass(frozen=True)
class Scenario:
    personal: list[Personalizer]
    reports: list[list[PersonalReport]]  # per round, per peer
    reasons: list[dict[str, Reason]]  # per round: peer -> consensus verdict
    honest: list[str]
    data_dir: Path
    final_global: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def scenario(real_model: RealModel, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    model, tokenizer, spec = real_model.model, real_model.tokenizer, real_model.spec
    data_dir = tmp_path_factory.mktemp("personal")
    train, personal = [], []
    for i, topics in enumerate(PEER_TOPICS):
        data = peer_data(topics, held_out_fraction=0.1, seed=0)
        # The selection set is cut from the training text and not trained on: the reported
        # held-out perplexity is of text that neither training nor selection saw.
        rest, selection = split_selection(pack_texts(tokenizer, data.train_texts(), SEQ_LEN), PARAMS)
        held = pack_texts(tokenizer, [t for topic in data.topics for t in data.held_out[topic][:HELD_OUT_RECORDS]],
                          SEQ_LEN)
        train.append(rest)
        personal.append(Personalizer(model, spec, selection, held, data_dir / str(i), PARAMS))
    honest = [f"0x{i + 1:040x}" for i in range(len(PEER_TOPICS))]
    reports, reasons = [], []
    global_state = initial_adapter(spec, seed=0)
    for round_ in range(ROUNDS):
        deltas = {}
        for i, blocks in enumerate(train):
            config = TrainConfig(steps=4, batch_size=4, lr=2e-3, seed=100 * round_ + i, threads=2, progress=False)
            delta = compute_delta(train_lora(model, blocks, global_state, config).adapter, global_state)
            deltas[honest[i]] = decode_delta(encode_delta(delta, spec, CODEC), spec)  # as the peers gossip it
        deltas[POISONED] = {k: -20.0 * v for k, v in deltas[honest[0]].items()}
        ctx = RoundContext(round=round_, current_global_hash=tensors_hash(global_state), spec=dict(spec.shapes),
                           norm_bound=50.0)
        outcome = settle_round([
            Submission(peer=p, commit_index=j, base_hash=ctx.current_global_hash, sample_count=16, delta=d)
            for j, (p, d) in enumerate(deltas.items())
        ], ctx)
        new_global = apply_delta(global_state, outcome.aggregate.delta)
        reports.append([p.update(round_, global_state, new_global, outcome.verdicts, deltas) for p in personal])
        reasons.append({v.peer: v.reason for v in outcome.verdicts})
        for i, report in enumerate(reports[-1]):
            print(f"round {round_} {PEER_TOPICS[i]}: weights {report.weights} beta {report.beta} lam {report.lam} "
                  f"ppl {report.ppl}")
        global_state = new_global
    return Scenario(personal, reports, reasons, honest, data_dir, global_state)


def test_the_consensus_global_beats_the_base_model_on_every_topic(scenario: Scenario) -> None:
    for i, report in enumerate(scenario.reports[-1]):
        assert report.ppl["global"] < report.ppl["base"], (PEER_TOPICS[i], report.ppl)
    assert all(torch.isfinite(v).all() for v in scenario.final_global.values())


def test_a_delta_that_consensus_rejected_never_enters_and_restarts_reload(scenario: Scenario,
                                                                          real_model: RealModel) -> None:
    for round_, reports in enumerate(scenario.reports):
        reasons = scenario.reasons[round_]
        assert reasons[POISONED] is not Reason.ACCEPTED, reasons  # the scenario needs consensus to reject it
        for report in reports:
            assert POISONED not in report.weights and report.excluded[POISONED] == reasons[POISONED].name
            assert set(report.weights) == {p for p in scenario.honest if reasons[p] is Reason.ACCEPTED}
    for i, peer in enumerate(scenario.personal):
        restarted = Personalizer(real_model.model, real_model.spec, peer.selection, peer.held_out,
                                 scenario.data_dir / str(i), PARAMS)
        assert restarted.round == ROUNDS - 1 and restarted.state is not None and peer.state is not None
        assert all(torch.equal(restarted.state[k], peer.state[k]) for k in real_model.spec.keys)


def test_each_personal_adapter_beats_the_global_on_its_own_topic(scenario: Scenario) -> None:
    for i, report in enumerate(scenario.reports[-1]):
        ppl = report.ppl
        print(f"{PEER_TOPICS[i]}: base {ppl['base']:.2f} global {ppl['global']:.2f} personal {ppl['personal']:.2f}")
        assert ppl["personal"] < ppl["global"], (PEER_TOPICS[i], ppl)
