"""The cost of a round as the number of peers N grows: real networks of N light peers and three
full validators on a local chain.

Per N, one network: anvil with the contracts and a task, three honest validators that are full
nodes (the real model; they train too) and N light peers (harness/light_peer.py: real node
processes whose training is a delta the real model trained once for that peer, cached under
build/light-cache; a scaling attacker and a zero free rider per 12 peers among them). Bootstrap
lists name the validators and two neighbours, not everyone (a federation's peers do not dial all
others). The run measures, for the round(s) every node worked:

- validator judging seconds by phase (timed by the nodes: prefetch in the reveal window, then
  judging reads, delta fetch, decode, validate, aggregate, incentives); ``judge_s`` sums the phases
  between the reveal window's end and the seal, for the slowest validator;
- blob bytes each validator fetched, and gossip messages and blob requests judged at each node's
  edge (both from the nodes' /metrics, scraped every few seconds);
- peak RSS of a validator and of a light peer (sampled from /metrics every few seconds);
- gas and transactions per round (every coordinator transaction from round 0's start to the end,
  claims and slashes included, divided by the rounds), and per peer;
- whether every honest peer was accepted and paid, and no adversary paid.

Light peers skip what a full peer does besides the protocol (loading the model, training,
evaluation): their own costs are a real node's minus the training.

``--quick``: N in (10, 25), one round. It takes several minutes, over the one-minute budget: each
network needs its validators to load the model and every node to start (N processes on two cores)
before round 0, and a round's windows to pass.

    python benchmarks/scale.py [--quick] [--peers 10 25 50] [--rounds R]    # last line: JSON
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w
from rich.console import Console
from web3 import HTTPProvider, Web3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # harness/ lives in the source tree

from harness.light_peer import LightLearner, build_cache
from loraswarm.consensus import RoundContext, Submission, aggregate, validate_round
from loraswarm.demo.network import DEMO_TOPICS, PeerFiles, PeerPlan
from loraswarm.demo.run import (
    DEMO_PASSWORD,
    PASSWORD_ENV,
    DemoConfig,
    demo_spec,
    launch,
    local_network,
    read_statuses,
    stop,
)
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.localchain import free_port
from loraswarm.evm.tasks import TaskTerms, read_params
from loraswarm.node.config import Behaviour
from loraswarm.node.status import NodeStatus
from loraswarm.node.timing import Work
from loraswarm.protocol.taskspec import TaskSpec

VALIDATORS = 3
CACHE = ROOT / "build" / "light-cache"
# Between the reveal window's end and the seal: what the seal half of the attest window must hold.
JUDGING = (Work.JUDGING_READS, Work.DELTA_FETCH, Work.DECODE, Work.VALIDATE, Work.AGGREGATE, Work.INCENTIVES)
SPLIT = (Work.PREFETCH, *JUDGING, Work.SEAL, Work.OPEN)
PASSED = ("ACCEPTED", "NOT_SELECTED")
SCRAPE_S = 3.0
RECIPE = {"steps": 4, "batch_size": 2, "seq_len": 32}


def plans(n: int) -> list[PeerPlan]:
    """Three validators, then n light peers: one scaling attacker and one zero free rider per 12."""
    bad = max(1, n // 12)
    behaviours = ["scaling"] * bad + ["zero"] * bad + ["honest"] * (n - 2 * bad)
    made = [PeerPlan(f"val{i}", "honest", True, (DEMO_TOPICS[i],), metrics_port=free_port()) for i in range(VALIDATORS)]
    # Spread the adversaries among the honest (every fifth peer first) so neighbours differ.
    order = sorted(range(n), key=lambda i: (i % 5 != 0, i))
    kinds = dict(zip(order, behaviours, strict=True))
    made += [PeerPlan(f"light{i}", kinds[i], False, (DEMO_TOPICS[i % len(DEMO_TOPICS)],), metrics_port=free_port())
             for i in range(n)]
    return made


def terms(n: int) -> TaskTerms:
    # Validators load the model while n processes start on two cores; the seal half of the attest
    # window holds fetching and judging n deltas (generous: finding where it breaks is the point).
    # Phases end early (the default); the reveal window, in which the deltas spread, keeps its length.
    return TaskTerms(commit_s=30, reveal_s=10 + n // 5, attest_s=40 + 2 * n, start_delay_s=50 + 2 * n)


def _sparse_bootstrap(peers: list[PeerFiles]) -> None:
    """Each config's bootstrap list: the validators and the next two light peers (a ring)."""
    configs = {p.plan.name: tomllib.loads(p.config.read_text()) for p in peers}
    addr = {name: f"{c['p2p']['listen']}/p2p/" for name, c in configs.items()}
    ids = {}
    for config in configs.values():
        for entry in config["p2p"]["bootstrap"]:
            for other in configs:
                if entry.startswith(addr[other]):
                    ids[other] = entry
    light = [p.plan.name for p in peers if not p.plan.validator]
    for peer in peers:
        name = peer.plan.name
        wanted = [v.plan.name for v in peers if v.plan.validator]
        if name in light:
            i = light.index(name)
            wanted += [light[(i + 1) % len(light)], light[(i + 2) % len(light)]]
        configs[name]["p2p"]["bootstrap"] = [ids[w] for w in wanted if w != name and w in ids]
        peer.config.write_text(tomli_w.dumps(configs[name]))


