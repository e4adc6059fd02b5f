"""The service in-process: own announcements get the same edge verdict as everyone else's."""

import os

import pytest
import trio

from loraswarm.node.p2p.envelope import Update
from loraswarm.node.p2p.errors import PublishRefused
from loraswarm.node.p2p.keys import new_identity
from loraswarm.node.p2p.service import P2PConfig, P2PService
from loraswarm.protocol.codes import Reason
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID


def test_own_announcements_are_judged_and_delivered_locally(tmp_path):
    identity = new_identity()

    def update(round: int) -> Update:
        return Update(TASK_ID, round, identity.address, bytes(32), os.urandom(32), 1, 1, 0, os.urandom(32))

    async def main() -> None:
        service = P2PService(identity, P2PConfig(CHAIN_ID, COORDINATOR, TASK_ID, tmp_path),
                             {identity.address}.__contains__)
        async with service.run():
            sent = await service.announce(update(0))
            with trio.fail_after(5):
                received = await service.received.receive()
            assert received.envelope == sent and received.origin == identity.peer_id
            with pytest.raises(PublishRefused) as refused:
                await service.publish(sent)  # the same update again
            assert refused.value.reason == Reason.DUPLICATE
            with pytest.raises(PublishRefused) as refused:
                await service.announce(update(5))
            assert refused.value.reason == Reason.FUTURE_ROUND

    trio.run(main)
