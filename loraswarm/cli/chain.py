"""``loraswarm chain up|down|status``: a local testnet on 127.0.0.1."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loraswarm.cli.options import STATE_DIR_DEFAULT, StateDir
from loraswarm.evm import localchain

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