def _launch_light(peer: PeerFiles, index: int, rounds: int, cache: Path) -> subprocess.Popen[bytes]:
    peer.data_dir.mkdir(parents=True, exist_ok=True)
    log = (peer.data_dir / "stdout.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "harness.light_peer", "--config", str(peer.config), "--cache", str(cache),
         "--index", str(index), "--rounds", str(rounds), "--log-file", str(peer.data_dir / "node.log")],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), PASSWORD_ENV: DEMO_PASSWORD})


@dataclass
class Scraped:
    """The last value of each node's counters, and the largest RSS seen."""

    bytes_in: dict[str, float] = field(default_factory=dict)
    edge: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)

    def scrape(self, name: str, port: int) -> None:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            return  # not up yet, or gone
        edge = 0.0
        for line in text.splitlines():
            if line.startswith("loraswarm_bytes_in_total "):
                self.bytes_in[name] = float(line.split()[-1])
            elif line.startswith(("loraswarm_edge_verdicts{", "loraswarm_edge_verdicts_total{")):
                edge += float(line.split()[-1])
            elif line.startswith("process_resident_memory_bytes "):
                self.rss_mb[name] = max(self.rss_mb.get(name, 0.0), float(line.split()[-1]) / 2**20)
        self.edge[name] = max(self.edge.get(name, 0.0), edge)


def _gas(rpc_url: str, deployment_file: Path, rounds: int) -> tuple[int, int]:
    """Gas and transaction count of every coordinator transaction from round 0's commit window on."""
    w3 = Web3(HTTPProvider(rpc_url))
    coordinator = attach(Deployment.from_file(deployment_file), w3)["Coordinator"]
    start = int(read_params(coordinator, 1)["startTime"])  # round 0's commit window opens at the start
    gas = count = 0
    for number in range(w3.eth.block_number, -1, -1):
        block = w3.eth.get_block(number, full_transactions=True)
        if block["timestamp"] < start:
            break
        for tx in block["transactions"]:
            if tx["to"] is not None and tx["to"].lower() == coordinator.address.lower():
                gas += w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]
                count += 1
    return gas, count


def network_config(n: int, rounds: int, workdir: Path | None = None) -> DemoConfig:
    peer_plans = plans(n)
    return DemoConfig(peers=len(peer_plans), rounds=rounds, validators=VALIDATORS, eval_records=4,
                      plans=tuple(peer_plans), terms=terms(n), workdir=workdir, reputation=True, **RECIPE)


def run_one(n: int, rounds: int, cache: Path, console: Console, workdir: Path) -> dict[str, object]:
    config = network_config(n, rounds, workdir)
    scraped = Scraped()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    statuses: dict[str, NodeStatus] = {}
    began = time.monotonic()
    with local_network(config, console) as net:
        try:
            _sparse_bootstrap(net.peers)
            light = [p for p in net.peers if not p.plan.validator]
            procs = {p.plan.name: launch(p, rounds) for p in net.peers if p.plan.validator}
            procs |= {p.plan.name: _launch_light(p, i, rounds, cache) for i, p in enumerate(light)}
            budget = config.terms.start_delay_s + (rounds + 1) * config.terms.period_s + 180
            deadline = time.monotonic() + budget
            while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
                for peer in net.peers:
                    scraped.scrape(peer.plan.name, peer.plan.metrics_port)
                read_statuses(net.peers, statuses)
                done = sum(p.poll() is not None for p in procs.values())
                console.print(f"N={n}: {time.monotonic() - began:.0f} s, {done}/{len(procs)} nodes done", end="\r")
                time.sleep(SCRAPE_S)
            console.print()
            read_statuses(net.peers, statuses)
            gas, txs = _gas(net.rpc_url, net.deployment_file, rounds)
        finally:
            stop(procs)
    codes = {name: proc.poll() for name, proc in procs.items()}
    return _figures(n, rounds, net.peers, statuses, scraped, gas, txs, codes, time.monotonic() - began)


