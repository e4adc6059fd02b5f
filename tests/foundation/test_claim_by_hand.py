"""`loraswarm claim` by hand, on anvil: a peer whose node settled a round but did not claim (it
stopped, say) claims its reward with the Merkle proof from the round's result document in its data
dir; the command says what it does, shows the balances before and after and the transaction hash,
and the tokens arrive. Claimed once, the round has nothing left for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_utils import keccak

from loraswarm.evm import deploy
from loraswarm.node.keys import write_key
from loraswarm.node.round_result import RoundResult, VerdictRow
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.taskspec import TaskSpec
from tests.contracts.conftest import anvil_swarm
from tests.contracts.harness import TOKEN_UNIT
from tests.node.test_protocol_on_chain import dev_key
from tests.support import run_cli

pytestmark = pytest.mark.e2e
PASSWORD = "claim-pw"
REWARD = 7 * TOKEN_UNIT


@dataclass(frozen=True)
class Attested:
    """What validators seal and open: the roots of a result document (Swarm.attest_all's outcome)."""

    args: tuple[bytes, bytes, bytes, bytes, int]

    @property
    def tuple_hash(self) -> bytes:
        return chain.tuple_hash(*self.args)


def test_a_peer_claims_its_reward_by_hand_from_the_result_document(tmp_path: Path) -> None:
    with anvil_swarm(tmp_path / "chain") as swarm:
        task = swarm.create_task()
        peer, other, validators = dev_key(1), dev_key(2), [dev_key(3), dev_key(4)]
        for account in (peer, other):
            swarm.join_peer(task, account.address)
        for validator in validators:
            swarm.join_validator(task, validator.address)
        swarm.enter(task, 0, chain.Phase.COMMIT)
        for account in (peer, other):
            swarm.commit(task, 0, account.address)
        result = RoundResult(task, 0, "0x" + keccak(text="global").hex(),
                             (VerdictRow(peer.address, int(Reason.ACCEPTED)),
                              VerdictRow(other.address, int(Reason.NOT_REVEALED))),
                             ((peer.address, REWARD),), ((other.address, TOKEN_UNIT, int(Reason.NOT_REVEALED)),))
        swarm.attest_all(task, 0, [(v.address, Attested(result.roots())) for v in validators])  # type: ignore[misc]

        # The node's files: its key, config, the operator's deployment and task files, the result.
        keystore = write_key(peer, tmp_path / "keys", PASSWORD, kdf="pbkdf2").path
        deploy.write_deployment(swarm.deployment, tmp_path / "deployment.json", force=False)
        TaskSpec(task_id=task).write(tmp_path / "task.json")
        (tmp_path / "data" / "results").mkdir(parents=True)
        (tmp_path / "data" / "results" / "0.json").write_bytes(result.encode())
        (tmp_path / "peer.toml").write_text(
            f'[node]\nname = "p"\ndata_dir = "data"\n[keys]\nkeystore = "{keystore}"\n'
            f'[chain]\ndeployment = "deployment.json"\ntask_file = "task.json"\n'
            f'rpc_url = "{swarm.deployment.rpc_url}"\n')

        before = int(swarm.token.functions.balanceOf(peer.address).call())
        done = run_cli("claim", "--config", "peer.toml", cwd=tmp_path, env={"LORASWARM_PASSWORD": PASSWORD})
        assert done.returncode == 0, done.stderr
        shown = " ".join(done.stdout.split())
        assert f"claim 1 reward(s) of task {task} for {peer.address}" in shown, shown
        assert "claim the round-0 reward of 7 LSW" in shown and "sent: claim the round-0 reward" in shown, shown
        assert re.search(r"tx 0x[0-9a-f]{64}", shown), shown
        assert int(swarm.token.functions.balanceOf(peer.address).call()) == before + REWARD

        again = run_cli("claim", "--config", "peer.toml", cwd=tmp_path, env={"LORASWARM_PASSWORD": PASSWORD})
        assert int(swarm.token.functions.balanceOf(peer.address).call()) == before + REWARD
        assert again.returncode != 0 and again.stderr == (
            f"error: nothing to claim for {peer.address} in task {task}, rounds 0: all claimed, or no reward\n")
