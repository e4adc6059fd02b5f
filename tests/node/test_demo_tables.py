"""The demo's perplexity table: the global after each round, and personal adapters where peers
keep them."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from loraswarm.cli.demo import ppl_table
from loraswarm.demo.network import PeerFiles, PeerPlan
from loraswarm.demo.run import DemoRun
from loraswarm.node.status import NodeStatus


def _render(run: DemoRun) -> list[list[str]]:
    console = Console(width=200, record=True)
    console.print(ppl_table(run, 2))
    return [[c.strip() for c in line.split("│")[1:-1]] for line in console.export_text().splitlines() if "│" in line]


def _run(personal: bool) -> DemoRun:
    plans = [PeerPlan("peer0", "honest", True, ("food",), personal=personal),
             PeerPlan("peer1", "zero", False, ("law",))]
    peers = [PeerFiles(p, f"0x{i:040x}", Path(f"{p.name}.toml"), Path(p.name)) for i, p in enumerate(plans)]
    statuses = {"peer0": NodeStatus("peer0", "0x0", ["trainer"], "honest",
                                    ppl={"base": 90.0, "global@0": 80.0, "personal@0": 75.0, "global@1": 70.0})}
    return DemoRun(Path("."), Path("d.json"), "http://127.0.0.1:1", peers, statuses, {"peer0": 0, "peer1": 0})


def test_personal_columns_only_when_a_peer_keeps_a_personal_adapter() -> None:
    rows = _render(_run(personal=True))
    assert ["peer0", "food", "90.0", "80.0", "70.0", "75.0", "-"] in rows, rows
    assert ["peer1", "law", "nan", "-", "-", "-", "-"] in rows, rows
    rows = _render(_run(personal=False))
    assert ["peer0", "food", "90.0", "80.0", "70.0"] in rows, rows
