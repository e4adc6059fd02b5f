"""Reliability under bad input and adversaries, measured.

Runs every decoder's fuzz target (tests/reliability/fuzzing.py: 10,000 cases each, 500 with
--quick), the edge validator's replay/forgery/flood cases, a 1,000 msg/s flood from one peer over
real peer processes, a blob fetch against lying, stalling and
unreachable providers, and two adversarial rounds on the real contracts (embedded chain: a
wrong-root validator, a sub-quorum Sybil set). Prints figures; the last line is one JSON object.

`lost` adds up what honest parties lost: honest announcements refused by the edge validator or
not delivered during the flood (and any other peer's message delivered),
reward leaves of honest peers not paid, and blobs an honest fetcher failed to get while an honest
provider had them. `faults_injected` counts the injected provider faults (refused connection,
stream cut mid-blob); process kills and chain outages are not part of this benchmark yet.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # harness/ and tests/ live in the source tree

import trio
from web3 import EthereumTesterProvider, Web3

from loraswarm.node.p2p import blobproto
from loraswarm.node.p2p.blobstore import BlobStore
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.protocol.codes import Reason
from tests.contracts.harness import Swarm
from tests.reliability import fuzzing
from tests.reliability.adversaries import edge_attack
from tests.reliability.contract_scenarios import sybil_below_quorum, wrong_root_validator
from tests.reliability.flood_scenario import run_flood


def blob_providers(rounds: int) -> tuple[int, int, int]:
    """Per round: a provider serving other bytes of the announced size, one cutting the stream
    mid-blob, one refusing the connection, then an honest one. Returns (adversary cases, faults,
    blobs lost)."""
    blob, digest = fuzzing._BLOB, fuzzing._BLOB_HASH
    header = bytes([blobproto.FOUND]) + len(blob).to_bytes(8, "big")
    lost = 0
    for i in range(rounds):
        store = BlobStore(fuzzing._BLOB_ROOT / f"bench-{i}")
        rejected: Counter[Reason] = Counter()
        host = fuzzing._Host([[header + bytes(len(blob))], [header + blob[:40]], [header + blob]])

        async def fetch(host: fuzzing._Host = host, store: BlobStore = store,
                        rejected: Counter[Reason] = rejected) -> bytes | None:
            fetcher = blobproto.BlobFetcher(host, store, rejected)  # type: ignore[arg-type]
            try:
                path = await fetcher.fetch(digest, ["liar", "cut", "unreachable", "honest"])  # type: ignore[list-item]
            except BlobUnavailable:
                return None
            return path.read_bytes()

        got = trio.run(fetch)
        lost += got != blob
        assert rejected[Reason.HASH_MISMATCH] == 1
    return rounds, 2 * rounds, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 fuzz cases per decoder instead of 10,000")
    args = parser.parse_args()
    cases = 500 if args.quick else 10_000
    started = time.perf_counter()

    fuzz_cases = 0
    for name, target in fuzzing.TARGETS.items():
        t0 = time.perf_counter()
        ran = fuzzing.run(target, cases)
        fuzz_cases += ran
        print(f"fuzz {name:13s} {ran:6d} cases, only typed errors  {time.perf_counter() - t0:6.1f} s")

    flood = edge_attack(flood=1000)
    print(f"edge validator: {flood.adversary_cases} adversarial messages refused, "
          f"{flood.honest_sent - flood.honest_lost}/{flood.honest_sent} honest accepted; verdicts "
          + ", ".join(f"{r.name}={n}" for r, n in sorted(flood.verdicts.items())))

    with tempfile.TemporaryDirectory(prefix="loraswarm-flood-") as root:
        net = run_flood(Path(root))
    net_lost = net.honest_sent - net.honest_accepted + net.foreign_delivered
    print(f"p2p flood (real processes): {net.sent} messages in {net.seconds:.1f} s from one peer, "
          f"{net.refused_at_edge} reached the edge and were refused; honest {net.honest_accepted}/{net.honest_sent} "
          f"arrived; receiver rss {net.rss_before_mb:.0f} -> {net.rss_after_mb:.0f} MB")

    blob_cases, faults, blobs_lost = blob_providers(10 if args.quick else 100)
    print(f"blob fetch: {blob_cases} lying providers and {faults} provider faults, {blobs_lost} blobs lost")

    rounds = rewards_lost = contract_cases = 0
    for scenario in (wrong_root_validator, sybil_below_quorum):
        played = scenario(Swarm.deploy(Web3(EthereumTesterProvider())))
        rounds += played.finalized_honest
        rewards_lost += played.rewards_owed - played.rewards_paid
        contract_cases += played.adversary_cases
        print(f"contracts {scenario.__name__}: finalized honest={played.finalized_honest}, "
              f"rewards paid {played.rewards_paid}/{played.rewards_owed}, "
              f"dissenters slashed {played.dissenters_slashed}/{played.adversary_cases}")

    result = {
        "fuzz_cases": fuzz_cases,
        "faults_injected": faults,
        "adversary_cases": flood.adversary_cases + net.sent + blob_cases + contract_cases,
        "rounds_completed": rounds,
        "lost": flood.honest_lost + net_lost + blobs_lost + rewards_lost,
        "flood_rss_growth_mb": round(net.rss_after_mb - net.rss_before_mb, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
