"""``loraswarm stake|unstake|withdraw|leave|release|claim``: a peer operator's money by hand.

Each command reads the peer's config (its keystore, deployment, task file and RPC endpoint),
says what it will send, sends it (``--dry-run``: only says), and shows the account's stake and
balances before and after with the transaction hashes. A running node sends its own
transactions from the same account: stop it first, or a command and the node may race for a
nonce (the node re-sends what it journaled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.contract import Contract

from loraswarm.cli.options import unlock
from loraswarm.errors import NotFound
from loraswarm.evm import rpc, stakes
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.funds import parse_amount
from loraswarm.evm.logs import logs_between
from loraswarm.node.config import NodeConfig, load_config
from loraswarm.protocol.taskspec import TaskSpec

console = Console(width=160)

ConfigOpt = Annotated[Path, typer.Option("--config", help="The peer's TOML config (`loraswarm node init`).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would be sent; send nothing.")]


@dataclass(frozen=True)
class Session:
    config: NodeConfig
    account: LocalAccount
    deployment: Deployment
    w3: Web3
    contracts: dict[str, Contract]
    task_id: int

    def position(self) -> stakes.Position:
        return stakes.Position.read(self.w3, self.contracts, self.account.address, self.task_id)


def _session(config_path: Path) -> Session:
    config = load_config(config_path)
    account = unlock(config.keys.keystore, config.keys.password_env)
    deployment = Deployment.from_file(config.chain.deployment)
    w3 = rpc.connect(rpc.resolve(config.chain.rpc_url, deployment.chain_id), deployment.chain_id)
    return Session(config, account, deployment, w3, attach(deployment, w3),
                   TaskSpec.read(config.chain.task_file).task_id)


def _run(session: Session, plan_of: Callable[[stakes.Position], stakes.Plan], dry_run: bool) -> None:
    before = session.position()
    plan = plan_of(before)
    console.print(f"[bold]{plan.summary}[/bold]")
    for i, (what, _call) in enumerate(plan.calls, start=1):
        console.print(f"  {i}. {what}")
    if dry_run:
        _show(session.task_id, before, None, [])
        return
    hashes = stakes.execute(session.w3, session.account, plan,
                            lambda what, tx: console.print(f"  sent: {what}: tx {tx}"))
    _show(session.task_id, before, session.position(), hashes)


def _show(task_id: int, before: stakes.Position, after: stakes.Position | None, hashes: list[str]) -> None:
    table = Table("", "before", *(["after"] if after else []), title=f"account {before.address}")
    for (what, was), now in zip(before.rows(task_id), after.rows(task_id) if after else [None] * 99, strict=False):
        table.add_row(what, was, *([now[1]] if now else []))
    console.print(table)
    for tx in hashes:
        console.print(f"tx {tx}")


def _units(amount: str) -> int:
    return parse_amount(amount, "LSW")


def stake_cmd(amount: Annotated[str, typer.Argument(help="LSW to stake (e.g. 120 or 0.5).")], config: ConfigOpt,
              dry_run: DryRun = False) -> None:
    """Stake LSW into the escrow (a node stakes what its roles need by itself when it starts)."""
    session = _session(config)
    _run(session, lambda pos: stakes.plan_stake(session.w3, session.contracts, pos, _units(amount)), dry_run)


def unstake_cmd(config: ConfigOpt,
                amount: Annotated[str | None, typer.Argument(
                    help="LSW to unstake (default: all free stake).")] = None,
                dry_run: DryRun = False) -> None:
    """Request to unstake free stake; `withdraw` pays it out after the escrow's delay."""
    session = _session(config)
    _run(session, lambda pos: stakes.plan_unstake(session.contracts, pos, None if amount is None else _units(amount),
                                                  stakes.chain_now(session.w3)), dry_run)


def withdraw_cmd(config: ConfigOpt, dry_run: DryRun = False) -> None:
    """Withdraw stake whose unstake delay has passed."""
    session = _session(config)
    _run(session, lambda pos: stakes.plan_withdraw(session.contracts, pos, stakes.chain_now(session.w3)), dry_run)


def leave_cmd(config: ConfigOpt, dry_run: DryRun = False) -> None:
    """Ask to leave the task: the stake stays locked until the next round's end, then `release`."""
    session = _session(config)
    _run(session, lambda pos: stakes.plan_leave(session.contracts, pos, session.task_id,
                                                  stakes.chain_now(session.w3)), dry_run)


def release_cmd(config: ConfigOpt, dry_run: DryRun = False) -> None:
    """Unlock the stake a task held after `leave`, once its last round's slash deadline passed."""
    session = _session(config)
    _run(session, lambda pos: stakes.plan_release(session.contracts, pos, session.task_id,
                                                  stakes.chain_now(session.w3)), dry_run)


def claim_cmd(config: ConfigOpt,
              rounds: Annotated[list[int] | None, typer.Option(
                  "--round", help="Round(s) to claim (default: every finalized round).")] = None,
              dry_run: DryRun = False) -> None:
    """Claim peer rewards (Merkle proofs from the round result documents in the node's data dir)
    and validator shares of finalized rounds; a running node claims by itself."""
    session = _session(config)
    claims = _peer_claims(session, rounds)
    _run(session, lambda pos: stakes.plan_claims(session.contracts, pos.address, session.task_id, claims,
                                                                   stakes.chain_now(session.w3)), dry_run)


def _peer_claims(session: Session, rounds: list[int] | None) -> dict[int, stakes.PeerClaim | None]:
    """Per finalized round asked for: the peer's claim in its result document (None without a
    document or a reward: its validator share may still be due)."""
    from loraswarm.node.round_result import ResultMismatch, RoundResult

    coordinator = session.contracts["Coordinator"]
    finalized = {int(e["args"]["round"]): e["args"] for e in logs_between(
        coordinator.events.RoundFinalized(), session.deployment.block, int(session.w3.eth.block_number),
        {"taskId": session.task_id})}
    results = session.config.node.data_dir / "results"
    wanted = sorted(finalized) if rounds is None else rounds
    claims: dict[int, stakes.PeerClaim | None] = {}
    for round_ in wanted:
        args = finalized.get(round_)
        if args is None:
            raise NotFound(f"round {round_} of task {session.task_id} is not finalized (finalized: "
                           f"{', '.join(map(str, sorted(finalized))) or 'none yet'})")
        path = results / f"{round_}.json"
        claim = None
        if path.is_file():
            try:
                result = RoundResult.decode(path.read_bytes())
                result.check((*(bytes(args[k]) for k in ("acceptedRoot", "globalHash", "rewardsRoot", "slashRoot")),
                              int(args["peerPool"])))  # type: ignore[arg-type]
            except ResultMismatch as exc:
                raise NotFound(f"{path} is not round {round_}'s finalized result ({exc}): delete it and let the node "
                               "fetch it again") from None
            found = result.claim_of(session.account.address)
            claim = stakes.PeerClaim(found.index, found.amount, list(found.proof)) if found else None
        claims[round_] = claim
    return claims


def register(app: typer.Typer) -> None:
    for name, command in (("stake", stake_cmd), ("unstake", unstake_cmd), ("withdraw", withdraw_cmd),
                          ("leave", leave_cmd), ("release", release_cmd), ("claim", claim_cmd)):
        app.command(name, rich_help_panel="Operator (your account's stake and rewards)")(command)
