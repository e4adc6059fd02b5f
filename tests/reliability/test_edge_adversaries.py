"""The edge validator against replays, forgeries, oversize frames and a one-peer flood."""

from loraswarm.node.p2p.gossip import UPDATES_PER_SIGNER
from loraswarm.protocol.codes import Reason
from tests.reliability.adversaries import edge_attack, replays_and_forgeries


def test_every_replay_and_forgery_gets_its_reason() -> None:
    cases = replays_and_forgeries()
    # one case per defence of the gossip edge (node/p2p/gossip.py), each refused for its own reason
    assert {expected for _, _, expected in cases} == {
        Reason.STALE_ROUND, Reason.FUTURE_ROUND, Reason.WRONG_CHAIN, Reason.WRONG_TASK,
        Reason.BAD_SIGNATURE, Reason.UNREGISTERED_SENDER, Reason.OVERSIZE,
    }
    assert edge_attack(flood=0).adversary_cases == len(cases)


def test_a_flood_from_one_peer_is_refused_and_honest_updates_still_pass() -> None:
    flood = edge_attack(flood=1000)
    assert flood.honest_lost == 0 and flood.honest_sent == 2
    # the flood's junk and replays end in refusals; of its further updates a few pass (evidence of
    # equivocation must reach every validator), the rest are refused
    assert flood.verdicts[Reason.BAD_ENCODING] >= 333
    assert flood.verdicts[Reason.DUPLICATE] >= 666 - UPDATES_PER_SIGNER
    assert flood.verdicts[Reason.ACCEPTED] == UPDATES_PER_SIGNER + 2  # the flooder's first few, the honest two
