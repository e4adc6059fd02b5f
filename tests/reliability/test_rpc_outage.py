"""A 30 s chain RPC outage in the middle of a round, on a real local network (anvil + three node
processes): the chain is stopped right after the first commit and brought back 30 s later on the
same port with its state (anvil_dumpState, then --load-state). Every node stalls without
crashing, the round finalizes, every peer is rewarded, and no transaction was sent twice."""

from __future__ import annotations

import gzip
import json
import subprocess
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest
from rich.console import Console
from web3 import HTTPProvider, Web3

from loraswarm.scripts import localchain
from loraswarm.scripts.demo import DemoConfig, launch, local_network, stop
from loraswarm.scripts.deploy import Deployment, attach
from loraswarm.scripts.network import TaskTerms
from tests.support import wait_for_status

pytestmark = pytest.mark.e2e

OUTAGE_S = 30



def _outage(chain_dir: Path, seconds: float, during: list[subprocess.Popen[bytes]]) -> None:
    """Stop the recorded anvil, keep it down for `seconds`, start it again from its state."""
    record = localchain.read_record(chain_dir)
    dumped = Web3(HTTPProvider(record.rpc_url)).provider.make_request("anvil_dumpState", [])["result"]
    state = chain_dir / "state.json"
    state.write_bytes(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
    localchain.stop_chain(chain_dir)
    time.sleep(seconds)
    assert all(proc.poll() is None for proc in during), "a node exited while the chain was down"
    command = [*localchain._command("anvil", record.port, 1), "--load-state", str(state)]
    with (chain_dir / "chain-after-outage.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    # the new chain is the one the network's teardown stops
    (chain_dir / "chain.json").write_text(json.dumps(asdict(record) | {"pid": proc.pid}))
    deadline = time.monotonic() + 20
    while True:
        try:
            assert localchain.rpc_chain_id(record.rpc_url, timeout_s=1.0) == record.chain_id
            return
        except localchain.ChainUnreachable:
            assert time.monotonic() < deadline, "anvil did not come back"
            time.sleep(0.2)


def test_a_30_s_rpc_outage_mid_round_stalls_nodes_and_loses_nothing(tmp_path: Path) -> None:
    config = DemoConfig(peers=3, rounds=1, validators=2, steps=3, batch_size=2, seq_len=32,
                        terms=TaskTerms(commit_s=90, reveal_s=60, attest_s=60, start_delay_s=45),
                        workdir=tmp_path / "net")
    with local_network(config, Console(width=160)) as net:
        procs = {p.plan.name: launch(p, config.rounds) for p in net.peers}
        try:
            wait_for_status(net.peers[0].data_dir / "status.json", lambda s: s.round == 0 and s.committed >= 1, 300)
            _outage(net.workdir / "chain", OUTAGE_S, list(procs.values()))
            finals = [wait_for_status(p.data_dir / "status.json", lambda s: s.phase == "stopped", 400)
                      for p in net.peers]
            for proc in procs.values():
                assert proc.wait(timeout=120) == 0
        finally:
            stop(procs)
        w3 = Web3(HTTPProvider(net.rpc_url))
        coordinator = attach(Deployment.from_file(net.deployment_file), w3)["Coordinator"]

        def per_account(event: str, key: str) -> Counter[str]:
            return Counter(e["args"][key] for e in coordinator.events[event]().get_logs(from_block=0))

        addresses = {p.address for p in net.peers}
        validators = {p.address for p in net.peers if p.plan.validator}
        assert per_account("UpdateCommitted", "peer") == Counter(addresses)  # one commit each, none twice
        assert per_account("Attested", "validator") == Counter(validators)
        assert len(coordinator.events.RoundFinalized().get_logs(from_block=0)) == 1
        assert per_account("RewardClaimed", "account") == Counter(addresses)
        for final in finals:
            assert final.verdicts == {"0": "ACCEPTED"} and final.rewards > 0, final
