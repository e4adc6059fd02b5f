"""Gas of the coordinator's per-round calls against the number of registered peers.

    python benchmarks/gas.py [--quick]

For each N, on a fresh task of one anvil chain: N peers stake, register and commit; three
validators (equal stake, quorum 60 %) attest one outcome whose reward tree has a leaf per peer and
per validator (two seal it, then open it; the second opening reaches quorum); then a sample of peers claim (the first
leaves and the deepest ones, whose proofs are longest) and a slash is executed. Peers keep part
of their tokens, as real participants do, so a claim credits a non-zero balance. Setup
transactions go out as JSON-RPC batches (web3's per-call overhead would dominate at N=1024);
every measured figure is the gasUsed of a real transaction's receipt.

Ends with one JSON line: commit_gas (max over all commits), attest_gas (seal + opening of a
non-final attestation; also seal_gas and open_gas), finalize_gas (N -> gas of the quorum
opening), finalize_ratio (largest N / 4), claim_gas_max (max over the sampled claims at the
largest N), plus claim_gas and slash_gas by N.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness/ and tests/ live in the source tree

import requests
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from harness import chaintime
from loraswarm.evm import deploy, localchain
from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason

SIZES = (4, 16, 64, 256, 1024)
QUICK_SIZES = (4, 16, 64)
PORTS = range(8600, 8650)
UNIT = 10**18
PEER_GRANT = 1_000 * UNIT
BATCH = 200
TX_GAS = 1_000_000  # explicit gas: no estimate round trip; receipts report what was used
TARGETS = {"commit_gas": 50_000, "finalize_gas_max": 150_000, "finalize_ratio": 1.05, "claim_gas_max": 80_000}


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


def account(n: int, i: int) -> str:
    return to_checksum_address(keccak(text=f"gas bench {n} {i}")[:20])


def measure(w3: Web3, rpc: Rpc, contracts: dict[str, Contract], treasury: str, n: int) -> dict[str, Any]:
    token, staking, coordinator = (contracts[k] for k in (chain.TOKEN, chain.STAKING, chain.COORDINATOR))
    peers = [account(n, i) for i in range(n)]
    validators = [account(n, -i - 1) for i in range(3)]
    everyone = peers + validators
    rpc.batch([("anvil_setBalance", [a, hex(10**20)]) for a in everyone])
    params = {
        "baseModelHash": keccak(text="base"), "initialGlobalHash": keccak(text="g0"), "aggregationRule": 1,
        "quorumBps": 6_000, "startTime": chaintime.now(w3) + 60, "commitWindow": 600, "revealWindow": 600,
        "attestWindow": 600, "rewardPerRound": 1_000 * UNIT, "minPeerStake": 100 * UNIT,
        "minValidatorStake": 1_000 * UNIT, "validatorSlash": 100 * UNIT, "budget": 100_000 * UNIT,
    }
    rpc.txs([(treasury, coordinator, "createTask", [params])])
    task = int(coordinator.functions.taskCount().call())
    stakes = {who: 1_000 * UNIT if who in validators else 100 * UNIT for who in everyone}
    # One phase per dependency level: a peer approves only once it holds its grant, and so on.
    rpc.txs([(treasury, token, "transfer", [who, PEER_GRANT]) for who in everyone])
    rpc.txs([(who, token, "approve", [staking.address, stakes[who]]) for who in everyone])
    rpc.txs([(who, staking, "stake", [stakes[who]]) for who in everyone])
    rpc.txs([(who, coordinator, "registerPeer", [task]) for who in peers]
            + [(who, coordinator, "registerValidator", [task, stakes[who]]) for who in validators])

    commit_start, _, reveal_end, _ = coordinator.functions.roundWindows(task, 0).call()
    chaintime.travel_to(w3, commit_start + 1)
    commit_gas = rpc.txs([(p, coordinator, "commit", [task, 0, chain.commitment(p, 0, keccak(text=p), b"\x01" * 32)])
                          for p in peers])

    share = 900 * UNIT // n
    rewards = StandardMerkleTree.of(
        [chain.reward_leaf(task, 0, i, who, share if who in peers else 30 * UNIT) for i, who in enumerate(everyone)],
        chain.REWARD_LEAF_TYPES)
    slashes = StandardMerkleTree.of([chain.slash_leaf(task, 0, p, 10 * UNIT, Reason.NOT_REVEALED) for p in peers],
                                    chain.SLASH_LEAF_TYPES)
    outcome = [keccak(text=f"accepted {n}"), keccak(text=f"global {n}"), rewards.root, slashes.root]
    chaintime.travel_to(w3, reveal_end + 1)
    salts = [keccak(text=f"salt {v}") for v in validators[:2]]
    seal_gas = rpc.txs([(v, coordinator, "sealAttestation",
                         [task, 0, chain.attestation_seal(task, 0, v, chain.tuple_hash(*outcome), salt)])
                        for v, salt in zip(validators[:2], salts, strict=True)])
    _, _, reveal_end, attest_end = coordinator.functions.roundWindows(task, 0).call()
    chaintime.travel_to(w3, chain.seal_end(reveal_end, attest_end) + 1)
    [open_gas] = rpc.txs([(validators[0], coordinator, "attest", [task, 0, *outcome, salts[0]])])
    [finalize_gas] = rpc.txs([(validators[1], coordinator, "attest", [task, 0, *outcome, salts[1]])])
    assert coordinator.functions.roundInfo(task, 0).call()[0] == chain.RoundStatus.FINALIZED

    # First claims of the round (fresh bitmap word) and the leaves with the longest proofs.
    depth = max(len(rewards.proof(i)) for i in range(n))
    deepest = [i for i in range(n) if len(rewards.proof(i)) == depth][:8]
    sample = sorted(set(range(min(n, 8))) | set(deepest))
    claim_gas = rpc.txs([(peers[i], coordinator, "claim", [task, 0, i, share, rewards.proof(i)]) for i in sample])
    slash_gas = rpc.txs([(treasury, coordinator, "executeSlash",
                          [task, 0, peers[0], 10 * UNIT, Reason.NOT_REVEALED, slashes.proof(0)])])[0]
    return {"n": n, "commit": max(commit_gas), "seal": max(seal_gas), "open": open_gas,
            "attest": max(seal_gas) + open_gas, "finalize": finalize_gas,
            "claim": max(claim_gas), "slash": slash_gas, "proof_depth": depth}


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
            contracts = deploy.attach(deployment, w3)
            rpc = Rpc(record.rpc_url)
            rpc.batch([("anvil_autoImpersonateAccount", [True])])
            rows = []
            print(f"{'N':>6} {'commit':>8} {'attest':>8} {'finalize':>9} {'claim max':>10} {'slash':>8} {'depth':>6}")
            for n in sizes:
                row = measure(w3, rpc, contracts, treasury, n)
                rows.append(row)
                print(f"{n:>6} {row['commit']:>8} {row['attest']:>8} {row['finalize']:>9} {row['claim']:>10} "
                      f"{row['slash']:>8} {row['proof_depth']:>6}", flush=True)
        finally:
            localchain.stop_chain(state_dir)
    first, last = rows[0], rows[-1]
    result = {
        "commit_gas": max(r["commit"] for r in rows),
        # a validator's attestation is two transactions: the seal, then the opening
        "attest_gas": max(r["attest"] for r in rows),
        "seal_gas": max(r["seal"] for r in rows),
        "open_gas": max(r["open"] for r in rows),
        "claim_gas_max": last["claim"],
        "finalize_gas": {str(r["n"]): r["finalize"] for r in rows},
        "finalize_ratio": round(last["finalize"] / first["finalize"], 4),
        "claim_gas": {str(r["n"]): r["claim"] for r in rows},
        "slash_gas": {str(r["n"]): r["slash"] for r in rows},
        "largest_n": last["n"],
        "chain": "anvil",
        "seconds": round(time.monotonic() - started, 1),
    }
    checks = {
        "commit_gas": result["commit_gas"] <= TARGETS["commit_gas"],
        "finalize_gas": max(r["finalize"] for r in rows) <= TARGETS["finalize_gas_max"],
        "finalize_ratio": result["finalize_ratio"] <= TARGETS["finalize_ratio"],
        "claim_gas_max": result["claim_gas_max"] <= TARGETS["claim_gas_max"],
    }
    print("targets met: " + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in checks.items()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
