"""The ledger against a real chain: a short economics simulation on anvil fills it, then the CLI
answers in JSON and CSV, and the web page is loaded in a real headless Chromium."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from web3 import HTTPProvider, Web3

from harness.sim.chain import open_sim_chain
from harness.sim.run import SimConfig, run_simulation
from harness.sim.strategies import Strategy
from loraswarm.errors import ChainNotRunning
from loraswarm.evm import localchain
from loraswarm.evm.deploy import write_deployment
from loraswarm.node.status import NodeStatus
from loraswarm.paths import PROJECT_ROOT
from tests.support import LORASWARM, free_port, run_cli

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")


class Filled(NamedTuple):
    deployment: Path
    rpc_url: str
    claimed: dict[str, int]
    slashed: set[str]
    chain_dir: Path


@pytest.fixture(scope="module")
def filled_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    root = tmp_path_factory.mktemp("ledger")
    record = localchain.start_chain("anvil", free_port(), root / "chain")
    try:
        w3 = Web3(HTTPProvider(record.rpc_url))
        chain = open_sim_chain(w3, "local", record.rpc_url)
        config = SimConfig(rounds=3, peers=(Strategy.HONEST, Strategy.HONEST, Strategy.HONEST, Strategy.SCALING,
                                            Strategy.ZERO), honest_validators=2, lazy_validators=0,
                           copying_validators=0)
        run_simulation(chain, config)
        assert chain.deployment is not None
        path = root / "deployment.json"
        write_deployment(chain.deployment, path, force=False)
        claimed: dict[str, int] = {}  # peers' Merkle claims and validators' pay
        events = chain.coordinator.events
        for e in [*events.RewardClaimed().get_logs(from_block=0),
                  *events.ValidatorRewardClaimed().get_logs(from_block=0)]:
            who = (e["args"].get("account") or e["args"]["validator"]).lower()
            claimed[who] = claimed.get(who, 0) + e["args"]["amount"]
        slash_logs = chain.coordinator.events.SlashExecuted().get_logs(from_block=0)
        slashed = {e["args"]["account"].lower() for e in slash_logs}
        yield Filled(path, record.rpc_url, claimed, slashed, root / "chain")
    finally:
        with contextlib.suppress(ChainNotRunning):  # the last test stops it itself
            localchain.stop_chain(root / "chain")


@pytest.mark.e2e
def test_ledger_cli_json_and_csv_match_the_chain(filled_chain: Filled) -> None:
    path, rpc_url, claimed, slashed, _ = filled_chain
    on = ["--deployment", str(path), "--rpc-url", rpc_url]
    out = run_cli("ledger", "peers", *on, "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["account"]: r for r in json.loads(out.stdout)}
    assert {a: r["rewards_claimed"] for a, r in rows.items() if r["rewards_claimed"]} == claimed
    assert {a for a, r in rows.items() if r["slashed"]} == slashed
    rounds = json.loads(run_cli("ledger", "rounds", *on, "--json").stdout)
    assert [r["status"] for r in rounds] == ["finalized"] * 3
    assert all(r["claimed"] <= r["pool"] for r in rounds)
    table = run_cli("ledger", "rounds", *on, "--csv").stdout
    parsed = list(csv.DictReader(io.StringIO(table)))
    assert [int(r["round"]) for r in parsed] == [0, 1, 2]
    one = run_cli("ledger", "peer", next(iter(claimed)), *on, "--json")
    assert sum(e["reward"] for e in json.loads(one.stdout)) == claimed[next(iter(claimed))]
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", tx) for e in json.loads(one.stdout) for tx in e["txs"])
    slash_rows = json.loads(run_cli("ledger", "slashes", *on, "--json").stdout)
    assert {r["account"] for r in slash_rows} == slashed and all(r["amount"] > 0 for r in slash_rows)


@pytest.mark.e2e
def test_unknown_peers_rounds_and_tasks_are_errors(filled_chain: Filled) -> None:
    path, rpc_url, *_ = filled_chain
    on = ["--deployment", str(path), "--rpc-url", rpc_url]
    stranger = "0x" + "5a" * 20
    for args, message in ((["peer", stranger], "never registered in task 1"),
                          (["round", "99"], "round 99 of task 1 has no events (rounds 0..2 have)"),
                          (["peers", "--task", "7"], "task 7 does not exist on this deployment (tasks 1..1)")):
        result = run_cli("ledger", *args, *on)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith("error: ") and message in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1


@contextlib.contextmanager
def serving(filled: Filled, *options: str) -> Iterator[str]:
    """`loraswarm ledger serve` on the filled chain; yields the page's URL once it answers."""
    port = free_port()
    server = subprocess.Popen([*LORASWARM, "ledger", "serve", "--deployment", str(filled.deployment),
                               "--rpc-url", filled.rpc_url, "--port", str(port), *options],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "ledger page did not come up"
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def chromium(profile: Path, *args: str) -> list[str]:
    return [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--virtual-time-budget=15000", *args]


def page_dom(url: str, profile: Path) -> str:
    return subprocess.run(chromium(profile, "--dump-dom", url), capture_output=True, text=True, timeout=120).stdout


@pytest.mark.e2e
def test_ledger_page_in_headless_chromium(filled_chain: Filled, tmp_path: Path) -> None:
    claimed = filled_chain.claimed
    node = tmp_path / "node"  # a node's data dir: its status file holds the perplexities it measured
    NodeStatus("n", "0x0", ["trainer"], "honest", ppl={"base": 92.0, "global@0": 88.5, "global@1": 86.0}).write(
        node / "status.json")
    with serving(filled_chain, "--explorer", "https://explorer.example/tx/{tx}", "--results", str(node)) as url:
        dom = page_dom(url, tmp_path / "profile")
        assert 'data-loaded="1"' in dom, re.search(r'id="status">([^<]*)<', dom)
        for account, amount in claimed.items():
            row = re.search(rf"<td[^>]*>{account}</td>(.*?)</tr>", dom, re.S)
            assert row is not None, account
            cell = re.search(r'data-key="rewards_claimed">([^<]+)<', row.group(1))
            assert cell is not None
            assert float(cell.group(1).replace(",", "")) == pytest.approx(amount / 1e18, abs=0.01)
        assert dom.count('class="series"') >= len(claimed)  # one rewards line per peer
        assert 'class="bar"' in dom
        assert re.search(r'<a href="https://explorer\.example/tx/0x[0-9a-f]{64}"', dom)  # transactions link out
        slashes = re.search(r'<table id="slashes">(.*?)</table>', dom, re.S)
        assert slashes is not None and all(a in slashes.group(1) for a in filled_chain.slashed)
        for view in ("round-view", "peer-view"):
            rows = re.search(rf'<table id="{view}">(.*?)</table>', dom, re.S)
            assert rows is not None and rows.group(1).count("<tr>") >= 2, view
        assert dom.count('<div class="legend"') == 4 and dom.count("<i style=") >= len(claimed) + 3
        ticks = re.search(r'<svg id="ppl".*?</svg>', dom, re.S)
        assert ticks is not None
        low, high = sorted(float(t) for t in re.findall(r'class="ytick"[^>]*>([\d.]+)<', ticks.group(0)))
        assert 80 < low < 86 and 92 < high < 100  # the axis spans the values, not 0..max
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "ledger-page.png"
        subprocess.run(chromium(tmp_path / "profile", "--window-size=1400,1100", f"--screenshot={shot}", url),
                       capture_output=True, timeout=120, check=True)
        assert shot.stat().st_size > 10_000


@pytest.mark.e2e
def test_ledger_page_says_chain_unreachable_when_the_chain_stops(filled_chain: Filled, tmp_path: Path) -> None:
    """Runs last: it stops the module's chain. The page keeps the last tables and says why they
    no longer change; the server answers every refresh."""
    with serving(filled_chain) as url:
        assert "error" not in json.loads(urllib.request.urlopen(url + "api/ledger", timeout=30).read())
        localchain.stop_chain(filled_chain.chain_dir)
        for _ in range(2):
            data = json.loads(urllib.request.urlopen(url + "api/ledger", timeout=30).read())
            assert data["error"].startswith("chain unreachable"), data.get("error")
            assert data["peers"], "the last snapshot stays on the page"
        dom = page_dom(url, tmp_path / "profile")
        status = re.search(r'id="status"[^>]*>([^<]*)<', dom)
        assert status is not None and status.group(1).startswith("chain unreachable"), status
        assert re.search(rf"<td[^>]*>{next(iter(filled_chain.claimed))}</td>", dom)
