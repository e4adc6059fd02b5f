"""Wall time of one full round on a real local network, split into every protocol phase a node performs.

Real peer processes (the real model, fortunes data, anvil, the contracts) run a round: two honest
peers that train and validate, a "scaling" attacker (model replacement) and a "zero" free rider,
in ``--quick`` too, so that validation rejects someone and validators send slash transactions.
Each node records the seconds of work it spent per phase of the round (``loraswarm.node.timing``):
the start global's fetch, train, encode, the commit, reading the commit logs, the reveal, publishing
the own update, prefetching the others' deltas, the judging reads (pinned block, logs and state at
it, past tuples), the deltas at judging, decode, validate, aggregate, incentives, saving the
judgement, seal, open, the result note, the outcome reads, the result document's fetch, claims,
slashes, the new global's fetch and its adoption; evaluate and personalize are monitoring, reported
on their own.

The baseline is the node's own training in the same run: ``non_train_fraction = (round_s -
train_s) / round_s``, where ``round_s`` sums the node's protocol phases, reported for the honest
node where it is largest (the worst case a real participant meets: a validator that also trains),
with every node's phases beside it, and ``counted_before``: the same node's figures over the phases
this benchmark counted before every phase was timed, from the same run. Prefetching runs in the
background while the node reveals, so ``round_s`` can count overlapping milliseconds twice;
concurrent fetches of one phase count once. Waiting for a window to close, or between polls, is not
work and is not counted: windows are deadlines the task sets. The attacker and the free rider must
be rejected (their own verdicts, from the round's result document, in their statuses) and unpaid,
the honest peers accepted and paid; tokens slashed (``slashed``, every round of the run) are read
from the chain's SlashExecuted logs.
The run exits 1 otherwise, after its JSON line.

What the work figures cannot see is the waiting. A round's wall time is from its commit window's
opening to the next round's (to its finalization for the last round), read from the chain: the
task's phases end once everyone has acted (``phasesEndEarly``, the default), so the windows are
upper bounds and a round takes what its slowest participant needs (on a task with fixed windows
it is the task's period). ``round_vs_train_ratio`` is that over the slowest honest peer's
training, and ``round_vs_flower_ratio`` that over the same round on
Flower: after the network, the same peers (the attacker and the free rider train honestly there),
data, model, recipe and LoRA settings run as a Flower federation with FedAvg on 127.0.0.1
(harness/flower_round.py), whose server times each round from sending the global to the aggregate.

The measured round is the last one every node worked: round 1 of two (round 0's commit window
also covers the nodes' start: importing torch, loading and evaluating the model, 20-40 s on two
cores, which is not a round's cost).

``--quick`` takes about 95 s on two cores, over the one-minute budget: four node processes import
torch, load the model and evaluate it before they can train, and then run two rounds; a network of
four real nodes does not fit in a minute here.

    python benchmarks/round.py [--quick] [--keep DIR]     # last line: one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from web3 import HTTPProvider, Web3

from loraswarm.demo.network import PeerPlan
from loraswarm.demo.run import DemoConfig, DemoRun, demo_spec, run_network
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.localchain import free_port
from loraswarm.evm.tasks import TaskTerms, read_params
from loraswarm.node.timing import MONITORING, PROTOCOL, Work
from loraswarm.protocol.schedule import Schedule

PLANS = (
    PeerPlan("val0", "honest", True, ("computers",)),
    PeerPlan("val1", "honest", True, ("science",)),
    PeerPlan("scaling", "scaling", False, ("education",)),
    PeerPlan("zero", "zero", False, ("law",)),
)
BEHAVIOUR = {p.name: p.behaviour for p in PLANS}
HONEST = tuple(p.name for p in PLANS if p.behaviour == "honest")
ADVERSARIES = tuple(p.name for p in PLANS if p.behaviour != "honest")
# Verdicts that let an update into the round (NOT_SELECTED: valid, left out by the rule).
PASSED = ("ACCEPTED", "NOT_SELECTED")
QUICK_BUDGET_S = 60.0
ROOT = Path(__file__).resolve().parents[1]
FLOWER_TIMEOUT_S = 600
# What this benchmark counted before every phase was timed (2026-12-04): train, encode, commit,
# gossip+fetch (publish, the deltas at judging), validate+aggregate (decode to incentives), attest
# (seal, open), claim. Summed in the same run, it shows what the newly timed phases add.
COUNTED_BEFORE = (Work.TRAIN, Work.ENCODE, Work.COMMIT, Work.PUBLISH, Work.DELTA_FETCH, Work.DECODE, Work.VALIDATE,
                  Work.AGGREGATE, Work.INCENTIVES, Work.SEAL, Work.OPEN, Work.CLAIM)
# --quick: two rounds, few steps, short reveal and attest windows (the reveal window is what
# `loraswarm task windows --expected-peers 4 --expected-validators 2 --block-time-s 0 --steps 4
# --batch-size 2` suggests). Four nodes importing torch and loading the model at once on two cores
# take 20-40 s before they train: the commit window is the deadline they must train and commit by,
# so it is sized for that, not for the commit itself. The nodes run with the demo's margin
# (LOCAL_MARGIN_S: the chain is on this host).
QUICK = DemoConfig(peers=len(PLANS), rounds=2, validators=2, steps=4, batch_size=2, seq_len=32, eval_records=4,
                   plans=PLANS, terms=TaskTerms(commit_s=40, reveal_s=3, attest_s=10, start_delay_s=14))
FULL = DemoConfig(peers=len(PLANS), rounds=2, validators=2, steps=10, batch_size=4, seq_len=64, plans=PLANS,
                  terms=TaskTerms(commit_s=120, reveal_s=15, attest_s=30, start_delay_s=45))


@dataclass
class ChainFacts:
    """What the run left on chain, read while the chain still answers."""

    slashed: dict[str, int] = field(default_factory=dict)  # tokens per peer name, every round
    wall_s: dict[int, int] = field(default_factory=dict)  # round -> its commit window's opening to the next's
    to_final_s: dict[int, int] = field(default_factory=dict)  # round -> its commit window's opening to finalization
    # round -> seconds from each window's opening to the next's: commit, reveal, seal, open (to the next round's start)
    windows_s: dict[int, list[int]] = field(default_factory=dict)


def _read_chain(run: DemoRun, into: ChainFacts) -> None:
    names = {p.address.lower(): p.plan.name for p in run.peers}
    w3 = Web3(HTTPProvider(run.rpc_url))
    coordinator = attach(Deployment.from_file(run.deployment_file), w3)["Coordinator"]
    for event in coordinator.events["SlashExecuted"]().get_logs(from_block=0):
        name = names.get(event["args"]["account"].lower())
        if name is not None:
            into.slashed[name] = into.slashed.get(name, 0) + event["args"]["amount"]
    params = read_params(coordinator, 1)
    ends = tuple((int(e["args"]["window"]), int(e["args"]["begins"]))
                 for e in coordinator.events["PhaseEnded"]().get_logs(from_block=0))
    schedule = Schedule(int(params["startTime"]), int(params["commitWindow"]), int(params["revealWindow"]),
                        int(params["attestWindow"]), ends)
    now = int(w3.eth.get_block("latest")["timestamp"])
    for event in coordinator.events["RoundFinalized"]().get_logs(from_block=0):
        round_ = int(event["args"]["round"])
        opened, final = schedule.begins(round_ * 4), int(w3.eth.get_block(event["blockNumber"])["timestamp"])
        into.to_final_s[round_] = final - opened
        next_opened = schedule.begins((round_ + 1) * 4)
        into.wall_s[round_] = next_opened - opened if next_opened <= now else final - opened
        if next_opened <= now:
            into.windows_s[round_] = [schedule.begins(w + 1) - schedule.begins(w)
                                      for w in range(round_ * 4, round_ * 4 + 4)]


def flower_rounds(run: DemoRun, config: DemoConfig, workdir: Path) -> dict[int, float]:
    """The same peers, data, model, recipe and LoRA settings as a Flower federation with FedAvg
    (harness/flower_round.py), for as many rounds: seconds per round, as its server timed them."""
    port, out, task_file = free_port(), workdir / "flower.json", workdir / "flower-task.json"
    demo_spec(config).write(task_file)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "harness.flower_round"]
    server = subprocess.Popen([*command, "server", "--port", str(port), "--clients", str(len(run.peers)),
                               "--rounds", str(config.rounds), "--task", str(task_file), "--out", str(out)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients = [subprocess.Popen([*command, "client", "--port", str(port), "--config", str(peer.config)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for peer in run.peers]
    try:
        server.wait(timeout=FLOWER_TIMEOUT_S)
    finally:
        for proc in (server, *clients):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    rounds = json.loads(out.read_text())["round_s"] if out.exists() else {}
    if not rounds:
        raise SystemExit("the Flower federation did not finish its rounds")
    return {int(r): s for r, s in rounds.items()}


def _measured_round(run: DemoRun, config: DemoConfig) -> tuple[str, list[str]]:
    """The last round every node worked (all of them round 0, or round 1 when loading the model
    took them past round 0's commit window: a node that starts late sits out the round it
    missed), and the nodes whose rounds differ from the others'."""
    worked = {name: set(run.statuses[name].timings) for name in BEHAVIOUR}
    common = set.intersection(*worked.values())
    last = max(common, key=int, default=str(config.rounds - 1))
    return last, sorted(name for name in BEHAVIOUR if worked[name] != common)


