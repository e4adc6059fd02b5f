"""End to end on a local testnet: real peer processes, the real model and fortunes data, the real
contracts, two rounds.

Five peers start together (two honest validators, an honest trainer, a scaling attacker and a
zero-delta free rider); a sixth joins after round 0 finalized, fetches that round's global by its
on-chain hash and trains from it. The victim and the free rider keep personal adapters. The
same plan, with the same accounts (key_seed), runs twice, both at once on separate chains:

- clean: the protocol's outcome (verdicts, slashes, rewards, the ledger);
- with a ``kill -9`` at every phase boundary, each node restarted at once: after the commit
  transaction is broadcast and before its receipt (val0, round 0); between commit and reveal
  (victim, killed from outside); after sealing and before opening an attestation (val1, round 0);
  during a blob fetch (zero, the round-0 result document); after opening an attestation and
  before announcing the result (val0, round 1); and a 30 s chain RPC outage once round 0's
  commits are in (anvil stopped, then started again on its port from its dumped state), during
  which no node may exit and the victim restarts (so a node also starts while the chain is
  down). Every finalized tuple, reward and slash must equal the clean run's, and no transaction
  may have been sent twice.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from web3 import HTTPProvider, Web3

from loraswarm.demo.network import PeerPlan
from loraswarm.demo.run import DemoConfig, Network, launch, local_network, stop
from loraswarm.evm import localchain
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.tasks import TaskTerms
from loraswarm.node.faults import CRASH_ENV
from loraswarm.node.status import NodeStatus
from tests.support import run_cli

ROUNDS = 2
PLANS = (
    PeerPlan("val0", "honest", True, ("computers",)), PeerPlan("val1", "honest", True, ("science",)),
    PeerPlan("victim", "honest", False, ("politics",), personal=True),
    PeerPlan("scaling", "scaling", False, ("education",)),
    PeerPlan("zero", "zero", False, ("law",), personal=True), PeerPlan("late", "honest", False, ("food",)),
)
LATE = "late"
# The attest window is long enough for a validator killed after sealing to restart and open; the
# commit window for the commit-phase kills, their restarts and the outage after them. Fixed
# windows: the outage comes once every node committed, which would end the commit window early
# and let the reveal window run out while the chain is down (the demo and the other end-to-end
# tests run with phases that end early).
TERMS = TaskTerms(commit_s=120, reveal_s=15, attest_s=40, start_delay_s=60, phases_end_early=False)
CRASH_POINTS = {"val0": "sent:commit:0,attested:1", "val1": "sealed:0", "zero": "fetching:result"}
KILLED_AFTER_COMMIT = "victim"
OUTAGE_S = 30.0


def network_config(workdir: Path) -> DemoConfig:
    return DemoConfig(peers=len(PLANS), rounds=ROUNDS, validators=2, steps=3, batch_size=2, seq_len=32,
                      plans=PLANS, terms=TERMS, workdir=workdir, key_seed="loraswarm e2e")


@dataclass
class Observed:
    """What one run left on chain and in the ledger, by peer name."""

    names: dict[str, str]  # lowercase address -> peer name
    statuses: dict[str, NodeStatus]
    finalized: dict[int, tuple[bytes, bytes, bytes, bytes, int, int]]  # round -> (result, global, rewards and
    # slash roots, peer pool, validator pool)
    claims: dict[tuple[str, int], int]
    slashes: dict[tuple[str, int], int]
    sent: Counter[tuple[str, str, int]]  # (event, name, round) -> count
    attested_globals: dict[int, set[bytes]]
    ledger: dict[str, dict[str, Any]]  # name -> `loraswarm ledger peers` row
    rounds: list[dict[str, Any]]
    personal: dict[tuple[str, int], bytes]  # (name, round) -> personal adapter file
    killed: Counter[str] = field(default_factory=Counter)
    workdir: Path = Path()


def _status(net: Network, name: str) -> NodeStatus | None:
    return NodeStatus.read(net.workdir / name / "status.json")


def _unfired(points: str, log: Path) -> str:
    """The crash points of a node that have not fired yet (a restart keeps the later ones)."""
    text = log.read_text() if log.is_file() else ""
    return ",".join(p for p in points.split(",") if p and f"crash point {p} reached" not in text)


def _outage(chain_dir: Path, seconds: float, procs: Mapping[str, subprocess.Popen[bytes]],
            while_down: Callable[[], None]) -> None:
    """Stop the recorded anvil, run `while_down` (e.g. start a node), keep the chain down for
    `seconds`, start it again from its state; no node may exit meanwhile."""
    record = localchain.read_record(chain_dir)
    dumped = Web3(HTTPProvider(record.rpc_url)).provider.make_request("anvil_dumpState", [])["result"]
    state = chain_dir / "state.json"
    state.write_bytes(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
    localchain.stop_chain(chain_dir)
    while_down()
    time.sleep(seconds)
    exited = {name: proc.returncode for name, proc in procs.items() if proc.poll() is not None}
    _restart_chain(chain_dir, record, state)
    assert not exited, ("nodes exited while the chain was down", exited, _tails(chain_dir.parent, exited))


def _tails(workdir: Path, names: Mapping[str, object], lines: int = 25) -> dict[str, str]:
    """The end of each named node's output: CI keeps only the test report."""
    def tail(name: str) -> str:
        log = workdir / name / "stdout.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else "(no output)"
    return {name: tail(name) for name in names}


