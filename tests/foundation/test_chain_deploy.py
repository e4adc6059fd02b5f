"""Local testnets, deployment and the deployment file, through the library and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, Web3

from loraswarm.errors import DeploymentExists, WrongChainId
from loraswarm.evm import deploy, localchain
from tests.support import free_port, run_cli


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().split()
    except OSError:
        return False
    return stat[2] != "Z"


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and _running(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def test_deploy_embedded_chain() -> None:
    w3 = Web3(EthereumTesterProvider())
    deployment = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    contracts = deploy.attach(deployment, w3)
    token = contracts["RewardToken"]
    assert token.functions.totalSupply().call() == deploy.DEFAULT_TOKEN_SUPPLY
    assert deployment.chain_id == w3.eth.chain_id


def test_deployment_file_is_never_silently_replaced(tmp_path: Path) -> None:
    w3 = Web3(EthereumTesterProvider())
    deployment = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    path = tmp_path / "d.json"
    deploy.write_deployment(deployment, path, force=False)
    first = path.read_text()
    with pytest.raises(DeploymentExists):
        deploy.write_deployment(deployment, path, force=False)
    assert path.read_text() == first
    deploy.write_deployment(deployment, path, force=True)
    assert deploy.Deployment.from_file(path) == deployment


def test_attach_rejects_wrong_chain_id() -> None:
    w3 = Web3(EthereumTesterProvider())
    deployment = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    other = deploy.Deployment(**{**deployment.__dict__, "chain_id": deployment.chain_id + 1})
    with pytest.raises(WrongChainId):
        deploy.attach(other, w3)


@pytest.mark.e2e
@pytest.mark.parametrize("engine", localchain.ENGINES)
def test_cli_chain_up_deploy_status_down(engine: str, state_dir: Path) -> None:
    port = str(free_port())
    state = ["--state-dir", str(state_dir)]
    up = run_cli("chain", "up", "--engine", engine, "--port", port, *state)
    try:
        assert up.returncode == 0, up.stderr
        assert f"http://127.0.0.1:{port}" in up.stdout
        assert "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" in up.stdout  # first funded dev account
        record = localchain.read_record(state_dir)
        assert _running(record.pid)

        deployed = run_cli("deploy", "--network", "local", *state)
        assert deployed.returncode == 0, deployed.stderr
        path = state_dir / "deployments" / f"{record.chain_id}.json"
        data = json.loads(path.read_text())
        assert set(data["addresses"]) >= {"RewardToken", "Coordinator"}

        again = run_cli("deploy", "--network", "local", *state)
        assert again.returncode != 0
        assert again.stderr.strip().startswith("error:") and "--force" in again.stderr
        assert "Traceback" not in again.stderr
        assert json.loads(path.read_text()) == data

        status = run_cli("status", *state)
        assert status.returncode == 0, status.stderr
        assert "100,000,000 LSW" in status.stdout
    finally:
        down = run_cli("chain", "down", *state)
    assert down.returncode == 0, down.stderr
    assert not _running(record.pid)
    assert _processes_with(f"--port\x00{port}") == []
    assert not (state_dir / "chain.json").exists()


@pytest.mark.e2e
def test_chain_up_anvil_deploy_down_under_a_minute(state_dir: Path) -> None:
    """The issue's bar: up + deploy + down end to end, well inside a minute on 2 cores."""
    import time

    start = time.monotonic()
    state = ["--state-dir", str(state_dir)]
    assert run_cli("chain", "up", "--engine", "anvil", "--port", str(free_port()), *state).returncode == 0
    try:
        assert run_cli("deploy", "--network", "local", *state).returncode == 0
    finally:
        assert run_cli("chain", "down", *state).returncode == 0
    assert time.monotonic() - start < 60


def test_cli_errors_are_one_line(state_dir: Path, tmp_path: Path) -> None:
    cases = {
        "unreachable": (["deploy", "--network", f"http://127.0.0.1:{free_port()}"], "no EVM JSON-RPC answers"),
        "no chain": (["chain", "down", "--state-dir", str(state_dir)], "no local chain recorded"),
        "missing deployment": (
            ["status", "--deployment", str(tmp_path / "nope.json"), "--state-dir", str(state_dir)],
            "not found",
        ),
        "bad engine": (["chain", "up", "--engine", "geth", "--state-dir", str(state_dir)], "engine must be"),
    }
    for name, (args, message) in cases.items():
        result = run_cli(*args)
        assert result.returncode != 0, name
        assert message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr, name


@pytest.mark.e2e
def test_port_in_use_and_wrong_chain_id(state_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    state = ["--state-dir", str(state_dir)]
    assert run_cli("chain", "up", "--port", str(port), *state).returncode == 0
    try:
        busy = run_cli("chain", "up", "--port", str(port), "--state-dir", str(tmp_path / "other"))
        assert busy.returncode != 0 and "already in use" in busy.stderr
        assert run_cli("deploy", "--network", "local", *state).returncode == 0
        record = localchain.read_record(state_dir)
        path = state_dir / "deployments" / f"{record.chain_id}.json"
        data = json.loads(path.read_text())
        data["chain_id"] += 7
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(data))
        wrong = run_cli("status", "--deployment", str(forged), *state)
        assert wrong.returncode != 0 and "chain id" in wrong.stderr
        assert "Traceback" not in wrong.stderr
    finally:
        run_cli("chain", "down", *state)


def test_help_on_every_subcommand() -> None:
    for args in ([], ["chain"], ["chain", "up"], ["chain", "down"], ["chain", "status"],
                 ["deploy"], ["status"], ["compile"], ["version"]):
        result = run_cli(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout
    assert run_cli("version").stdout.startswith("loraswarm ")


def test_free_port_never_hands_out_a_port_twice() -> None:
    """The e2e sets up two networks at once; the kernel's own choice repeated ports (7 in 500
    draws), which put both networks' chains on one port."""
    ports = [localchain.free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
