"""The node's chain reads against an endpoint that caps eth_getLogs ranges, as public RPC providers
do (10,000 blocks or fewer): on anvil, a task whose registrations and commits lie thousands of
blocks behind the head. Reading from the deployment block in one request worked on a local chain
and, on a public one, stopped every node for good a few hours (on a fast L2, minutes) after the
deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.middleware import Web3Middleware

from loraswarm.evm import deploy
from loraswarm.evm.compile import compile_contracts
from loraswarm.evm.logs import LOG_RANGE_BLOCKS
from loraswarm.node.chain.client import ChainClient
from loraswarm.node.chain.reverts import error_selectors
from loraswarm.node.chain.task import TaskChain
from loraswarm.node.state.store import StateStore
from loraswarm.protocol import chain
from tests.contracts.conftest import anvil_swarm
from tests.node.test_protocol_on_chain import dev_key

pytestmark = pytest.mark.e2e
CAP = 2_500  # a provider's limit, blocks per eth_getLogs (anvil mines about 1,000 blocks a second)


class RangeCapped(Web3Middleware):
    """What a provider answers to a wider eth_getLogs: a refusal. With ``lag``, its log index is
    that many blocks behind the head it reports (load-balanced providers' backends): logs of the
    newest blocks are missing from the answer."""

    lag = 0

    def request_processor(self, method: str, params: Any) -> Any:
        if method == "eth_getLogs":
            query = dict(params[0])
            head = self._w3.eth.block_number
            first, last = (head if query.get(end, "latest") == "latest" else int(query[end], 16)
                           for end in ("fromBlock", "toBlock"))
            if last - first + 1 > CAP:
                raise ValueError(f"eth_getLogs over {last - first + 1} blocks: the limit is {CAP}")
            query["toBlock"] = hex(min(last, head - RangeCapped.lag))
            return method, [query]
        return method, params


def _mine(w3: Web3, blocks: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks), hex(0)])  # type: ignore[arg-type]


def test_the_nodes_log_reads_stay_within_a_providers_block_range(tmp_path: Path) -> None:
    assert LOG_RANGE_BLOCKS <= CAP
    with anvil_swarm(tmp_path / "chain") as swarm:
        task = swarm.create_task()
        peer, late, validator = dev_key(1), dev_key(2), dev_key(3)
        swarm.join_peer(task, peer.address)
        swarm.join_validator(task, validator.address)
        _mine(swarm.w3, CAP)
        swarm.enter(task, 0, chain.Phase.COMMIT)
        swarm.commit(task, 0, peer.address)
        _mine(swarm.w3, 10)

        assert swarm.deployment.rpc_url is not None
        capped = Web3(HTTPProvider(swarm.deployment.rpc_url))
        capped.middleware_onion.add(RangeCapped)
        contracts = deploy.attach(swarm.deployment, capped)
        with pytest.raises(ValueError, match="the limit is"):  # the endpoint's cap is real
            contracts["Coordinator"].events.PeerRegistered().get_logs(from_block=0)
        client = ChainClient(capped, validator, StateStore(tmp_path / "state.sqlite"),
                             error_selectors(a.abi for a in compile_contracts().values()))
        reads = TaskChain(client, contracts, task, swarm.deployment.block)
        assert reads.registered() == ([peer.address], [validator.address])
        assert [c.peer for c in reads.commits(0)] == [peer.address]
        assert reads.revealed(0) == {}
        assert reads.finalized_rounds() == [] and reads.finalized_tuple(0) is None

        # Read on from where it stopped: a later registration is seen, the earlier ones kept; one
        # the endpoint's lagging log index left out of a read is read again (a cursor that moved
        # past it lost it for good).
        swarm.join_peer(task, late.address)
        RangeCapped.lag = 1
        try:
            assert reads.registered() == ([peer.address], [validator.address])
        finally:
            RangeCapped.lag = 0
        _mine(swarm.w3, 3)
        assert reads.registered() == ([peer.address, late.address], [validator.address])