def _restart_chain(chain_dir: Path, record: localchain.ChainRecord, state: Path) -> None:
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


def run_plan(workdir: Path, crash_points: Mapping[str, str], kill_after_commit: str | None,
             outage_s: float | None = None) -> Observed:
    """Run the plan to the end; a node that dies of SIGKILL is restarted at once with the crash
    points it has not reached yet; with ``outage_s``, the chain goes down for that long once
    every first-round node has committed and the commit-phase kills are done, and the node
    killed after committing is restarted while the chain is down."""
    config = network_config(workdir)
    with local_network(config, Console(width=160)) as net:
        peers = {p.plan.name: p for p in net.peers}
        procs = {name: launch(peer, ROUNDS, {CRASH_ENV: crash_points[name]} if name in crash_points else None)
                 for name, peer in peers.items() if name != LATE}
        killed: Counter[str] = Counter()
        outage_done = outage_s is None

        def restart_killed(names: list[str]) -> None:
            for name in names:
                if procs[name].poll() == -signal.SIGKILL:
                    killed[name] += 1
                    left = _unfired(crash_points.get(name, ""), peers[name].data_dir / "node.log")
                    procs[name] = launch(peers[name], 1 if name == LATE else ROUNDS,
                                         {CRASH_ENV: left} if left else None)

        try:
            deadline = time.monotonic() + TERMS.start_delay_s + (ROUNDS + 2) * TERMS.period_s + 240
            while any(p.poll() is None for p in procs.values()) or LATE not in procs:
                assert time.monotonic() < deadline, f"the network did not finish: {workdir}"
                restart_killed([name for name in procs if outage_done or name != kill_after_commit])
                victim = _status(net, kill_after_commit) if kill_after_commit else None
                if victim is not None and victim.round == 0 and victim.phase == "committed" and not killed[
                        kill_after_commit] and procs[kill_after_commit].poll() is None:
                    os.killpg(procs[kill_after_commit].pid, signal.SIGKILL)
                    procs[kill_after_commit].wait()
                if not outage_done and _commits_in(net, procs, killed, crash_points, kill_after_commit):
                    _outage(net.workdir / "chain", outage_s or 0.0, procs,
                            lambda: restart_killed([kill_after_commit] if kill_after_commit else []))
                    outage_done = True
                validator = _status(net, "val0")
                if LATE not in procs and validator is not None and "0" in validator.verdicts:
                    procs[LATE] = launch(peers[LATE], 1)  # round 0 has settled
                time.sleep(0.3)
            failed = {name: proc.returncode for name, proc in procs.items() if proc.returncode != 0}
            assert not failed, (failed, _tails(workdir, failed))
        finally:
            stop(procs)
        return _observe(net, killed)


def _commits_in(net: Network, procs: Mapping[str, subprocess.Popen[bytes]], killed: Counter[str],
                crash_points: Mapping[str, str], kill_after_commit: str | None) -> bool:
    """Every node committed in round 0, the crash points of that phase fired and their nodes
    restarted, and the node to be killed after committing is down."""
    planned = Counter({name: 1 for name, points in crash_points.items() if "sent:commit:0" in points})
    statuses = [_status(net, name) for name in procs]
    victim_down = kill_after_commit is None or procs[kill_after_commit].poll() == -signal.SIGKILL
    return victim_down and all(killed[name] >= n for name, n in planned.items()) and all(
        s is not None and s.round == 0 and s.committed >= 1 for s in statuses)


