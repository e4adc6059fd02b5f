"""The simulation's hands on the chain: deploy the real contracts, fund and register accounts,
move chain time, send the round's transactions and log their gas.

Works on the embedded chain (web3's EthereumTesterProvider) and on any local dev chain that
speaks the evm_* RPC (anvil, hardhat). Transactions are signed locally with per-account keys
derived from a seed, so the number of simulated accounts is not limited by the chain's
unlocked development accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError

from harness import chaintime
from loraswarm.evm.deploy import Deployment, attach, deploy_all
from loraswarm.evm.tasks import TaskTerms, read_params, task_params
from loraswarm.protocol.chain import COORDINATOR, STAKING, TOKEN, RoundStatus

UNIT = 10**18  # one whole token in its smallest unit (token amounts in TaskTerms are in it)
GAS_LIMIT = 3_000_000
# Dev chains start near 1 gwei and fall with empty blocks: a fixed cap avoids a fee query per tx.
MAX_FEE_WEI = 50 * 10**9
ETH_PER_ACCOUNT = 10**18  # gas money; token amounts are what the economics measure


class TxReverted(Exception):
    """A simulated transaction reverted (the message names the call)."""


# The coordinator task the simulation runs: long windows (the simulation moves chain time itself),
# fixed windows, a 2/3 quorum, and 20 % of each round's pool for the validators that attested the final tuple.
SIM_TERMS = TaskTerms(commit_s=600, reveal_s=600, attest_s=600, quorum_bps=6_667, validator_bps=2_000,
                      reward_per_round=200 * UNIT, budget=1_000_000 * UNIT, peer_stake=1_000 * UNIT,
                      validator_stake=5_000 * UNIT, validator_slash=1_000 * UNIT, absence_slash=250 * UNIT,
                      phases_end_early=False)


@dataclass(frozen=True)
class GasRecord:
    round_id: int
    kind: str
    gas: int


@dataclass
class SimChain:
    w3: Web3
    chain_id: int
    funder: str
    token: Contract
    staking: Contract
    coordinator: Contract
    deployment: Deployment | None = None  # what `loraswarm ledger` needs to read this chain
    accounts: dict[str, LocalAccount] = field(default_factory=dict)
    gas: list[GasRecord] = field(default_factory=list)
    _nonces: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ plumbing

    def send(self, sender: str, call: ContractFunction, round_id: int = -1, kind: str = "") -> dict[str, Any]:
        """Sign and send one call from a simulated account; raise TxReverted if it reverts."""
        account = self.accounts[sender]
        nonce = self._nonces.get(sender, 0)
        tx = call.build_transaction({
            "from": sender, "nonce": nonce, "gas": GAS_LIMIT, "chainId": self.chain_id,
            "maxFeePerGas": MAX_FEE_WEI, "maxPriorityFeePerGas": 1,
        })
        signed = account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction), poll_latency=0.005
        )
        self._nonces[sender] = nonce + 1
        if receipt["status"] != 1:
            raise TxReverted(f"{call.fn_name} from {sender} reverted in block {receipt['blockNumber']}: "
                             f"{self._revert_reason(call, sender, receipt['blockNumber'] - 1)}")
        if kind:
            self.gas.append(GasRecord(round_id, kind, int(receipt["gasUsed"])))
        return receipt

    def _revert_reason(self, call: ContractFunction, sender: str, block: int) -> str:
        """Replay a reverted call on the state before its block, for the error's message."""
        try:
            call.call({"from": sender}, block_identifier=block)
        except Exception as exc:  # the revert itself is what we want to show, whatever its type
            return repr(exc)[:300]
        return "the call succeeds on the previous block's state (a timing or ordering problem)"

    def would_succeed(self, sender: str, call: ContractFunction) -> bool:
        """Whether ``call`` from ``sender`` would go through on the latest state (an eth_call)."""
        try:
            call.call({"from": sender})
        except (ContractLogicError, TransactionFailed):
            return False
        return True

    def warp(self, timestamp: int) -> None:
        """Move chain time forward to ``timestamp`` (never back)."""
        if timestamp > chaintime.now(self.w3):
            chaintime.travel_to(self.w3, timestamp)

    def relabel_last(self, kind: str) -> None:
        """Re-file the last gas record under ``kind`` (an attestation that turned out to finalize)."""
        last = self.gas.pop()
        self.gas.append(GasRecord(last.round_id, kind, last.gas))

    # ------------------------------------------------------------------ accounts

    def new_accounts(self, seed: bytes, count: int) -> list[str]:
        """Create, fund with gas money and register keys for ``count`` fresh accounts."""
        made = []
        for i in range(count):
            account = Account.from_key(keccak(seed + i.to_bytes(4, "big")))
            self.accounts[account.address] = account
            self.w3.eth.send_transaction({"from": self.funder, "to": account.address, "value": ETH_PER_ACCOUNT})
            made.append(account.address)
        return made

    def give_tokens(self, to: str, amount: int) -> None:
        self.token.functions.transfer(to, amount).transact({"from": self.funder})

    def stake(self, who: str, amount: int) -> None:
        self.send(who, self.token.functions.approve(self.staking.address, amount))
        self.send(who, self.staking.functions.stake(amount))

    def wealth(self, who: str) -> int:
        """Tokens the account holds plus its stake in escrow: rewards add to it, slashes take."""
        return int(self.token.functions.balanceOf(who).call()) + int(self.staking.functions.stakeOf(who).call())

    # ------------------------------------------------------------------ tasks

    def create_task(self, terms: TaskTerms, global_hash: bytes) -> int:
        """Create a task funded from the coordinator's reserve (deploy_all filled it). It starts a
        period from now, so that the accounts that join meanwhile take part from round 0 (a
        validator that registers during a round sits that round out)."""
        start = chaintime.now(self.w3) + terms.period_s
        params = task_params(terms, start, keccak(b"simulated task"), b"\x01" * 32, global_hash, rule=0)
        self.coordinator.functions.createTask(params).transact({"from": self.funder})
        return int(self.coordinator.functions.taskCount().call())

    def join(self, task_id: int, peers: Sequence[str], validators: Sequence[str], terms: TaskTerms) -> None:
        for peer in peers:
            self.give_tokens(peer, terms.peer_stake)
            self.stake(peer, terms.peer_stake)
            self.send(peer, self.coordinator.functions.registerPeer(task_id))
        for validator in validators:
            self.give_tokens(validator, terms.validator_stake)
            self.stake(validator, terms.validator_stake)
            self.send(validator, self.coordinator.functions.registerValidator(task_id, terms.validator_stake))

    def windows(self, task_id: int, round_id: int) -> tuple[int, int, int, int]:
        return tuple(int(x) for x in self.coordinator.functions.roundWindows(task_id, round_id).call())

    def locked_stake(self, task_id: int, who: str) -> int:
        """Peer plus validator stake the account has locked in the task."""
        peer, validator, *_ = self.coordinator.functions.participantOf(task_id, who).call()
        return int(peer) + int(validator)

    def validator_stake(self, task_id: int, who: str) -> int:
        return int(self.coordinator.functions.participantOf(task_id, who).call()[1])

    def available(self, task_id: int) -> int:
        """What a round finalized now could pay out: min(rewardPerRound, budget) + slashPool."""
        params = read_params(self.coordinator, task_id)
        slash_pool = int(self.coordinator.functions.taskInfo(task_id).call()[1])
        return min(int(params["rewardPerRound"]), int(params["budget"])) + slash_pool

    def is_finalized(self, task_id: int, round_id: int) -> bool:
        status = int(self.coordinator.functions.roundInfo(task_id, round_id).call()[0])
        return status == RoundStatus.FINALIZED


def open_sim_chain(w3: Web3, network: str, rpc_url: str | None) -> SimChain:
    """Deploy the project's contract set with the project's deploy script; the first unlocked
    account (the treasury) funds everything."""
    funder = w3.eth.accounts[0]
    deployment = deploy_all(w3, network, rpc_url, funder)
    contracts = attach(deployment, w3)
    return SimChain(w3, int(w3.eth.chain_id), funder, contracts[TOKEN], contracts[STAKING], contracts[COORDINATOR],
                    deployment)
