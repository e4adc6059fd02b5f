"""``loraswarm demo``: the main job, end to end on a local chain.

Today it starts a local testnet, deploys the contracts and prints the deployment's state; it grows
with the node into N peers training, validating, committing and claiming over K rounds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from loraswarm.cli.contracts import status_cmd
from loraswarm.scripts import deploy as deploying
from loraswarm.scripts import localchain

console = Console()


def demo_cmd(
    engine: Annotated[str, typer.Option(help="Local chain engine: anvil or hardhat.")] = "anvil",
    port: Annotated[int, typer.Option(help="Port of the local chain (0: any free port).")] = 0,
) -> None:
    """Start a local chain, deploy the contracts, show their state, and stop everything."""
    state_dir = Path(tempfile.mkdtemp(prefix="loraswarm-demo-"))
    chosen = port or localchain.free_port()
    record = localchain.start_chain(engine, chosen, state_dir)  # type: ignore[arg-type]
    try:
        console.rule(f"local {record.engine} chain {record.chain_id} at {record.rpc_url}")
        w3, rpc_url = deploying.connect(deploying.LOCAL, state_dir)
        deployment = deploying.deploy_all(w3, deploying.LOCAL, rpc_url, deploying.deployer_account(w3))
        path = deploying.default_deployment_path(state_dir, deployment.chain_id)
        deploying.write_deployment(deployment, path, force=False)
        status_cmd(deployment_file=path, state_dir=state_dir)
    finally:
        localchain.stop_chain(state_dir)
        console.print(f"stopped the chain; state kept in {state_dir}")

