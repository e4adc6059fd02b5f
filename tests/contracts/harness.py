"""A deployed contract set plus the moves the tests make with it: fund, stake, create a task, walk
a round's windows, build the round's trees, and expect a revert by its custom error's name."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import requests
from eth_abi import decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import get_abi_output_types
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from harness import chaintime
from loraswarm.evm import deploy
from loraswarm.evm.compile import compile_contracts
from loraswarm.evm.tasks import TaskTerms, read_params, task_params
from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.protocol import chain

TOKEN_UNIT = 10**18
STAKE_GRANT = 10_000 * TOKEN_UNIT
PERIOD_WINDOWS = (100, 100, 100)  # commit, reveal, attest seconds
# 100 s windows, a 60 % quorum, a 1,000-token round of which validators get 10 %.
TEST_TERMS = TaskTerms(
    commit_s=PERIOD_WINDOWS[0], reveal_s=PERIOD_WINDOWS[1], attest_s=PERIOD_WINDOWS[2], quorum_bps=6_000,
    validator_bps=1_000, reward_per_round=1_000 * TOKEN_UNIT, budget=10_000 * TOKEN_UNIT,
    peer_stake=100 * TOKEN_UNIT, validator_stake=1_000 * TOKEN_UNIT, validator_slash=500 * TOKEN_UNIT,
    absence_slash=100 * TOKEN_UNIT, claim_periods=3, start_delay_s=120, phases_end_early=False)
ZERO_ADDRESS = "0x" + "00" * 20


def default_params(start: int, **overrides: Any) -> dict[str, Any]:
    """TaskParams for tests: TEST_TERMS with `overrides` (TaskTerms fields)."""
    return task_params(replace(TEST_TERMS, **overrides), start, keccak(text="task spec"), keccak(text="base model"),
                       keccak(text="global 0"))


def _error_selectors() -> dict[str, str]:
    """4-byte selector (0x-hex) -> custom error name, over every contract of the build."""
    selectors = {}
    for artifact in compile_contracts().values():
        for entry in artifact.abi:
            if entry["type"] == "error":
                signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"
                selectors["0x" + keccak(text=signature)[:4].hex()] = entry["name"]
    return selectors


def _abi_type(entry: dict[str, Any]) -> str:
    if entry["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in entry["components"]) + ")" + entry["type"][len("tuple"):]
    return str(entry["type"])


@dataclass(frozen=True)
class Outcome:
    """One round's attested tuple and the trees behind its roots; an honest peer pool is what
    the reward tree pays."""

    accepted_root: bytes
    global_hash: bytes
    rewards: StandardMerkleTree
    slashes: StandardMerkleTree
    peer_pool: int

    @property
    def args(self) -> tuple[bytes, bytes, bytes, bytes, int]:
        return (self.accepted_root, self.global_hash, self.rewards.root, self.slashes.root, self.peer_pool)

    @property
    def tuple_hash(self) -> bytes:
        return chain.tuple_hash(*self.args)


def salt_of(validator: str, round_: int) -> bytes:
    """The salt a test validator seals with (any secret would do; fixed keeps tests simple)."""
    return keccak(text=f"attestation salt {validator} {round_}")


def build_outcome(task_id: int, round_: int, rewards: Sequence[tuple[str, int]],
                  slashes: Sequence[tuple[str, int, int]], label: str = "global",
                  peer_pool: int | None = None) -> Outcome:
    """Trees for a round: reward leaves indexed in list order; an empty list gets one zero leaf
    (a tree needs a leaf; a zero reward pays nothing, a zero slash is refused). The peer pool is
    the sum of the rewards unless given."""
    reward_values = [chain.reward_leaf(task_id, round_, i, who, amount)
                     for i, (who, amount) in enumerate(rewards)]
    slash_values = [chain.slash_leaf(task_id, round_, who, amount, reason) for who, amount, reason in slashes]
    return Outcome(
        accepted_root=keccak(text=f"accepted {task_id}/{round_}/{label}"),
        global_hash=keccak(text=f"{label} {task_id}/{round_}"),
        rewards=StandardMerkleTree.of(reward_values or [chain.reward_leaf(task_id, round_, 0, ZERO_ADDRESS, 0)],
                                      chain.REWARD_LEAF_TYPES),
        slashes=StandardMerkleTree.of(slash_values or [chain.slash_leaf(task_id, round_, ZERO_ADDRESS, 0, 0)],
                                      chain.SLASH_LEAF_TYPES),
        peer_pool=sum(amount for _, amount in rewards) if peer_pool is None else peer_pool,
    )


def update_values(task_id: int, round_: int, peer: str, label: str = "delta") -> tuple[object, ...]:
    """A peer's Update for a round (wire.UPDATE_TYPE order); `label` varies its delta."""
    return (task_id, round_, to_checksum_address(peer), keccak(text=f"base {task_id}/{round_}"),
            keccak(text=f"{label} {peer} {round_}"), 2_000_000, 64, 1, keccak(text=f"salt {peer} {round_}"))