def _observe(net: Network, killed: Counter[str]) -> Observed:
    names = {p.address.lower(): p.plan.name for p in net.peers}
    w3 = Web3(HTTPProvider(net.rpc_url))
    coordinator = attach(Deployment.from_file(net.deployment_file), w3)["Coordinator"]

    def logs(event: str) -> list[dict[str, Any]]:
        return [dict(e["args"]) for e in coordinator.events[event]().get_logs(from_block=0)]

    sent: Counter[tuple[str, str, int]] = Counter()
    for event, who in (("UpdateCommitted", "peer"), ("AttestationSealed", "validator"), ("Attested", "validator")):
        sent.update((event, names[e[who].lower()], e["round"]) for e in logs(event))
    attested_globals: dict[int, set[bytes]] = {}
    for e in logs("Attested"):
        attested_globals.setdefault(e["round"], set()).add(e["globalHash"])
    args = ["--deployment", str(net.deployment_file), "--rpc-url", net.rpc_url, "--results", str(net.workdir / "val0"),
            "--json"]
    peers_out, rounds_out = run_cli("ledger", "peers", *args), run_cli("ledger", "rounds", *args)
    assert peers_out.returncode == 0, peers_out.stderr
    assert rounds_out.returncode == 0, rounds_out.stderr
    return Observed(
        names=names,
        statuses={p.plan.name: s for p in net.peers if (s := _status(net, p.plan.name)) is not None},
        finalized={e["round"]: (e["acceptedRoot"], e["globalHash"], e["rewardsRoot"], e["slashRoot"], e["peerPool"],
                                e["validatorPool"]) for e in logs("RoundFinalized")},
        claims={(names[(e.get("account") or e["validator"]).lower()], e["round"]): e["amount"]
                for e in logs("RewardClaimed") + logs("ValidatorRewardClaimed")},
        slashes={(names[e["account"].lower()], e["round"]): e["amount"]
                 for e in logs("SlashExecuted") if e["account"].lower() in names},
        sent=sent,
        attested_globals=attested_globals,
        ledger={names[row["account"].lower()]: row for row in json.loads(peers_out.stdout)},
        rounds=json.loads(rounds_out.stdout),
        personal={(p.plan.name, int(f.stem)): f.read_bytes() for p in net.peers
                  for f in (p.data_dir / "personal").glob("*.safetensors")},
        killed=killed,
        workdir=net.workdir,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Observed]]]:
    """Both runs at once, each on its own chain: they spend most of their time waiting for
    round windows, so together they take little longer than one."""
    with ThreadPoolExecutor(2) as pool:
        yield {"clean": pool.submit(run_plan, tmp_path_factory.mktemp("clean") / "net", {}, None),
               "crash": pool.submit(run_plan, tmp_path_factory.mktemp("crash") / "net", CRASH_POINTS,
                                    KILLED_AFTER_COMMIT, OUTAGE_S)}


@pytest.fixture(scope="module")
def clean(runs: dict[str, Future[Observed]]) -> Observed:
    return runs["clean"].result()


