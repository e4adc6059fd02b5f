"""``loraswarm compile``, ``deploy`` and ``status``."""

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
from loraswarm.evm import deploy as deploying
from loraswarm.evm import localchain, rpc
from loraswarm.evm.compile import compile_contracts

console = Console()


def compile_cmd(force: Annotated[bool, typer.Option(help="Rebuild even if nothing changed.")] = False) -> None:
    """Compile contracts/ offline (solcjs behind scripts/solc) into build/contracts."""
    artifacts = compile_contracts(force=force)
    for artifact in artifacts.values():
        size = (len(artifact.deployed_bytecode) - 2) // 2
        console.print(f"{artifact.name:<24} {size:>6} bytes deployed  abi {artifact.abi_hash[:18]}")


def deploy_cmd(
    network: Annotated[
        str, typer.Option(help="embedded, local (the chain from `chain up`) or an RPC URL.")
    ] = "local",
    out: Annotated[
        Path | None, typer.Option(help="Deployment file (default: <state-dir>/deployments/<chain-id>.json).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing deployment file.")] = False,
    keystore: Keystore = None,
    password_env: PasswordEnv = PASSWORD_ENV_DEFAULT,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Deploy the contracts and write the deployment file that nodes and the CLI read. The deployer
    is the keystore's account, else LORASWARM_DEPLOYER_KEY's, else the chain's first dev account;
    it owns the coordinator (creates tasks) and holds the token supply."""
    account = unlock(keystore, password_env) if keystore else None
    w3, rpc_url = deploying.connect(network, state_dir)
    chain_id = int(w3.eth.chain_id)
    path = out or deploying.default_deployment_path(state_dir, chain_id)
    embedded = network == deploying.EMBEDDED
    if not embedded:
        deploying.check_deployment_file(path, force)
    deployment = deploying.deploy_all(w3, network, rpc_url, deploying.deployer_account(w3, account))
    for name, address in deployment.addresses.items():
        console.print(f"{name:<16} {address}")
    if embedded and out is None:
        console.print("embedded chain: it ends with this process, so no deployment file was written")
        return
    deploying.write_deployment(deployment, path, force)
    console.print(f"chain id {deployment.chain_id}, block {deployment.block}; wrote {path}")


def status_cmd(
    deployment_file: Annotated[Path | None, typer.Option("--deployment", help="Deployment file to check.")] = None,
    rpc_url: RpcUrl = None,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Check a deployment against its chain and print the contracts' state."""
    if deployment_file is None:
        deployment_file = deploying.default_deployment_path(state_dir, localchain.read_record(state_dir).chain_id)
    deployment = deploying.Deployment.from_file(deployment_file)
    endpoint = rpc.resolve(rpc_url, deployment.chain_id, state_dir)
    w3 = rpc.connect(endpoint, deployment.chain_id)
    contracts = deploying.attach(deployment, w3)
    token = contracts["RewardToken"]
    table = Table("what", "value", title=f"deployment on chain {deployment.chain_id}")
    table.add_row("rpc url", endpoint)
    table.add_row("block (deployed / now)", f"{deployment.block} / {w3.eth.block_number}")
    for name, contract in contracts.items():
        table.add_row(name, contract.address)
    supply = token.functions.totalSupply().call()
    table.add_row("token supply", f"{supply / 10**18:,.0f} {token.functions.symbol().call()}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_cmd)
    app.command("deploy")(deploy_cmd)
    app.command("status")(status_cmd)
