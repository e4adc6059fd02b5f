"""``loraswarm demo``: a whole local network in one command.

A local testnet, the contracts, a task, N funded peer accounts with keystores and configs, N real
peer processes (``loraswarm node run``) on the real model and fortunes data, K rounds with a live
view, then the ledger and the held-out perplexity per round. Everything started is stopped at
the end or on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from web3 import HTTPProvider, Web3

from loraswarm.demo.network import PeerFiles, PeerPlan, default_plans, make_peers
from loraswarm.errors import PortInUse
from loraswarm.evm import deploy as deploying
from loraswarm.evm import localchain
from loraswarm.evm.tasks import TaskTerms, create_task
from loraswarm.node.status import NodeStatus
from loraswarm.node.task_facts import model_facts
from loraswarm.node.windows import LOCAL_MARGIN_S
from loraswarm.protocol.taskspec import RecipeSection, TaskSpec

PASSWORD_ENV = "LORASWARM_PASSWORD"
DEMO_PASSWORD = "loraswarm-demo"  # throwaway keys of a throwaway chain


@dataclass(frozen=True)
class DemoConfig:
    peers: int = 6
    rounds: int = 2
    validators: int = 3
    steps: int = 10
    batch_size: int = 4
    seq_len: int = 64
    threads: int = 1
    # Held-out records per topic that each node evaluates (monitoring, before round 0 and after
    # each round): fewer let a short run's first round start sooner.
    eval_records: int = 16
    reputation: bool = True
    personal: bool = False  # honest peers keep personal adapters (default plans only)
    # A quarter of the node default: on 2 cores a settlement must leave the next round time to train.
    personal_selection_blocks: int = 8
    plans: tuple[PeerPlan, ...] | None = None  # who runs what (default: default_plans)
    terms: TaskTerms = field(default_factory=TaskTerms)
    engine: str = "anvil"
    workdir: Path | None = None
    key_seed: str | None = None  # reproducible peer accounts (make_peers); None: fresh keys
    chain_host: str = localchain.HOST  # where the chain listens (a namespace network's gateway)
    # The chain runs on the nodes' host and stamps blocks by its clock: the nodes' `[chain]
    # margin_s`, and the task's pin grace (2.5 margins).
    margin_s: float = LOCAL_MARGIN_S
    pin_grace_s: float = 2.5 * LOCAL_MARGIN_S


# `loraswarm demo`: six peers (four honest, three of them validators), two rounds.
FULL_DEMO = DemoConfig()
# `loraswarm demo --quick`: the whole story (honest peers, an attacker, a free rider, rewards and
# slashes) in about a minute and a half on two cores: one round, few steps, short windows. Five
# nodes load the model at once on two cores in ~20-30 s; round 0 starts after that, so that each
# has its round-0 update ready when the commit window opens.
QUICK_DEMO = DemoConfig(peers=5, rounds=1, validators=2, steps=4, batch_size=2, seq_len=32, eval_records=4,
                        terms=TaskTerms(commit_s=30, reveal_s=5, attest_s=10, start_delay_s=35))


@dataclass(frozen=True)
class DemoRun:
    workdir: Path
    deployment_file: Path
    rpc_url: str
    peers: list[PeerFiles]
    statuses: dict[str, NodeStatus]
    exit_codes: dict[str, int]


def launch(peer: PeerFiles, rounds: int, env: Mapping[str, str] | None = None,
           prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Start a node process; ``env`` adds variables (e.g. crash points in fault tests), ``prefix``
    wraps the command (e.g. ``ip netns exec <ns>`` in network fault tests)."""
    peer.data_dir.mkdir(parents=True, exist_ok=True)
    log = (peer.data_dir / "stdout.log").open("ab")  # a restarted node appends
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "loraswarm.cli", "node", "run", "--config", str(peer.config),
         "--rounds", str(rounds), "--log-file", str(peer.data_dir / "node.log")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {}), PASSWORD_ENV: DEMO_PASSWORD}, start_new_session=True,
    )


def stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def status_table(peers: list[PeerFiles], statuses: dict[str, NodeStatus], title: str) -> Table:
    table = Table("peer", "behaviour", "roles", "round", "phase", "detail", "rewards (LSW)", "verdicts",
                  title=title)
    for peer in peers:
        s = statuses.get(peer.plan.name)
        if s is None:
            table.add_row(peer.plan.name, peer.plan.behaviour, "", "", "starting", "", "", "")
            continue
        verdicts = " ".join(f"r{r}:{v}" for r, v in sorted(s.verdicts.items()))
        table.add_row(s.name, s.behaviour, "+".join(s.roles), str(s.round), s.phase, s.detail[:40],
                      f"{s.rewards / 10**18:,.2f}", verdicts)
    return table