def _protocol_s(spent: dict[str, float], phases: tuple[Work, ...] = PROTOCOL) -> float:
    return sum(spent.get(p, 0.0) for p in phases)


def _non_train(spent: dict[str, float], phases: tuple[Work, ...] = PROTOCOL) -> float:
    total = _protocol_s(spent, phases)
    return (total - spent.get(Work.TRAIN, 0.0)) / total if total else 0.0


def main() -> None:
    began = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 peers, 2 rounds, few steps")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (node logs, statuses)")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    console = Console(width=160)
    facts = ChainFacts()
    with tempfile.TemporaryDirectory(prefix="loraswarm-round-") as tmp:
        workdir = args.keep or Path(tmp)
        run = run_network(DemoConfig(**{**config.__dict__, "workdir": workdir}), console,
                          on_done=lambda done: _read_chain(done, facts))
        if any(code != 0 for code in run.exit_codes.values()):
            raise SystemExit(f"a peer failed: {run.exit_codes}")
        console.print("the same federation on Flower (FedAvg, no chain, no validation) ...")
        flower = flower_rounds(run, config, workdir)
    slashed = facts.slashed
    last, missing = _measured_round(run, config)
    statuses = run.statuses
    per_node = {name: {k: round(v, 3) for k, v in statuses[name].timings.get(last, {}).items()} for name in BEHAVIOUR}
    busiest = max(HONEST, key=lambda name: _non_train(per_node[name]))  # the worst case: a validator that trains
    phases = per_node[busiest]
    round_s, train_s = _protocol_s(phases), phases.get(Work.TRAIN, 0.0)

    console.print(f"round {last}, seconds of work per phase (protocol phases, then monitoring):")
    for name, spent in per_node.items():
        shown = "  ".join(f"{p} {spent[p]:.3f}" for p in (*PROTOCOL, *MONITORING) if p in spent)
        console.print(f"{name:<8} ({BEHAVIOUR[name]}, {'+'.join(statuses[name].roles)}) protocol "
                      f"{_protocol_s(spent):.2f} s, non-train {_non_train(spent):.3f}: {shown}")
    verdicts = {name: statuses[name].verdicts.get(last, "none") for name in BEHAVIOUR}
    for name, verdict in verdicts.items():
        console.print(f"{name:<8} ({BEHAVIOUR[name]}): verdict {verdict}, rewards "
                      f"{statuses[name].rewards / 10**18:,.2f} LSW, slashed {slashed.get(name, 0) / 10**18:,.2f} "
                      "LSW (all rounds)")
    rejected = all(verdicts[n] not in (*PASSED, "none") and statuses[n].rewards == 0 for n in ADVERSARIES)
    honest_paid = all(verdicts[n] in PASSED and statuses[n].rewards > 0 for n in HONEST)
    console.print(f"attacker and free rider rejected and unpaid: {rejected}; honest peers accepted and paid: "
                  f"{honest_paid}")
    before = {"round_s": round(_protocol_s(phases, COUNTED_BEFORE), 3),
              "non_train_fraction": round(_non_train(phases, COUNTED_BEFORE), 4)}
    console.print(f"{busiest}: protocol {round_s:.2f} s, non-train {_non_train(phases):.4f}; the phases counted "
                  f"before: {before['round_s']:.2f} s, non-train {before['non_train_fraction']:.4f}")
    period_s = facts.wall_s.get(int(last), config.terms.period_s)
    slowest_train_s = max(per_node[n].get(Work.TRAIN, 0.0) for n in HONEST)
    flower_s = flower.get(int(last) + 1, max(flower.values()))  # Flower counts rounds from 1
    round_vs_train = period_s / slowest_train_s if slowest_train_s else None
    round_vs_flower = period_s / flower_s if flower_s else None
    console.print(f"round wall time {period_s} s (commit window to the next; to finalization "
                  f"{facts.to_final_s.get(int(last), 'n/a')} s; the task's period {config.terms.period_s} s); "
                  f"slowest honest training {slowest_train_s:.2f} s; "
                  f"the same round on Flower {flower_s:.2f} s: round/train {round_vs_train or 0:.2f}, "
                  f"round/Flower {round_vs_flower or 0:.2f}")
    wall_s = time.monotonic() - began
    if args.quick and wall_s > QUICK_BUDGET_S:
        console.print(f"note: --quick took {wall_s:.0f} s, over its {QUICK_BUDGET_S:.0f} s budget: four node "
                      "processes start (torch, the model, a base evaluation) and train on two cores")
    if missing:
        console.print(f"error: {missing} did not work the same rounds as the others")
    result = {
        "round_s": round(round_s, 3), "train_s": round(train_s, 3),
        "non_train_fraction": round((round_s - train_s) / round_s, 4) if round_s else None,
        "phases": {p.value: phases.get(p, 0.0) for p in PROTOCOL},
        "evaluate_s": phases.get(Work.EVALUATE, 0.0),
        "node": busiest, "peers": config.peers, "round": int(last), "quick": args.quick,
        "per_node": {name: {"behaviour": BEHAVIOUR[name], "round_s": round(_protocol_s(spent), 3),
                            "non_train_fraction": round(_non_train(spent), 4), "phases": spent}
                     for name, spent in per_node.items()},
        "counted_before": before, "verdicts": verdicts, "slashed": {name: slashed.get(name, 0) for name in BEHAVIOUR},
        "adversaries_rejected": rejected, "honest_paid": honest_paid,
        "round_wall_s": period_s, "commit_to_final_s": facts.to_final_s.get(int(last)),
        "round_windows_s": dict(zip(("commit", "reveal", "seal", "open"), facts.windows_s.get(int(last), []),
                                    strict=False)),
        "slowest_train_s": round(slowest_train_s, 3), "flower_round_s": round(flower_s, 3),
        "flower_rounds_s": {r: round(v, 3) for r, v in flower.items()},
        "round_vs_train_ratio": round(round_vs_train, 3) if round_vs_train else None,
        "round_vs_flower_ratio": round(round_vs_flower, 3) if round_vs_flower else None,
        "wall_s": round(wall_s, 1),
    }
    print(json.dumps(result))
    if missing or not rejected or not honest_paid:
        sys.exit(1)


if __name__ == "__main__":
    main()
