"""Gas of the coordinator's per-round calls against the number of registered peers.

    python benchmarks/gas.py [--quick]

For each N, on a fresh task of one anvil chain: N peers stake, register, commit and reveal; four
validators (1,000, 1,000, 500 and 500 of stake, quorum 60 %) take part: the first two seal and
open the honest outcome (the second opening reaches quorum), the third seals and opens another
tuple, the fourth never seals. The reward tree has a leaf per peer. Then a sample of peers claim,
the two honest validators claim their share, a slash leaf is executed, the dissenter and the
absent validator are slashed and a peer's equivocation is reported. Every measured figure is the
gasUsed of a real transaction's receipt; setup transactions go out as JSON-RPC batches (web3's
per-call overhead would dominate at N=1024).

Every size runs twice: on a task with fixed windows and on one whose phases end early
(TaskParams.phasesEndEarly: the last commit and the last seal of a phase end it, `startRound`
starts the next round once the round before is finalized); each key is the worst of the two, and
`early_ends` lists the early task's own figures. Each key is measured on its most expensive path:
- commit_gas: max over all commits (each peer's first; later ones cost the same; the one that ends
  the window early; and the worst of all, a lone peer's commit that both starts a round early and
  ends its commit window); reveal_gas: max over all reveals (each checks the update's EIP-712
  digest against the commitment; reveals end nothing: the reveal window runs its full length);
- seal_gas: a seal (two fresh slots: the seal and its weight); open_gas: the first, non-final
  opening (a fresh support slot); attest_gas = seal + open;
- finalize_gas: the opening that reaches quorum after another opening; finalize_solo_gas: the
  opening of a validator that reaches quorum alone (its tuple's support slot is fresh too: the
  worst finalization), measured at the largest N;
- claim_gas: max over the first claims and the deepest proofs, to accounts whose token balance is
  zero (peers stake all they were given): a fresh balance slot, the worst claim;
- claim_validator_gas, execute_slash_gas, slash_validator_gas (max of dissent and absence, the
  latter ejects the validator), report_equivocation_gas: each pays its amount or bounty to an
  account whose token balance is zero.

Ends with one JSON line: the keys above (per N where it matters), finalize_ratio (largest N / 4)
and claim_gas_max (claim_gas at the largest N).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness/ and tests/ live in the source tree

import requests
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from harness import chaintime
from loraswarm.evm import deploy, localchain
from loraswarm.evm.tasks import TaskTerms, task_params
from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason

SIZES = (4, 16, 64, 256, 1024)
QUICK_SIZES = (4, 16, 64)
PORTS = range(8600, 8650)
UNIT = 10**18
BATCH = 200
TX_GAS = 1_000_000  # explicit gas: no estimate round trip; receipts report what was used
TARGETS = {"commit_gas": 50_000, "finalize_gas_max": 150_000, "finalize_ratio": 1.05, "claim_gas_max": 80_000}
TERMS = TaskTerms(commit_s=600, reveal_s=600, attest_s=600, quorum_bps=6_000, validator_bps=1_000,
                  reward_per_round=1_000 * UNIT, budget=100_000 * UNIT, peer_stake=100 * UNIT,
                  validator_stake=500 * UNIT, validator_slash=100 * UNIT, absence_slash=50 * UNIT)
VALIDATOR_STAKES = (1_000 * UNIT, 1_000 * UNIT, 500 * UNIT, 500 * UNIT)  # honest, honest, dissenter, absent


class Rpc:
    """Raw JSON-RPC to the test chain: sends from impersonated accounts, in batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        results: list[Any] = []
        for start in range(0, len(calls), BATCH):
            chunk = calls[start:start + BATCH]
            payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(chunk)]
            replies = sorted(self.session.post(self.url, json=payload, timeout=120).json(), key=lambda r: r["id"])
            for reply in replies:
                if "error" in reply:
                    raise RuntimeError(f"RPC error: {reply['error']}")
                results.append(reply["result"])
        return results

    def txs(self, sends: list[tuple[str, Contract, str, list[Any]]]) -> list[int]:
        """Send (sender, contract, function, args) and return each one's gas used. anvil runs a
        batch's requests concurrently, so nonces are explicit and the caller only batches
        transactions that do not depend on each other across senders."""
        senders = sorted({sender for sender, *_ in sends})
        counts = self.batch([("eth_getTransactionCount", [s, "pending"]) for s in senders])
        nonces = {s: int(c, 16) for s, c in zip(senders, counts, strict=True)}
        requests_ = []
        for sender, contract, fn, args in sends:
            tx = {"from": sender, "to": contract.address, "gas": hex(TX_GAS), "nonce": hex(nonces[sender]),
                  "data": contract.encode_abi(fn, args=args)}
            nonces[sender] += 1
            requests_.append(("eth_sendTransaction", [tx]))
        hashes = self.batch(requests_)
        receipts = self.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for _ in range(200):  # anvil may still be mining the batch's last blocks
            if all(receipts):
                break
            time.sleep(0.05)
            receipts = self.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for (_, _, fn, _), receipt in zip(sends, receipts, strict=True):
            if receipt is None or int(receipt["status"], 16) != 1:
                raise RuntimeError(f"{fn} failed: {receipt}")
        return [int(r["gasUsed"], 16) for r in receipts]


