"""What gets paid has one source: the node's round result document and the economics simulation
build their reward and slash roots from the same settlement through the same tree builder, and
the document's hash does not depend on the order in which peers committed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.sim.run import outcome_tuple
from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.node.round_result import RoundResult, VerdictRow
from loraswarm.protocol.codes import Reason

TASK, ROUND = 3, 7
GLOBAL = "0x" + "ab" * 32
PEERS = [f"0x{i:040x}" for i in range(1, 13)]
outcome_lists = st.lists(
    st.tuples(st.sampled_from(PEERS), st.sampled_from(list(Reason)), st.integers(0, 5_000),
              st.floats(-1.0, 1.0)), min_size=1, max_size=12, unique_by=lambda o: o[0],
).map(lambda rows: [PeerOutcome(*row) for row in rows])


@settings(max_examples=60, deadline=None)
@given(outcomes=outcome_lists, pool=st.integers(0, 10**24), stake=st.integers(0, 10**21))
def test_node_and_simulation_attest_the_same_reward_and_slash_roots(outcomes: list[PeerOutcome], pool: int,
                                                                   stake: int) -> None:
    stakes = {o.peer: stake for o in outcomes}
    settlement = settle(pool, outcomes, stakes, IncentiveParams())
    node = RoundResult.of(TASK, ROUND, GLOBAL, [VerdictRow(o.peer, int(o.reason)) for o in outcomes], settlement)
    simulated, _ = outcome_tuple(TASK, ROUND, pool, outcomes, bytes.fromhex(GLOBAL[2:]), stakes, IncentiveParams())
    _, _, rewards_root, slash_root, peer_pool = node.roots()
    assert (rewards_root, slash_root, peer_pool) == simulated[2:]
    # the attested document does not depend on the commit order
    again = RoundResult.of(TASK, ROUND, GLOBAL, [VerdictRow(o.peer, int(o.reason)) for o in reversed(outcomes)],
                           settlement)
    assert again.roots() == node.roots()
