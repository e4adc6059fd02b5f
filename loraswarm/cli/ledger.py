"""``loraswarm ledger peers|rounds|peer ADDR|round R|serve``: contributions, rewards, rejections
and slashes from chain events, as a table, JSON or CSV, or as a web page."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loraswarm.cli.options import STATE_DIR_DEFAULT, RpcUrl, StateDir
from loraswarm.evm import rpc
from loraswarm.evm.deploy import Deployment

if TYPE_CHECKING:  # the ledger's views import torch (through consensus): seconds every command would pay
    from loraswarm.node.ledger.views import Ledger

app = typer.Typer(help="Query the contribution ledger of a deployment.", no_args_is_help=True)
console = Console(width=200)

DeploymentOpt = Annotated[Path, typer.Option("--deployment", help="Deployment file written by `loraswarm deploy`.")]
TaskOpt = Annotated[int, typer.Option("--task", help="Task id.")]
ResultsOpt = Annotated[
    list[Path] | None, typer.Option("--results", help="Node data dir(s) whose results/ add verdicts and reasons.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
ConfirmOpt = Annotated[int, typer.Option(help="Index only blocks this deep.")]


def _endpoint(deployment: Path, rpc_url: str | None, state_dir: Path) -> str:
    return rpc.resolve(rpc_url, Deployment.from_file(deployment).chain_id, state_dir)


def _open(deployment: Path, task: int, results: list[Path] | None, rpc_url: str | None, confirmations: int,
          state_dir: Path) -> Ledger:
    from loraswarm.node.ledger.source import default_db, open_ledger

    ledger = open_ledger(deployment, task, default_db(deployment), results or [],
                         _endpoint(deployment, rpc_url, state_dir), confirmations)
    ledger.check_task()
    return ledger


def _emit(rows: list[Any], as_json: bool, as_csv: bool, title: str) -> None:
    dicts = [asdict(r) for r in rows]
    if as_json:
        typer.echo(json.dumps(dicts, indent=1))
        return
    if as_csv:
        out = io.StringIO()
        if dicts:
            writer = csv.DictWriter(out, fieldnames=list(dicts[0]))
            writer.writeheader()
            for d in dicts:
                writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in d.items()})
        typer.echo(out.getvalue().rstrip("\n"))
        return
    table = Table(*(dicts[0].keys() if dicts else ["(empty)"]), title=title)
    for d in dicts:
        table.add_row(*(_cell(k, v) for k, v in d.items()))
    console.print(table)


def _cell(key: str, value: Any) -> str:
    if key == "reputation":
        return "-" if value is None else f"{value / 10_000:.1f}%"
    if isinstance(value, int) and key in {"peer_stake", "validator_stake", "rewards_claimed", "slashed", "pool",
                                           "claimed", "reward", "amount"}:
        return f"{value / 10**18:,.2f}"
    if key == "txs":
        return " ".join(tx[:10] for tx in value)
    if isinstance(value, dict):
        return " ".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list):
        return "+".join(map(str, value))
    return str(value)


@app.command("peers")
def peers(deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None, as_json: JsonOpt = False,
          as_csv: CsvOpt = False, rpc_url: RpcUrl = None, confirmations: ConfirmOpt = 0,
          state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """Per peer: roles, stakes, commits, accepted/rejected by reason, rewards, slashes."""
    _emit(_open(deployment, task, results, rpc_url, confirmations, state_dir).peers(), as_json, as_csv,
          "peers (LSW)")


@app.command("rounds")
def rounds(deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None, as_json: JsonOpt = False,
           as_csv: CsvOpt = False, rpc_url: RpcUrl = None, confirmations: ConfirmOpt = 0,
           state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """Per round: status, commits, attestations, accepted/rejected, pool, claimed, slashed."""
    _emit(_open(deployment, task, results, rpc_url, confirmations, state_dir).rounds(), as_json, as_csv,
          "rounds (LSW)")


@app.command("peer")
def peer(address: str, deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None,
         as_json: JsonOpt = False, as_csv: CsvOpt = False, rpc_url: RpcUrl = None,
         confirmations: ConfirmOpt = 0, state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """One peer, round by round."""
    rpc.check_address(address)  # before connecting: a typo is not a chain problem
    _emit(_open(deployment, task, results, rpc_url, confirmations, state_dir).peer(address), as_json, as_csv,
          address)


@app.command("round")
def round_(number: int, deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None,
           as_json: JsonOpt = False, as_csv: CsvOpt = False, rpc_url: RpcUrl = None,
           confirmations: ConfirmOpt = 0, state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """One round, peer by peer."""
    _emit(_open(deployment, task, results, rpc_url, confirmations, state_dir).round(number), as_json, as_csv,
          f"round {number}")


@app.command("slashes")
def slashes(deployment: DeploymentOpt, task: TaskOpt = 1, as_json: JsonOpt = False, as_csv: CsvOpt = False,
            rpc_url: RpcUrl = None, confirmations: ConfirmOpt = 0, state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """Every executed slash: round, account, amount, reason, transaction."""
    _emit(_open(deployment, task, None, rpc_url, confirmations, state_dir).slashes(), as_json, as_csv,
          "slashes (LSW)")


@app.command("serve")
def serve(deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None,
          port: Annotated[int, typer.Option(help="TCP port of the page.")] = 8700,
          host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
          explorer: Annotated[str | None, typer.Option(
              help="Transaction URL template of a block explorer, e.g. https://sepolia.etherscan.io/tx/{tx}; the "
                   "page links transaction hashes through it.")] = None,
          rpc_url: RpcUrl = None, confirmations: ConfirmOpt = 0, state_dir: StateDir = STATE_DIR_DEFAULT) -> None:
    """Serve the ledger as a web page with tables and plots, refreshed as rounds finalize."""
    from loraswarm.node.ledger.source import sync_ledger
    from loraswarm.node.ledger.web import make_server, snapshot

    endpoint = _endpoint(deployment, rpc_url, state_dir)
    ledger = _open(deployment, task, results, endpoint, confirmations, state_dir)
    chain_id = Deployment.from_file(deployment).chain_id

    def load() -> dict[str, Any]:
        sync_ledger(ledger, deployment, endpoint, confirmations)
        return snapshot(ledger, chain_id, results or [], explorer)

    if explorer is not None and "{tx}" not in explorer:
        raise typer.BadParameter("the template must contain {tx}", param_hint="--explorer")
    server = make_server(port, load, host)
    typer.echo(f"ledger page: http://{host}:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
