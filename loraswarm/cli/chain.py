"""``loraswarm chain up|down|status|fund``: a local testnet on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loraswarm.cli.options import (
    PASSWORD_ENV_DEFAULT,
    STATE_DIR_DEFAULT,
    Keystore,
    PasswordEnv,
    RpcUrl,
    StateDir,
    unlock,
)
from loraswarm.errors import BadAmount
from loraswarm.evm import deploy, funds, localchain, rpc

app = typer.Typer(help="Start, stop and inspect a local EVM testnet.", no_args_is_help=True)
console = Console()


@app.command("up")
def up(
    engine: Annotated[str, typer.Option(help="anvil (fast) or hardhat.")] = "anvil",
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = localchain.DEFAULT_PORT,
    block_time: Annotated[
        int, typer.Option(help="Mine a block every N seconds, as a live chain does (0: only when a transaction "
                               "arrives; nodes then wait a few seconds longer to fix a round's pinned block).")
    ] = 1,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Start a local testnet, wait until it answers, and print its RPC URL and dev accounts."""
    if engine not in localchain.ENGINES:
        raise typer.BadParameter(f"engine must be one of {', '.join(localchain.ENGINES)}", param_hint="--engine")
    record = localchain.start_chain(engine, port, state_dir, block_time or None)  # type: ignore[arg-type]
    console.print(f"{record.engine} running: pid {record.pid}, chain id {record.chain_id}")
    console.print(f"rpc url: {record.rpc_url}")
    table = Table("account", "balance (ETH)", title="funded dev accounts")
    for address, balance in localchain.dev_accounts(record.rpc_url):
        table.add_row(address, f"{balance / 10**18:,.0f}")
    console.print(table)


@app.command("down")
def down(state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """Stop the chain that `chain up` started (and nothing else)."""
    record = localchain.stop_chain(state_dir)
    console.print(f"stopped {record.engine} (pid {record.pid}) on {record.rpc_url}")


@app.command("status")
def status(state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """Show the recorded chain and whether it answers."""
    record = localchain.read_record(state_dir)
    chain_id = localchain.rpc_chain_id(record.rpc_url)
    console.print(f"{record.engine} pid {record.pid} at {record.rpc_url}, chain id {chain_id}")


@app.command("fund")
def fund(
    address: Annotated[str, typer.Argument(help="The account to fund (e.g. a peer's, from `keys new`).")],
    eth: Annotated[str, typer.Option(help="ETH for gas (e.g. 1), from the chain's first dev account or --keystore's.")
                   ] = "0",
    lsw: Annotated[str, typer.Option(
        help="Reward tokens to stake, from the deployer or --keystore's account (the default task asks 100 of a peer "
             "and 1,000 more of a validator).")] = "0",
    deployment_file: Annotated[Path | None, typer.Option(
        "--deployment", help="Deployment file (default: the local chain's in --state-dir).")] = None,
    keystore: Keystore = None,
    password_env: PasswordEnv = PASSWORD_ENV_DEFAULT,
    rpc_url: RpcUrl = None,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Send an account ETH for gas and LSW to stake: on a local chain from its dev accounts and the
    deployer, on any chain from --keystore's account (e.g. the deployer's, which holds the LSW)."""
    account = rpc.check_address(address)
    wei, units = funds.parse_amount(eth, "ETH", allow_zero=True), funds.parse_amount(lsw, "LSW", allow_zero=True)
    if not wei and not units:
        raise BadAmount("nothing to send: give --eth N and/or --lsw N")
    sender = unlock(keystore, password_env) if keystore else None
    if deployment_file is None:
        deployment_file = deploy.default_deployment_path(state_dir, localchain.read_record(state_dir).chain_id)
    deployment = deploy.Deployment.from_file(deployment_file)
    w3 = rpc.connect(rpc.resolve(rpc_url, deployment.chain_id, state_dir), deployment.chain_id)
    token = deploy.attach(deployment, w3)["RewardToken"]
    done = funds.fund(w3, token, deployment.deployer, account, wei, units, sender)
    console.print(f"sent {funds.ether(wei)} ETH and {funds.tokens(units)} LSW to {done.address} on chain "
                  f"{deployment.chain_id} "
                  f"(tx {', '.join(done.tx_hashes) or 'none'}); it now holds {funds.ether(done.eth)} ETH and "
                  f"{funds.tokens(done.lsw)} LSW")
