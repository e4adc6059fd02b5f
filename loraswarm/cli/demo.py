"""``loraswarm demo``: the main job. A local chain, the contracts, N real peer processes on the
real model and fortunes data, K rounds with a live view; then the ledger and the perplexities."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loraswarm.demo.run import FULL_DEMO, QUICK_DEMO, DemoRun, run_network

console = Console(width=180)


def ledger_tables(run: DemoRun) -> list[Table]:
    """The ledger of the run, from chain events plus the peers' verified round results."""
    from loraswarm.node.ledger.source import default_db, open_ledger

    ledger = open_ledger(run.deployment_file, 1, default_db(run.deployment_file), [p.data_dir for p in run.peers],
                         run.rpc_url)
    names = {p.address.lower(): f"{p.plan.name} ({p.plan.behaviour})" for p in run.peers}
    peers = Table("peer", "roles", "commits", "accepted", "rejected", "rewards (LSW)", "slashed (LSW)", "reputation",
                  title="contribution ledger (chain events + verified round results)")
    for row in ledger.peers():
        peers.add_row(names.get(row.account, row.account), "+".join(row.roles), str(row.commits), str(row.accepted),
                      " ".join(f"{k}:{v}" for k, v in row.rejected.items()), f"{row.rewards_claimed / 1e18:,.2f}",
                      f"{row.slashed / 1e18:,.2f} {' '.join(row.slash_reasons)}",
                      "-" if row.reputation is None else f"{row.reputation / 10_000:.1f}%")
    rounds = Table("round", "status", "commits", "attestations", "accepted", "rejected", "pool (LSW)", "claimed",
                   title="rounds")
    for r in ledger.rounds():
        rounds.add_row(str(r.round), r.status, str(r.commits), str(r.attestations), str(r.accepted),
                       str(r.rejected), f"{r.pool / 1e18:,.2f}", f"{r.claimed / 1e18:,.2f}")
    return [peers, rounds]


def ppl_table(run: DemoRun, rounds: int) -> Table:
    """Held-out perplexity per peer: base model, then the global (and the personal adapter, where
    a peer keeps one) after each round."""
    personal = any(p.plan.personal for p in run.peers)
    columns = [(f"global@{r}", f"global after round {r}") for r in range(rounds)]
    if personal:
        columns += [(f"personal@{r}", f"personal after round {r}") for r in range(rounds)]
    table = Table("peer", "topics", "base", *(title for _, title in columns),
                  title="held-out perplexity on each peer's own topics")
    for p in run.peers:
        s = run.statuses.get(p.plan.name)
        ppl = s.ppl if s else {}
        table.add_row(p.plan.name, ",".join(p.plan.topics), f"{ppl.get('base', float('nan')):.1f}",
                      *(f"{ppl[key]:.1f}" if key in ppl else "-" for key, _ in columns))
    return table


def _preset(text: str, full: int, quick: int) -> typer.models.OptionInfo:
    return typer.Option(help=f"{text} (default {full}, --quick {quick})", show_default=False)


def demo_cmd(
    peers: Annotated[int | None, _preset("Peer processes: honest ones, then a scaling attacker and a zero-delta "
                                         "free rider.", FULL_DEMO.peers, QUICK_DEMO.peers)] = None,
    rounds: Annotated[int | None, _preset("Rounds to run.", FULL_DEMO.rounds, QUICK_DEMO.rounds)] = None,
    validators: Annotated[int | None, _preset("How many honest peers also validate.", FULL_DEMO.validators,
                                              QUICK_DEMO.validators)] = None,
    steps: Annotated[int | None, _preset("Training steps per peer per round.", FULL_DEMO.steps,
                                         QUICK_DEMO.steps)] = None,
    commit_s: Annotated[int | None, _preset("Commit window (must fit training), seconds.",
                                            FULL_DEMO.terms.commit_s, QUICK_DEMO.terms.commit_s)] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="One round with short windows (about a minute and a half on two cores); the options "
                        "above still override it.")] = False,
    engine: Annotated[str, typer.Option(help="Local chain: anvil or hardhat.")] = "anvil",
    personal: Annotated[bool, typer.Option(
        help="Honest peers also keep personal adapters (node/personal.py); the table shows them.")] = False,
    workdir: Annotated[Path | None, typer.Option(help="Keep keys, configs, logs and state here.")] = None,
) -> None:
    """Run a local loraswarm network end to end and print the ledger; exits 1 if a peer failed."""
    preset = QUICK_DEMO if quick else FULL_DEMO
    config = replace(
        preset, engine=engine, workdir=workdir, personal=personal,
        peers=preset.peers if peers is None else peers, rounds=preset.rounds if rounds is None else rounds,
        validators=preset.validators if validators is None else validators,
        steps=preset.steps if steps is None else steps,
        terms=preset.terms if commit_s is None else replace(preset.terms, commit_s=commit_s))
    if config.peers < 2 or not 1 <= config.validators <= config.peers:
        raise typer.BadParameter("need at least 2 peers and 1..peers validators")

    def report(run: DemoRun) -> None:
        for table in ledger_tables(run):
            console.print(table)
        console.print(ppl_table(run, config.rounds))
        console.print(f"work directory (keys, configs, node logs): {run.workdir}")
        if failed := _failed(run):
            console.print(f"[red]peers that did not finish cleanly: {failed}[/red]")

    if _failed(run_network(config, console, on_done=report)):
        raise typer.Exit(1)


def _failed(run: DemoRun) -> dict[str, int]:
    return {name: code for name, code in run.exit_codes.items() if code != 0}
