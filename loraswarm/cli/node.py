"""``loraswarm node run``: run one peer from its TOML config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loraswarm.node.config import load_config

app = typer.Typer(help="Run a peer node.", no_args_is_help=True)


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="The peer's TOML config.")],
    rounds: Annotated[int | None, typer.Option(
        help="Stop after this many rounds, counting those finished before a restart (default: run forever).")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Write the node's log here (default: stderr).")] = None,
) -> None:
    """Train, gossip, validate, attest and claim, round after round, until stopped."""
    from loraswarm.node.daemon import run_node  # torch and libp2p load only when a node runs

    run_node(load_config(config), max_rounds=rounds, log_file=log_file)