def _figures(n: int, rounds: int, peers: list[PeerFiles], statuses: dict[str, NodeStatus], scraped: Scraped,
             gas: int, txs: int, codes: dict[str, int | None], wall_s: float) -> dict[str, object]:
    validators = [p.plan.name for p in peers if p.plan.validator]
    honest = [p.plan.name for p in peers if p.plan.behaviour == "honest"]
    adversaries = [p.plan.name for p in peers if p.plan.behaviour != "honest"]
    worked = [set(statuses[v].timings) for v in validators if v in statuses]
    common = sorted(set.intersection(*worked), key=int) if worked else []
    judge = {v: {r: sum(statuses[v].timings[r].get(w, 0.0) for w in JUDGING) for r in common} for v in validators
             if v in statuses}
    slowest = max(judge, key=lambda v: max(judge[v].values(), default=0.0)) if judge else None
    split = {w.value: round(max((statuses[slowest].timings[r].get(w, 0.0) for r in common), default=0.0), 3)
             for w in SPLIT} if slowest else {}

    def paid(name: str) -> bool:
        s = statuses.get(name)
        return s is not None and s.rewards > 0 and all(s.verdicts.get(r) in PASSED for r in common)

    honest_paid = sum(paid(name) for name in honest) / len(honest)
    adversaries_paid = [name for name in adversaries if name in statuses and statuses[name].rewards > 0]
    light_rss = [scraped.rss_mb[p.plan.name] for p in peers if not p.plan.validator and p.plan.name in scraped.rss_mb]
    return {
        "n": n, "rounds_measured": len(common), "judge_s": round(max((max(j.values(), default=0.0)
                                                                      for j in judge.values()), default=0.0), 3),
        "judge_split_s": split,
        "bytes_per_validator": int(max((scraped.bytes_in.get(v, 0.0) for v in validators), default=0)),
        "edge_messages_per_node_max": int(max(scraped.edge.values(), default=0)),
        "validator_rss_mb": round(max((scraped.rss_mb.get(v, 0.0) for v in validators), default=0.0), 1),
        "light_peer_rss_mb_max": round(max(light_rss, default=0.0), 1),
        # Every trainer commits, reveals and claims: the validators train too.
        "gas_per_round": gas // rounds, "gas_per_peer": round(gas / rounds / (n + VALIDATORS)),
        "tx_per_round": round(txs / rounds, 1),
        "honest_paid_fraction": round(honest_paid, 4), "adversaries_paid": adversaries_paid,
        "failed_nodes": sorted(name for name, code in codes.items() if code != 0), "wall_s": round(wall_s, 1),
    }


def judge_alone(n: int, cache: Path, task_file: Path) -> dict[str, float]:
    """Validate and aggregate n cached real deltas in this process with nothing else running: the
    pipeline's own growth, apart from the two cores the networks' n + 3 processes share. Run in a
    fresh process (``--judge-alone``) so that its peak RSS is its own."""
    learners = [LightLearner(cache, i) for i in range(n)]
    start, _, global_hash = learners[0].initial_global()
    subs = [Submission(f"0x{i + 1:040x}", i, global_hash, 1_000, learner.train(start, 0, Behaviour.HONEST).delta)
            for i, learner in enumerate(learners)]
    ctx = RoundContext(round=0, current_global_hash=global_hash, spec=dict(learners[0].spec.shapes),
                       norm_bound=TaskSpec.read(task_file).norm_bound)
    began = time.perf_counter()
    verdict = validate_round(subs, ctx)
    validate_s = time.perf_counter() - began
    aggregate(verdict.accepted, ctx)
    return {"validate_s": round(validate_s, 3), "aggregate_s": round(time.perf_counter() - began - validate_s, 3),
            # The whole process at its peak: torch, the n decoded deltas (deltas_mb) and judging them.
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "deltas_mb": round(n * learners[0].spec.fp32_bytes / 2**20, 1),
            "accepted": sum(v.accepted for v in verdict.verdicts)}


