"""``loraswarm ledger peers|rounds|peer ADDR|round R|serve``: contributions, rewards, rejections
and slashes from chain events, as a table, JSON or CSV, or as a web page."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loraswarm.node.ledger.source import default_db, open_ledger
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
RpcOpt = Annotated[str | None, typer.Option("--rpc-url", help="Override the deployment's RPC URL.")]
ConfirmOpt = Annotated[int, typer.Option(help="Index only blocks this deep.")]


def _open(deployment: Path, task: int, results: list[Path] | None, rpc_url: str | None, confirmations: int) -> Ledger:
    return open_ledger(deployment, task, default_db(deployment), results or [], confirmations, rpc_url)


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
                                           "claimed", "reward"}:
        return f"{value / 10**18:,.2f}"
    if isinstance(value, dict):
        return " ".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list):
        return "+".join(map(str, value))
    return str(value)


@app.command("peers")
def peers(deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None, as_json: JsonOpt = False,
          as_csv: CsvOpt = False, rpc_url: RpcOpt = None, confirmations: ConfirmOpt = 0) -> None:
    """Per peer: roles, stakes, commits, accepted/rejected by reason, rewards, slashes."""
    _emit(_open(deployment, task, results, rpc_url, confirmations).peers(), as_json, as_csv, "peers (LSW)")


@app.command("rounds")
def rounds(deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None, as_json: JsonOpt = False,
           as_csv: CsvOpt = False, rpc_url: RpcOpt = None, confirmations: ConfirmOpt = 0) -> None:
    """Per round: status, commits, attestations, accepted/rejected, pool, claimed, slashed."""
    _emit(_open(deployment, task, results, rpc_url, confirmations).rounds(), as_json, as_csv, "rounds (LSW)")


@app.command("peer")
def peer(address: str, deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None,
         as_json: JsonOpt = False, as_csv: CsvOpt = False, rpc_url: RpcOpt = None,
         confirmations: ConfirmOpt = 0) -> None:
    """One peer, round by round."""
    _emit(_open(deployment, task, results, rpc_url, confirmations).peer(address), as_json, as_csv, address)


@app.command("round")
def round_(number: int, deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None,
           as_json: JsonOpt = False, as_csv: CsvOpt = False, rpc_url: RpcOpt = None,
           confirmations: ConfirmOpt = 0) -> None:
    """One round, peer by peer."""
    _emit(_open(deployment, task, results, rpc_url, confirmations).round(number), as_json, as_csv,
          f"round {number}")


@app.command("serve")
def serve(deployment: DeploymentOpt, task: TaskOpt = 1, results: ResultsOpt = None,
          port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8700, rpc_url: RpcOpt = None,
          confirmations: ConfirmOpt = 0) -> None:
    """Serve the ledger as a web page with tables and plots, refreshed as rounds finalize."""
    from loraswarm.node.ledger.source import sync_ledger
    from loraswarm.node.ledger.web import make_server, snapshot

    ledger = _open(deployment, task, results, rpc_url, confirmations)
    chain_id = json.loads(deployment.read_text())["chain_id"]

    def load() -> dict[str, Any]:
        sync_ledger(ledger, deployment, rpc_url, confirmations)
        return snapshot(ledger, chain_id, results or [])

    server = make_server(port, load)
    typer.echo(f"ledger page: http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
