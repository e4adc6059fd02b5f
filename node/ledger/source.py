"""Open a ledger for a deployment file: connect, index new events, load result documents."""

from __future__ import annotations

from pathlib import Path

from loraswarm.evm import rpc
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.node.ledger.index import LedgerIndex
from loraswarm.node.ledger.views import Ledger, load_results


def sync_ledger(ledger: Ledger, deployment_file: Path, rpc_url: str, confirmations: int = 0) -> None:
    """Index events that arrived since the last sync and reload the result documents."""
    deployment = Deployment.from_file(deployment_file)
    w3 = rpc.connect(rpc_url, deployment.chain_id)
    ledger.index.sync(w3, attach(deployment, w3)["Coordinator"], deployment.block, confirmations)
    ledger.results = load_results(ledger.index, ledger.task, ledger.result_dirs)


def open_ledger(deployment_file: Path, task: int, db: Path, results: list[Path], rpc_url: str,
                confirmations: int = 0) -> Ledger:
    ledger = Ledger(LedgerIndex(db), task, result_dirs=results)
    sync_ledger(ledger, deployment_file, rpc_url, confirmations)
    return ledger


def default_db(deployment_file: Path) -> Path:
    return deployment_file.with_suffix(".ledger.sqlite")
