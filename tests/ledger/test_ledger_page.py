"""The ledger against a real chain: a short economics simulation on anvil fills it, then the CLI
answers in JSON and CSV, and the web page is loaded in a real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from harness.sim.chain import open_sim_chain
from harness.sim.run import SimConfig, run_simulation
from harness.sim.strategies import Strategy
from loraswarm.evm import localchain
from loraswarm.evm.deploy import write_deployment
from loraswarm.paths import PROJECT_ROOT
from tests.support import LORASWARM, free_port, run_cli

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def filled_chain(tmp_path_factory: pytest.TempPathFactory):
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
        yield path, claimed, slashed
    finally:
        localchain.stop_chain(root / "chain")


@pytest.mark.e2e
def test_ledger_cli_json_and_csv_match_the_chain(filled_chain) -> None:
    path, claimed, slashed = filled_chain
    out = run_cli("ledger", "peers", "--deployment", str(path), "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["account"]: r for r in json.loads(out.stdout)}
    assert {a: r["rewards_claimed"] for a, r in rows.items() if r["rewards_claimed"]} == claimed
    assert {a for a, r in rows.items() if r["slashed"]} == slashed
    rounds = json.loads(run_cli("ledger", "rounds", "--deployment", str(path), "--json").stdout)
    assert [r["status"] for r in rounds] == ["finalized"] * 3
    assert all(r["claimed"] <= r["pool"] for r in rounds)
    table = run_cli("ledger", "rounds", "--deployment", str(path), "--csv").stdout
    parsed = list(csv.DictReader(io.StringIO(table)))
    assert [int(r["round"]) for r in parsed] == [0, 1, 2]
    one = run_cli("ledger", "peer", next(iter(claimed)), "--deployment", str(path), "--json")
    assert sum(e["reward"] for e in json.loads(one.stdout)) == claimed[next(iter(claimed))]


@pytest.mark.e2e
def test_ledger_page_in_headless_chromium(filled_chain, tmp_path: Path) -> None:
    path, claimed, _ = filled_chain
    port = free_port()
    server = subprocess.Popen([*LORASWARM, "ledger", "serve", "--deployment", str(path), "--port", str(port)],
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
        flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000"]
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        assert 'data-loaded="1"' in dom, re.search(r'id="status">([^<]*)<', dom)
        for account, amount in claimed.items():
            row = re.search(rf"<td[^>]*>{account}</td>(.*?)</tr>", dom, re.S)
            assert row is not None, account
            cell = re.search(r'data-key="rewards_claimed">([^<]+)<', row.group(1))
            assert cell is not None
            assert float(cell.group(1).replace(",", "")) == pytest.approx(amount / 1e18, abs=0.01)
        assert dom.count('class="series"') >= len(claimed)  # one rewards line per peer
        assert 'class="bar"' in dom
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "ledger-page.png"
        subprocess.run([*flags, "--window-size=1400,1100", f"--screenshot={shot}", url], capture_output=True,
                       timeout=120, check=True)
        assert shot.stat().st_size > 10_000
    finally:
        server.terminate()
        server.wait(timeout=10)