@pytest.mark.e2e
def test_two_rounds_with_an_attacker_a_free_rider_and_a_late_joiner(clean: Observed) -> None:
    assert [r["status"] for r in clean.rounds] == ["finalized", "finalized"]
    ledger = clean.ledger
    attacker = ledger["scaling"]
    assert attacker["accepted"] == 0 and attacker["rewards_claimed"] == 0
    assert attacker["slashed"] > 0 and set(attacker["slash_reasons"]) <= {"NORM_BOUND", "KRUM_OUTLIER",
                                                                          "MEDIAN_OUTLIER"}
    free_rider = ledger["zero"]
    assert free_rider["rewards_claimed"] == 0 and free_rider["accepted"] == 0
    assert free_rider["rejected"] == {"ZERO_UPDATE": 2}
    for name in ("val0", "val1", "victim"):
        assert ledger[name]["rewards_claimed"] > 0 and ledger[name]["accepted"] == 2, ledger[name]
    # The late joiner trained from round 0's global, fetched by its on-chain hash, and was paid.
    assert ledger[LATE]["accepted"] == 1 and ledger[LATE]["rewards_claimed"] > 0
    global0 = "0x" + clean.finalized[0][1].hex()
    assert (clean.workdir / LATE / "globals" / f"{global0}.safetensors").is_file()
    # Round 1 was judged against round 0's global change (the history defences ran: every update
    # that reached the free-rider test has a residual measure), round 0 had no history.
    for validator in ("val0", "val1"):
        reports = [json.loads((clean.workdir / validator / "reports" / f"{r}.json").read_text()) for r in range(2)]
        assert not any("residual_cos" in m for m in reports[0].values())
        assert all("residual_cos" in m for m in reports[1].values() if m["reason"] == "ACCEPTED")
    # Every validator attested the same global adapter in each round, and each sealed first.
    for r in range(ROUNDS):
        assert len(clean.attested_globals[r]) == 1, clean.attested_globals
        for validator in ("val0", "val1"):
            assert clean.sent[("AttestationSealed", validator, r)] == 1
    # The peers' held-out perplexity was measured for the base and after each round.
    for name in ("val0", "val1", "victim", "scaling", "zero"):
        assert {"base", "global@0", "global@1"} <= set(clean.statuses[name].ppl), name


@pytest.mark.e2e
def test_personal_adapters_take_only_accepted_deltas_and_show_in_the_node_status(clean: Observed) -> None:
    addresses = {name: address for address, name in clean.names.items()}
    honest = {addresses[n] for n in ("val0", "val1", "victim")}
    for name in ("victim", "zero"):
        out = run_cli("node", "status", "--config", str(clean.workdir / f"{name}.toml"), "--json")
        assert out.returncode == 0, out.stderr
        ppl = json.loads(out.stdout)["ppl"]
        for r in range(ROUNDS):
            report = json.loads((clean.workdir / name / "personal" / f"{r}.json").read_text())
            assert (name, r) in clean.personal and ppl[f"personal@{r}"] == report["ppl"]["personal"]
            assert report["ppl"]["global"] == ppl[f"global@{r}"]
            # every delta it held was judged: the honest ones entered, the attacker's and the
            # free rider's never did
            accepted = honest | ({addresses[LATE]} if r > 0 else set())  # the late joiner from round 1
            assert set(report["weights"]) == accepted, (name, r, report)
            assert set(report["excluded"]) == {addresses["scaling"], addresses["zero"]}, (name, r, report)
            assert report["excluded"][addresses["zero"]] == "ZERO_UPDATE"
    table = run_cli("node", "status", "--config", str(clean.workdir / "victim.toml"))
    assert table.returncode == 0 and "ppl personal" in table.stdout, table.stdout


@pytest.mark.e2e
def test_kill_9_at_every_phase_boundary_and_an_rpc_outage_change_no_outcome(
        clean: Observed, runs: dict[str, Future[Observed]]) -> None:
    crashed = runs["crash"].result()
    # Every fault was injected: each crash point fired once, the outside kill once.
    expected = Counter({name: len(points.split(",")) for name, points in CRASH_POINTS.items()})
    expected[KILLED_AFTER_COMMIT] += 1
    assert crashed.killed == expected
    for name, points in CRASH_POINTS.items():
        log = (crashed.workdir / name / "node.log").read_text()
        assert all(f"crash point {point} reached" in log for point in points.split(",")), name
    for name in expected:
        # a restart reuses the base model's perplexity measured before the kill
        assert (crashed.workdir / name / "node.log").read_text().count("evaluating the base model") == 1, name
    # The outcome is the clean run's, leaf for leaf.
    assert crashed.finalized == clean.finalized
    assert crashed.claims == clean.claims
    assert crashed.slashes == clean.slashes
    fields = ("accepted", "rejected", "rewards_claimed", "slashed", "slash_reasons")
    assert {n: {f: r[f] for f in fields} for n, r in crashed.ledger.items()} == {
        n: {f: r[f] for f in fields} for n, r in clean.ledger.items()}
    # Personal adapters too: the victim's across its kill, the free rider's across a restart in
    # settlement (after its round finalized), bit for bit.
    assert crashed.personal == clean.personal and len(clean.personal) == 2 * ROUNDS
    # Nothing was sent twice: one commit per peer and round, one seal and one opening per validator.
    assert crashed.sent == clean.sent
    assert set(crashed.sent.values()) == {1}