@dataclass
class Swarm:
    w3: Web3
    deployment: deploy.Deployment
    contracts: dict[str, Contract]
    errors: dict[str, str] = field(default_factory=_error_selectors)
    _session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def deploy(cls, w3: Web3, network: str = deploy.EMBEDDED, rpc_url: str | None = None) -> Swarm:
        # Test speed: these two middlewares double the cost of every call (ENS lookups of plain
        # addresses, chain-id checks) and guard nothing on a chain the test itself started.
        for name in ("ens_name_to_address", "validation"):
            w3.middleware_onion.remove(name)
        deployment = deploy.deploy_all(w3, network, rpc_url, w3.eth.accounts[0])
        return cls(w3, deployment, deploy.attach(deployment, w3))

    def read(self, calls: Sequence[tuple[Contract, str, Sequence[Any]]]) -> list[Any]:
        """Many view calls at once: one JSON-RPC batch on a testnet (web3's per-call overhead,
        not the chain, dominates hundreds of stateful steps), plain calls on eth-tester."""
        rpc_url = self.deployment.rpc_url
        if rpc_url is None:
            return [c.functions[n](*a).call() for c, n, a in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": "eth_call",
                    "params": [{"to": c.address, "data": c.encode_abi(n, args=list(a))}, "latest"]}
                   for i, (c, n, a) in enumerate(calls)]
        replies = sorted(self._session.post(rpc_url, json=payload, timeout=30).json(), key=lambda r: r["id"])
        results = []
        for (contract, name, _), reply in zip(calls, replies, strict=True):
            types = get_abi_output_types(contract.get_function_by_name(name).abi)
            values = decode(types, bytes.fromhex(reply["result"][2:]))
            results.append(values[0] if len(values) == 1 else list(values))
        return results

    @property
    def treasury(self) -> str:
        return self.deployment.deployer

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @property
    def token(self) -> Contract:
        return self.contracts[chain.TOKEN]

    @property
    def staking(self) -> Contract:
        return self.contracts[chain.STAKING]

    @property
    def coordinator(self) -> Contract:
        return self.contracts[chain.COORDINATOR]

    def send(self, call: Any, sender: str) -> Any:
        return deploy.send(self.w3, call, sender)

    def event(self, receipt: Any, name: str) -> dict[str, Any]:
        """The args of the first `name` event the coordinator emitted in a receipt."""
        logs = self.coordinator.events[name]().process_receipt(receipt, errors=DISCARD)
        return dict(logs[0]["args"])

    def error_of(self, exc: Exception) -> str:
        """The custom error's name. JSON-RPC chains give web3 the revert data (ContractCustomError);
        eth-tester only puts the bytes' repr into its message, so read them back from there."""
        if isinstance(exc, ContractCustomError):
            selector = str(exc.data)[:10]
        else:
            message = str(exc.args[0])
            data = ast.literal_eval(message.removeprefix("execution reverted: "))
            selector = "0x" + bytes(data)[:4].hex()
        return self.errors.get(selector, f"unknown error {selector}")

    @contextmanager
    def reverts(self, name: str) -> Iterator[None]:
        with pytest.raises((ContractCustomError, TransactionFailed)) as caught:
            yield
        assert self.error_of(caught.value) == name

    # -- money and registration ------------------------------------------------------------------

    def grant(self, account: str, amount: int = STAKE_GRANT) -> None:
        self.send(self.token.functions.transfer(account, amount), self.treasury)

    def stake(self, account: str, amount: int) -> None:
        self.send(self.token.functions.approve(self.staking.address, amount), account)
        self.send(self.staking.functions.stake(amount), account)

    def create_task(self, **overrides: Any) -> int:
        """A task on TEST_TERMS with `overrides` (TaskTerms fields), starting start_delay_s from now."""
        delay = replace(TEST_TERMS, **overrides).start_delay_s
        params = default_params(chaintime.now(self.w3) + delay, **overrides)
        receipt = self.send(self.coordinator.functions.createTask(params), self.treasury)
        return int(self.event(receipt, "TaskCreated")["taskId"])

    def join_peer(self, task_id: int, account: str) -> None:
        self.grant(account)
        self.stake(account, 1_000 * TOKEN_UNIT)
        self.send(self.coordinator.functions.registerPeer(task_id), account)

    def join_validator(self, task_id: int, account: str, weight: int = 1_000 * TOKEN_UNIT) -> None:
        self.grant(account, max(STAKE_GRANT, weight))
        self.stake(account, weight)
        self.send(self.coordinator.functions.registerValidator(task_id, weight), account)

    def leave(self, task_id: int, account: str) -> Any:
        return self.send(self.coordinator.functions.leave(task_id), account)

    # -- time ------------------------------------------------------------------------------------

    def windows(self, task_id: int, round_: int) -> tuple[int, int, int, int]:
        return tuple(self.coordinator.functions.roundWindows(task_id, round_).call())  # type: ignore[return-value]

    def current_round(self, task_id: int) -> int:
        return int(self.coordinator.functions.roundAt(task_id, chaintime.now(self.w3) + 1).call())

    def enter(self, task_id: int, round_: int, phase: chain.Phase) -> None:
        """Move the chain a few seconds into a phase of a round (ATTEST: its seal window; FAILED:
        just past its attest window)."""
        commit_start, commit_end, reveal_end, attest_end = self.windows(task_id, round_)
        start = {chain.Phase.COMMIT: commit_start, chain.Phase.REVEAL: commit_end,
                 chain.Phase.ATTEST: reveal_end, chain.Phase.FAILED: attest_end}[phase]
        if chaintime.now(self.w3) < start + 2:
            chaintime.travel_to(self.w3, start + 2)

    def enter_open(self, task_id: int, round_: int) -> None:
        """Move the chain into the second half of a round's attest window, where seals open."""
        _, _, reveal_end, attest_end = self.windows(task_id, round_)
        opens = chain.seal_end(reveal_end, attest_end)
        if chaintime.now(self.w3) < opens + 1:
            chaintime.travel_to(self.w3, opens + 1)

    def past_claims(self, task_id: int, round_: int) -> None:
        """Move the chain past a finalized round's claim deadline."""
        deadline = int(self.coordinator.functions.claimDeadline(task_id, round_).call())
        if chaintime.now(self.w3) < deadline:
            chaintime.travel_to(self.w3, deadline)

    # -- rounds ----------------------------------------------------------------------------------

    def commitment(self, task_id: int, round_: int, peer: str, label: str = "delta") -> bytes:
        return chain.commitment(self.chain_id, self.coordinator.address, update_values(task_id, round_, peer, label))

    def commit(self, task_id: int, round_: int, peer: str) -> bytes:
        value = self.commitment(task_id, round_, peer)
        self.send(self.coordinator.functions.commit(task_id, round_, value), peer)
        return value

    def seal(self, task_id: int, round_: int, validator: str, outcome: Outcome) -> Any:
        value = chain.attestation_seal(task_id, round_, validator, outcome.tuple_hash, salt_of(validator, round_))
        return self.send(self.coordinator.functions.sealAttestation(task_id, round_, value), validator)

    def attest(self, task_id: int, round_: int, validator: str, outcome: Outcome) -> Any:
        """Open the attestation `seal` stored."""
        call = self.coordinator.functions.attest(task_id, round_, *outcome.args, salt_of(validator, round_))
        return self.send(call, validator)

    def attest_all(self, task_id: int, round_: int, votes: Sequence[tuple[str, Outcome]]) -> list[Any]:
        """Seal every vote in the seal window, then open them in order; the receipts of the opens."""
        self.enter(task_id, round_, chain.Phase.ATTEST)
        for validator, outcome in votes:
            self.seal(task_id, round_, validator, outcome)
        self.enter_open(task_id, round_)
        return [self.attest(task_id, round_, validator, outcome) for validator, outcome in votes]

    def claim(self, task_id: int, round_: int, outcome: Outcome, index: int) -> Any:
        _, _, _, account, amount = outcome.rewards.values[index]
        proof = outcome.rewards.proof(index)
        return self.send(self.coordinator.functions.claim(task_id, round_, index, amount, proof), str(account))

    def claim_validator(self, task_id: int, round_: int, validator: str) -> Any:
        return self.send(self.coordinator.functions.claimValidator(task_id, round_), validator)

    def execute_slash(self, task_id: int, round_: int, outcome: Outcome, index: int, sender: str) -> Any:
        _, _, account, amount, reason = outcome.slashes.values[index]
        proof = outcome.slashes.proof(index)
        call = self.coordinator.functions.executeSlash(task_id, round_, account, amount, reason, proof)
        return self.send(call, sender)

    def slash_validator(self, task_id: int, round_: int, validator: str, sender: str) -> Any:
        return self.send(self.coordinator.functions.slashValidator(task_id, round_, validator), sender)

    # -- reads -----------------------------------------------------------------------------------

    def round_info(self, task_id: int, round_: int) -> tuple[int, bytes, bytes, int, int, int, bool]:
        """(status, rewardsRoot, slashRoot, peerPoolLeft, validatorPoolLeft, claimDeadline, swept)."""
        return tuple(self.coordinator.functions.roundInfo(task_id, round_).call())  # type: ignore[return-value]

    def params(self, task_id: int) -> dict[str, Any]:
        return read_params(self.coordinator, task_id)

    def budget(self, task_id: int) -> int:
        return int(self.params(task_id)["budget"])

    def slash_pool(self, task_id: int) -> int:
        return int(self.coordinator.functions.taskInfo(task_id).call()[1])

    def live_weight(self, task_id: int) -> int:
        return int(self.coordinator.functions.taskInfo(task_id).call()[2])

    def participant(self, task_id: int, account: str) -> dict[str, Any]:
        names = ("peerStake", "validatorStake", "peerFirstRoundPlusOne", "validatorFirstRoundPlusOne", "exiting",
                 "exitRound", "slashed")
        return dict(zip(names, self.coordinator.functions.participantOf(task_id, account).call(), strict=True))

    def support(self, task_id: int, round_: int, outcome: Outcome) -> tuple[int, bool]:
        return tuple(self.coordinator.functions.supportOf(task_id, round_, outcome.tuple_hash).call())  # type: ignore[return-value]

    def stake_of(self, account: str) -> int:
        return int(self.staking.functions.stakeOf(account).call())

    def balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(account).call())