@dataclass(frozen=True)
class Network:
    workdir: Path
    deployment_file: Path
    rpc_url: str
    peers: list[PeerFiles]


def _start_chain(config: DemoConfig, chain_dir: Path, attempts: int = 3) -> localchain.ChainRecord:
    """The network's chain on a free port; another port when something took the one picked before
    the chain could bind it (any process's outgoing connection may)."""
    for attempt in range(attempts):
        try:
            return localchain.start_chain(config.engine, localchain.free_port(config.chain_host),  # type: ignore[arg-type]
                                          chain_dir, block_time=1, host=config.chain_host)
        except PortInUse:
            if attempt + 1 == attempts:
                raise
    raise AssertionError("attempts must be positive")


def demo_spec(config: DemoConfig) -> TaskSpec:
    """The task file a local network's task fixes (its id is 1: the network deploys afresh)."""
    return TaskSpec(task_id=1, seq_len=config.seq_len, validator_stake=config.terms.validator_stake,
                    reputation=config.reputation, pin_grace_s=config.pin_grace_s,
                    recipe=RecipeSection(steps=config.steps, batch_size=config.batch_size))


@contextmanager
def local_network(config: DemoConfig, console: Console) -> Iterator[Network]:
    """A local chain with the contracts, a task, and funded peer accounts with configs; the chain
    stops when the block exits."""
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="loraswarm-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    chain_dir = workdir / "chain"
    record = _start_chain(config, chain_dir)
    try:
        w3 = Web3(HTTPProvider(record.rpc_url))
        owner = w3.eth.accounts[0]
        deployment = deploying.deploy_all(w3, deploying.LOCAL, record.rpc_url, owner)
        deployment_file = deploying.default_deployment_path(chain_dir, deployment.chain_id)
        deploying.write_deployment(deployment, deployment_file, force=False)
        console.print(f"chain {record.engine} at {record.rpc_url}; contracts deployed: {deployment.addresses}")
        spec = demo_spec(config)
        task_file = workdir / "task.json"
        spec.write(task_file)
        console.print("loading the base model to derive the task's hashes ...")
        facts = model_facts(spec)
        create_task(w3, deployment, owner, spec, config.terms, facts.model_hash, facts.initial_global)
        plans = list(config.plans) if config.plans else default_plans(config.peers, config.validators,
                                                                       personal=config.personal)
        training = {"threads": config.threads,
                    "eval_records": config.eval_records,
                    "personal_selection_blocks": config.personal_selection_blocks}
        peers = make_peers(w3, deployment, owner, plans, workdir, task_file, deployment_file, record.rpc_url,
                           DEMO_PASSWORD, config.terms, training, config.key_seed, config.margin_s)
        console.print(f"task 1 created (base model {facts.model_hash[:14]}..., initial global "
                      f"{facts.initial_global[:14]}...); {len(peers)} peers in {workdir}")
        yield Network(workdir, deployment_file, record.rpc_url, peers)
    finally:
        localchain.stop_chain(chain_dir)


def read_statuses(peers: list[PeerFiles], into: dict[str, NodeStatus]) -> dict[str, NodeStatus]:
    for peer in peers:
        if (s := NodeStatus.read(peer.data_dir / "status.json")) is not None:
            into[peer.plan.name] = s
    return into


def run_network(config: DemoConfig, console: Console, timeout_s: float | None = None,
                on_done: Callable[[DemoRun], None] | None = None) -> DemoRun:
    """Run the network to completion (or timeout) and return what each peer reported;
    ``on_done`` runs while the chain still answers (to read the ledger)."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with local_network(config, console) as net:
        try:
            procs = {p.plan.name: launch(p, config.rounds) for p in net.peers}
            budget = timeout_s or config.terms.start_delay_s + (config.rounds + 1) * config.terms.period_s + 120
            deadline = time.monotonic() + budget
            statuses: dict[str, NodeStatus] = {}
            title = f"loraswarm demo: {config.rounds} rounds"
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
                    live.update(status_table(net.peers, read_statuses(net.peers, statuses), title))
                    time.sleep(0.5)
                live.update(status_table(net.peers, read_statuses(net.peers, statuses), title))
            console.line()  # a live view written to a file or pipe ends without one
            codes = {name: code if (code := proc.poll()) is not None else -1 for name, proc in procs.items()}
            run = DemoRun(net.workdir, net.deployment_file, net.rpc_url, net.peers, statuses, codes)
            if on_done is not None:
                on_done(run)
            return run
        finally:
            stop(procs)
