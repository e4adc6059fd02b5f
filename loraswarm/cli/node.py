"""``loraswarm node run``: run one peer from its TOML config; ``loraswarm node status``: what it
reports."""

from __future__ import annotations

import json
from dataclasses import asdict
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


@app.command("status")
def status(
    config: Annotated[Path, typer.Option("--config", help="The peer's TOML config.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status file as JSON.")] = False,
) -> None:
    """Show a node's round, phase, rewards, verdicts and held-out perplexities (base model, global
    and personal adapter after each round), read from its status file (the node need not run)."""
    from rich.console import Console
    from rich.table import Table

    from loraswarm.node.status import NodeStatus

    path = load_config(config).node.data_dir / "status.json"
    found = NodeStatus.read(path)
    if found is None:
        raise typer.BadParameter(f"no node status at {path}: has this node run yet?", param_hint="--config")
    if as_json:
        typer.echo(json.dumps(asdict(found), sort_keys=True))
        return
    console = Console()
    console.print(f"{found.name} {found.address} ({'+'.join(found.roles)}, {found.behaviour}): round {found.round}, "
                  f"{found.phase}{f' ({found.detail})' if found.detail else ''}; {found.committed} commits, "
                  f"{found.attested} attestations, {found.rewards / 10**18:,.2f} LSW claimed in "
                  f"{found.claimed_rounds} rounds")
    base = found.ppl.get("base", float("nan"))
    table = Table("round", "own verdict", "ppl global", "ppl personal",
                  title=f"held-out perplexity on the node's own text (base model {base:.2f})")
    for round_ in sorted({int(k.split("@")[1]) for k in found.ppl if "@" in k} | {int(r) for r in found.verdicts}):
        cells = [f"{found.ppl[k]:.2f}" if (k := f"{name}@{round_}") in found.ppl else "-"
                 for name in ("global", "personal")]
        table.add_row(str(round_), found.verdicts.get(str(round_), "-"), *cells)
    console.print(table)
