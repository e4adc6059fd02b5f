"""A task's on-chain terms and the one place that turns them into Coordinator.createTask
parameters (the CLI, the demo, the simulation, the contract tests and the gas benchmark all
create tasks through ``task_params``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from loraswarm.evm.deploy import Deployment, attach, send
from loraswarm.protocol.chain import COORDINATOR
from loraswarm.protocol.rules import DEFAULT_RULE
from loraswarm.protocol.taskspec import TaskSpec

TOKEN = 10**18  # one whole reward token in its smallest unit


@dataclass(frozen=True)
class TaskTerms:
    """Timing, quorum and money of a task (token amounts in the token's smallest unit)."""

    commit_s: int = 150
    reveal_s: int = 20
    attest_s: int = 40
    quorum_bps: int = 6_000
    # Share of each round's available pool paid to the validators that attested the final tuple.
    validator_bps: int = 1_000
    reward_per_round: int = 1_000 * TOKEN
    budget: int = 100_000 * TOKEN
    peer_stake: int = 100 * TOKEN
    validator_stake: int = 1_000 * TOKEN
    validator_slash: int = 200 * TOKEN  # a dissenting validator loses this (capped at its stake)
    absence_slash: int = 50 * TOKEN  # a validator that did not attest loses this and is ejected
    # Claims of a round end this many round periods after its attest window (at least one: the
    # coordinator sweeps nothing before the next round's slashes are in).
    claim_periods: int = 10
    start_delay_s: int = 60
    # A phase also ends once everyone it waits for has acted (the windows stay upper bounds for
    # the slow and the absent); False keeps every window at its full length.
    phases_end_early: bool = True

    @property
    def period_s(self) -> int:
        return self.commit_s + self.reveal_s + self.attest_s

    @property
    def claim_window_s(self) -> int:
        return self.claim_periods * self.period_s


def task_params(terms: TaskTerms, start: int, spec_hash: bytes, base_model_hash: bytes, initial_global: bytes,
                rule: int = DEFAULT_RULE) -> dict[str, Any]:
    """Coordinator.TaskParams for a task starting at ``start`` (a Unix time; a past one starts it
    at once)."""
    return {
        "specHash": spec_hash,
        "baseModelHash": base_model_hash,
        "initialGlobalHash": initial_global,
        "aggregationRule": int(rule),
        "quorumBps": terms.quorum_bps,
        "validatorBps": terms.validator_bps,
        "startTime": start,
        "commitWindow": terms.commit_s,
        "revealWindow": terms.reveal_s,
        "attestWindow": terms.attest_s,
        "claimWindow": terms.claim_window_s,
        "rewardPerRound": terms.reward_per_round,
        "minPeerStake": terms.peer_stake,
        "minValidatorStake": terms.validator_stake,
        "validatorSlash": terms.validator_slash,
        "absenceSlash": terms.absence_slash,
        "budget": terms.budget,
        "phasesEndEarly": terms.phases_end_early,
    }


def read_params(coordinator: Contract, task_id: int) -> dict[str, Any]:
    """The task's TaskParams as Coordinator.taskInfo returns them (``budget``: what is left),
    by field name."""
    outputs = coordinator.get_function_by_name("taskInfo").abi["outputs"]
    names = [component["name"] for component in outputs[0]["components"]]
    return dict(zip(names, coordinator.functions.taskInfo(task_id).call()[0], strict=True))


def spec_hash_bytes(spec: TaskSpec) -> bytes:
    """The task file's hash as the chain fixes it (TaskParams.specHash)."""
    return bytes.fromhex(spec.spec_hash()[2:])


def create_task(w3: Web3, deployment: Deployment, owner: str, spec: TaskSpec, terms: TaskTerms,
                model_hash: str, initial_global: str) -> int:
    """Create the task ``spec`` describes (its id must be the next one), starting
    ``terms.start_delay_s`` from now; returns the task id."""
    coordinator = attach(deployment, w3)[COORDINATOR]
    start = int(max(time.time(), w3.eth.get_block("latest")["timestamp"])) + terms.start_delay_s
    params = task_params(terms, start, spec_hash_bytes(spec), bytes.fromhex(model_hash[2:]),
                         bytes.fromhex(initial_global[2:]))
    send(w3, coordinator.functions.createTask(params), owner)
    task_id = int(coordinator.functions.taskCount().call())
    if task_id != spec.task_id:
        raise ValueError(f"the chain made task {task_id}, the spec says {spec.task_id}")
    return task_id