def key(n: int, i: int) -> bytes:
    return keccak(text=f"gas bench {n} {i}")


def account(n: int, i: int) -> str:
    """Accounts are impersonated to send; peers' keys also sign their updates."""
    return to_checksum_address(Account.from_key(key(n, i)).address)


def update(task: int, round_: int, peer: str, label: str) -> tuple[object, ...]:
    return (task, round_, peer, keccak(text="base"), keccak(text=f"{label} {peer}"), 2_000_000, 64, 1,
            keccak(text=f"salt {peer}"))


class Bench:
    def __init__(self, w3: Web3, rpc: Rpc, contracts: dict[str, Contract], treasury: str) -> None:
        self.w3, self.rpc, self.treasury = w3, rpc, treasury
        self.token, self.staking, self.coordinator = (contracts[k] for k in (chain.TOKEN, chain.STAKING,
                                                                             chain.COORDINATOR))

    def create_task(self, stakes: dict[str, int], peers: list[str], validators: list[str], early: bool) -> int:
        """A task starting in a minute, its participants funded with exactly their stake (so that
        their token balance is zero) and registered."""
        coordinator = self.coordinator
        params = task_params(replace(TERMS, phases_end_early=early), chaintime.now(self.w3) + 60,
                             keccak(text="spec"), keccak(text="base"), keccak(text="g0"))
        self.rpc.txs([(self.treasury, coordinator, "createTask", [params])])
        task = int(coordinator.functions.taskCount().call())
        everyone = list(stakes)
        self.rpc.batch([("anvil_setBalance", [a, hex(10**20)]) for a in everyone])
        # One phase per dependency level: an account approves only once it holds its grant, and so on.
        self.rpc.txs([(self.treasury, self.token, "transfer", [who, stakes[who]]) for who in everyone])
        self.rpc.txs([(who, self.token, "approve", [self.staking.address, stakes[who]]) for who in everyone])
        self.rpc.txs([(who, self.staking, "stake", [stakes[who]]) for who in everyone])
        self.rpc.txs([(who, coordinator, "registerPeer", [task]) for who in peers]
                     + [(who, coordinator, "registerValidator", [task, stakes[who]]) for who in validators])
        return task

    def seal(self, task: int, outcome: list[Any], validators: list[str]) -> tuple[list[bytes], list[int]]:
        salts = [keccak(text=f"salt {v}") for v in validators]
        gas = self.rpc.txs([(v, self.coordinator, "sealAttestation",
                             [task, 0, chain.attestation_seal(task, 0, v, chain.tuple_hash(*outcome), salt)])
                            for v, salt in zip(validators, salts, strict=True)])
        return salts, gas

    def enter_open(self, task: int) -> None:
        seal_end = int(self.coordinator.functions.sealEnd(task, 0).call())
        chaintime.travel_to(self.w3, max(seal_end, chaintime.now(self.w3)) + 1)

    def measure(self, n: int, early: bool) -> dict[str, Any]:
        coordinator = self.coordinator
        salt = n + (10_000 if early else 0)  # fresh accounts per run
        peers = [account(salt, i) for i in range(n)]
        validators = [account(salt, -i - 1) for i in range(len(VALIDATOR_STAKES))]
        # Who executes each slash or report: an account without tokens before its bounty.
        keepers = [account(salt, -100 - i) for i in range(4)]
        stakes = {p: TERMS.peer_stake for p in peers} | dict(zip(validators, VALIDATOR_STAKES, strict=True))
        task = self.create_task(stakes, peers, validators, early)
        self.rpc.batch([("anvil_setBalance", [keeper, hex(10**20)]) for keeper in keepers])
        chain_id = int(self.w3.eth.chain_id)

        commit_start = coordinator.functions.roundWindows(task, 0).call()[0]
        chaintime.travel_to(self.w3, commit_start + 1)
        commits = [chain.commitment(chain_id, coordinator.address, update(task, 0, p, "delta")) for p in peers]
        commit_gas = self.rpc.txs([(p, coordinator, "commit", [task, 0, c]) for p, c in zip(peers, commits,
                                                                                            strict=True)])
        chaintime.travel_to(self.w3, coordinator.functions.roundWindows(task, 0).call()[1] + 1)
        reveal_gas = self.rpc.txs([(p, coordinator, "reveal", [update(task, 0, p, "delta")]) for p in peers])
        reveal_end = coordinator.functions.roundWindows(task, 0).call()[2]

        share = 900 * UNIT // n  # the peer pool: what is available (1,000) less the validators' 10 %
        rewards = StandardMerkleTree.of([chain.reward_leaf(task, 0, i, p, share) for i, p in enumerate(peers)],
                                        chain.REWARD_LEAF_TYPES)
        slashes = StandardMerkleTree.of([chain.slash_leaf(task, 0, p, 10 * UNIT, Reason.NOT_REVEALED) for p in peers],
                                        chain.SLASH_LEAF_TYPES)
        honest = [keccak(text=f"accepted {n}"), keccak(text=f"global {n}"), rewards.root, slashes.root, share * n]
        other = [keccak(text=f"other {n}"), *honest[1:]]
        chaintime.travel_to(self.w3, max(reveal_end, chaintime.now(self.w3)) + 1)
        salts, seal_gas = self.seal(task, honest, validators[:2])
        [dissent_salt], _ = self.seal(task, other, validators[2:3])
        self.enter_open(task)
        [open_gas] = self.rpc.txs([(validators[0], coordinator, "attest", [task, 0, *honest, salts[0]])])
        self.rpc.txs([(validators[2], coordinator, "attest", [task, 0, *other, dissent_salt])])
        [finalize_gas] = self.rpc.txs([(validators[1], coordinator, "attest", [task, 0, *honest, salts[1]])])
        assert coordinator.functions.roundInfo(task, 0).call()[0] == chain.RoundStatus.FINALIZED
        start_round_gas = 0
        if early:  # a validator starts the next round at once
            [start_round_gas] = self.rpc.txs([(validators[1], coordinator, "startRound", [task, 1])])
            assert coordinator.functions.roundWindows(task, 1).call()[0] <= chaintime.now(self.w3)

        # First claims of the round and the leaves with the longest proofs.
        depth = max(len(rewards.proof(i)) for i in range(n))
        deepest = [i for i in range(n) if len(rewards.proof(i)) == depth][:8]
        sample = sorted(set(range(min(n, 8))) | set(deepest))
        claim_gas = self.rpc.txs([(peers[i], coordinator, "claim", [task, 0, i, share, rewards.proof(i)])
                                  for i in sample])
        claim_validator_gas = self.rpc.txs([(v, coordinator, "claimValidator", [task, 0]) for v in validators[:2]])
        [execute_slash_gas] = self.rpc.txs([(keepers[0], coordinator, "executeSlash",
                                             [task, 0, peers[-1], 10 * UNIT, Reason.NOT_REVEALED,
                                              slashes.proof(n - 1)])])
        signed = [Account.from_key(key(salt, 0)).unsafe_sign_hash(
            chain.commitment(chain_id, coordinator.address, update(task, 0, peers[0], label))).signature
            for label in ("delta", "other delta")]
        [report_gas] = self.rpc.txs([(keepers[1], coordinator, "reportEquivocation",
                                      [update(task, 0, peers[0], "delta"), signed[0],
                                       update(task, 0, peers[0], "other delta"), signed[1]])])
        slash_validator_gas = self.rpc.txs([(keeper, coordinator, "slashValidator", [task, 0, v])
                                            for keeper, v in zip(keepers[2:], validators[2:], strict=True)])
        return {"n": n, "commit": max(commit_gas), "reveal": max(reveal_gas), "seal": max(seal_gas), "open": open_gas,
                "attest": max(seal_gas) + open_gas, "finalize": finalize_gas, "claim": max(claim_gas),
                "claim_validator": max(claim_validator_gas), "execute_slash": execute_slash_gas,
                "slash_validator": max(slash_validator_gas), "report_equivocation": report_gas,
                "start_round": start_round_gas, "proof_depth": depth}

    def finalize_solo(self, n: int, early: bool) -> int:
        """The finalizing opening of a validator that holds the quorum alone."""
        validator = account(n + (10_000 if early else 0), -200)
        task = self.create_task({validator: TERMS.validator_stake}, [], [validator], early)
        _, _, reveal_end, _ = self.coordinator.functions.roundWindows(task, 0).call()
        chaintime.travel_to(self.w3, reveal_end + 1)
        outcome = [keccak(text=f"solo {n}"), keccak(text="global"), keccak(text="rewards"), keccak(text="slashes"),
                   0]
        [salt], _ = self.seal(task, outcome, [validator])
        self.enter_open(task)
        [gas] = self.rpc.txs([(validator, self.coordinator, "attest", [task, 0, *outcome, salt])])
        assert self.coordinator.functions.roundInfo(task, 0).call()[0] == chain.RoundStatus.FINALIZED
        return gas

    def lone_peer_commit(self) -> int:
        """A task's only peer commits to round 1 as soon as round 0 finalized and round 1 was
        started: the first commit of a round (the tally resets) that also ends its window."""
        peer, validator = account(20_000, 0), account(20_000, -1)
        task = self.create_task({peer: TERMS.peer_stake, validator: TERMS.validator_stake}, [peer], [validator],
                                early=True)
        coordinator, chain_id = self.coordinator, int(self.w3.eth.chain_id)
        chaintime.travel_to(self.w3, coordinator.functions.roundWindows(task, 0).call()[0] + 1)
        for round_ in (0, 1):
            value = chain.commitment(chain_id, coordinator.address, update(task, round_, peer, "delta"))
            [gas] = self.rpc.txs([(peer, coordinator, "commit", [task, round_, value])])
            if round_ == 1:
                assert coordinator.functions.scheduleAnchor(task).call()[0] == 5  # round 1's reveal
                return gas
            chaintime.advance(self.w3, 1)
            self.rpc.txs([(peer, coordinator, "reveal", [update(task, 0, peer, "delta")])])
            chaintime.travel_to(self.w3, coordinator.functions.roundWindows(task, 0).call()[2] + 1)
            outcome = [keccak(text="lone"), keccak(text="global"), keccak(text="rewards"), keccak(text="slashes"), 0]
            [salt], _ = self.seal(task, outcome, [validator])
            chaintime.advance(self.w3, 1)
            self.rpc.txs([(validator, coordinator, "attest", [task, 0, *outcome, salt])])
            self.rpc.txs([(validator, coordinator, "startRound", [task, 1])])
        raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"N in {QUICK_SIZES} instead of {SIZES}")
    sizes = QUICK_SIZES if parser.parse_args().quick else SIZES
    port = next(p for p in PORTS if localchain.port_free(p))
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        record = localchain.start_chain("anvil", port, state_dir)
        try:
            w3 = Web3(HTTPProvider(record.rpc_url))
            treasury = w3.eth.accounts[0]
            deployment = deploy.deploy_all(w3, deploy.LOCAL, record.rpc_url, treasury)
            rpc = Rpc(record.rpc_url)
            rpc.batch([("anvil_autoImpersonateAccount", [True])])
            bench = Bench(w3, rpc, deploy.attach(deployment, w3), treasury)
            code_size = len(w3.eth.get_code(deployment.addresses[chain.COORDINATOR]))
            rows, early_rows = [], []
            print(f"{'N':>6} {'windows':>8} {'commit':>7} {'attest':>7} {'finalize':>9} {'claim':>7} {'claimV':>7} "
                  f"{'slash':>7} {'slashV':>7} {'equiv':>7} {'depth':>6}")
            for n in sizes:
                for early in (False, True):
                    row = bench.measure(n, early)
                    (early_rows if early else rows).append(row)
                    print(f"{n:>6} {'early' if early else 'fixed':>8} {row['commit']:>7} {row['attest']:>7} "
                          f"{row['finalize']:>9} {row['claim']:>7} {row['claim_validator']:>7} "
                          f"{row['execute_slash']:>7} {row['slash_validator']:>7} {row['report_equivocation']:>7} "
                          f"{row['proof_depth']:>6}", flush=True)
            finalize_solo = max(bench.finalize_solo(sizes[-1], early) for early in (False, True))
            lone_commit = bench.lone_peer_commit()
        finally:
            localchain.stop_chain(state_dir)
    # Each key's worst path over both kinds of task, row by row.
    rows = [{key: max(fixed[key], early[key]) for key in fixed} for fixed, early in zip(rows, early_rows, strict=True)]
    rows[-1]["commit"] = max(rows[-1]["commit"], lone_commit)
    first, last = rows[0], rows[-1]

    def by_n(name: str) -> dict[str, int]:
        return {str(r["n"]): r[name] for r in rows}

    result = {
        "commit_gas": max(r["commit"] for r in rows),
        "reveal_gas": max(r["reveal"] for r in rows),
        # a validator's attestation is two transactions: the seal, then the opening
        "attest_gas": max(r["attest"] for r in rows),
        "seal_gas": max(r["seal"] for r in rows),
        "open_gas": max(r["open"] for r in rows),
        "claim_gas_max": last["claim"],
        "finalize_gas": by_n("finalize"),
        "finalize_solo_gas": finalize_solo,
        "finalize_ratio": round(last["finalize"] / first["finalize"], 4),
        "claim_gas": by_n("claim"),
        "claim_validator_gas": max(r["claim_validator"] for r in rows),
        "execute_slash_gas": by_n("execute_slash"),
        "slash_validator_gas": max(r["slash_validator"] for r in rows),
        "report_equivocation_gas": max(r["report_equivocation"] for r in rows),
        "early_ends": {"commit": max(r["commit"] for r in early_rows), "lone_peer_commit": lone_commit,
                       "start_round": max(r["start_round"] for r in early_rows),
                       "reveal": max(r["reveal"] for r in early_rows), "seal": max(r["seal"] for r in early_rows),
                       "finalize": max(r["finalize"] for r in early_rows)},
        "coordinator_bytes": code_size,
        "largest_n": last["n"],
        "chain": "anvil",
        "seconds": round(time.monotonic() - started, 1),
    }
    checks = {
        "commit_gas": result["commit_gas"] <= TARGETS["commit_gas"],
        "finalize_gas": max(max(r["finalize"] for r in rows), finalize_solo) <= TARGETS["finalize_gas_max"],
        "finalize_ratio": result["finalize_ratio"] <= TARGETS["finalize_ratio"],
        "claim_gas_max": result["claim_gas_max"] <= TARGETS["claim_gas_max"],
    }
    print("targets met: " + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in checks.items()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