def _judge_alone_in_child(n: int, cache: Path, task_file: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--judge-alone", str(n), "--cache", str(cache),
                          "--task-file", str(task_file)], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N in (10, 25), one round")
    parser.add_argument("--peers", type=int, nargs="+", help="the Ns to run (default: 10 25 50 100)")
    parser.add_argument("--rounds", type=int, help="rounds per network (default: 2; --quick: 1)")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (node logs, statuses)")
    parser.add_argument("--alone", type=int, nargs="*", default=None,
                        help="Ns to also judge in one process alone (default: the networks' Ns, then 100 and 200)")
    parser.add_argument("--judge-alone", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--task-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.judge_alone:
        print(json.dumps(judge_alone(args.judge_alone, args.cache, args.task_file)))
        return
    ns = args.peers or ((10, 25) if args.quick else (10, 25, 50, 100))
    if min(ns) < 2:
        parser.error("a network needs at least 2 light peers (one attacker and one free rider among them)")
    rounds = args.rounds or (1 if args.quick else 2)
    alone = args.alone if args.alone is not None else sorted({*ns, 50, *(() if args.quick else (100, 200))})
    console = Console(width=160)
    began = time.monotonic()
    results: dict[int, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="loraswarm-scale-") as tmp:
        # Every network's task file is the same (task 1, the same recipe): one cache serves them all.
        task_file = Path(tmp) / "task.json"
        demo_spec(network_config(min(ns), rounds)).write(task_file)
        cache = CACHE / TaskSpec.read(task_file).spec_hash()[2:18]
        build_cache(task_file, cache, max([*ns, *alone]), rounds, DEMO_TOPICS, progress=console.print)
        for n in ns:
            workdir = (args.keep or Path(tmp)) / f"n{n}"
            results[n] = run_one(n, rounds, cache, console, workdir)
            console.print(f"N={n}: {json.dumps(results[n])}")
        judged = {n: _judge_alone_in_child(n, cache, task_file) for n in alone}
    for n, figures in judged.items():
        console.print(f"N={n}, judged in one process alone: {json.dumps(figures)}")
    first, last = results[min(ns)], results[max(ns)]

    def ratio(key: str) -> float | None:
        low, high = first[key], last[key]
        return round(float(high) / float(low), 3) if isinstance(low, int | float) and low else None  # type: ignore[arg-type]

    summary = {
        "judge_s": {n: r["judge_s"] for n, r in results.items()},
        "gas_per_peer": {n: r["gas_per_peer"] for n, r in results.items()},
        f"judge_growth_{max(ns)}_vs_{min(ns)}": ratio("judge_s"),
        f"gas_per_peer_ratio_{max(ns)}_vs_{min(ns)}": ratio("gas_per_peer"),
        "honest_paid_fraction_min": min(float(r["honest_paid_fraction"]) for r in results.values()),  # type: ignore[arg-type]
        "validator_rss_mb_max": max(float(r["validator_rss_mb"]) for r in results.values()),  # type: ignore[arg-type]
        "per_n": results, "alone": judged, "rounds": rounds, "quick": args.quick,
        "wall_s": round(time.monotonic() - began, 1),
    }
    if len(judged) > 1:
        low, high = min(judged), max(judged)
        summary[f"alone_judge_growth_{high}_vs_{low}"] = round(
            (judged[high]["validate_s"] + judged[high]["aggregate_s"])
            / (judged[low]["validate_s"] + judged[low]["aggregate_s"]), 3)
    if 100 in results and 10 in results:
        summary["judge_growth_100_vs_10"] = round(float(results[100]["judge_s"]) / float(results[10]["judge_s"]), 3)  # type: ignore[arg-type]
        summary["gas_per_peer_ratio_100_vs_10"] = round(
            float(results[100]["gas_per_peer"]) / float(results[10]["gas_per_peer"]), 3)  # type: ignore[arg-type]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
