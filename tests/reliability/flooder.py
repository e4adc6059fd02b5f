"""A peer process that floods the update topic: the attacker of tests/p2p (it bypasses its own
edge checks) plus a `flood` op that publishes at a fixed rate from inside the process, since one
control-channel request per message could not reach 1,000 messages/s."""

from typing import Any

import trio

from harness.p2p.peer import main
from loraswarm.node.p2p.service import P2PService
from tests.p2p.attacker import AttackerProcess


class FloodProcess(AttackerProcess):
    def __init__(self, service: P2PService) -> None:
        super().__init__(service)
        self.ops["flood"] = self.op_flood

    async def op_flood(self, req: dict[str, Any]) -> dict[str, Any]:
        """Publish `count` messages at `rate` per second: unique junk, and every `replay_every`-th
        one a replay of `replay` (a valid envelope seen before, under a fresh gossip seqno)."""
        count, rate = int(req["count"]), float(req["rate"])
        replay, every = req.get("replay"), int(req.get("replay_every", 0))
        start = trio.current_time()
        for i in range(count):
            data = replay if replay and every and i % every == 0 else f'{{"junk":{i}}}'.encode().hex()
            await self.op_inject({"data": data})
            await trio.sleep_until(start + (i + 1) / rate)
        return {"sent": count, "seconds": trio.current_time() - start}


if __name__ == "__main__":
    main(process_type=FloodProcess)
