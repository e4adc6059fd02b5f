"""Local testnets, deployment and the deployment file, through the library and the real CLI."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import EthereumTesterProvider, Web3

from loraswarm.cli import app
from loraswarm.cli.failures import explain
from loraswarm.errors import BadDeploymentFile, ChainUnreachable, DeploymentExists, WrongChainId
from loraswarm.evm import deploy, localchain
from loraswarm.evm.rpc import RPC_ENV
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


def test_messages_show_an_rpc_url_without_its_secrets() -> None:
    url = "https://user:SECRET1@rpc.example:8545/v2/SECRET2?key=SECRET3"
    assert localchain.shown_url(url) == "https://rpc.example:8545/..."
    assert localchain.shown_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    port = free_port()  # nothing listens there
    with pytest.raises(ChainUnreachable, match=rf"no EVM JSON-RPC answers at http://127.0.0.1:{port}/\.\.\.; start"):
        localchain.rpc_chain_id(f"http://u:SECRET@127.0.0.1:{port}/key/SECRET", timeout_s=0.5)


def test_the_deployment_file_never_records_an_rpc_url() -> None:
    """Peers share it; the deployer's endpoint may carry an API key in any part of the URL."""
    w3 = Web3(EthereumTesterProvider())
    url = "http://apikey:SECRET1@rpc.example:8545/v2/SECRET2?key=SECRET3"
    deployment = deploy.deploy_all(w3, url, url, w3.eth.accounts[0])
    assert deployment.network == deploy.REMOTE
    assert "SECRET" not in deployment.to_json() and "rpc.example" not in deployment.to_json()


def test_attach_refuses_contracts_that_do_not_belong_together() -> None:
    """A deployment file that pairs the network's token and coordinator with an escrow of its
    own (which would take what an operator stakes) is refused."""
    w3 = Web3(EthereumTesterProvider())
    real = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    lookalike = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[1])
    forged = deploy.Deployment(**{**real.__dict__, "addresses": {
        **real.addresses, "Staking": lookalike.addresses["Staking"]}})
    with pytest.raises(BadDeploymentFile, match=r"do not belong together \(Coordinator.staking is 0x"):
        deploy.attach(forged, w3)
    assert set(deploy.attach(real, w3)) == {"RewardToken", "Staking", "Coordinator"}


def test_attach_rejects_wrong_chain_id() -> None:
    w3 = Web3(EthereumTesterProvider())
    deployment = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    other = deploy.Deployment(**{**deployment.__dict__, "chain_id": deployment.chain_id + 1})
    with pytest.raises(WrongChainId):
        deploy.attach(other, w3)


def test_attach_refuses_a_deployment_built_from_other_contracts() -> None:
    # A peer running another loraswarm version than the network's would encode calls for an ABI
    # the deployed contracts do not have.
    w3 = Web3(EthereumTesterProvider())
    deployment = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    other = deploy.Deployment(**{**deployment.__dict__,
                                 "abi_hashes": {**deployment.abi_hashes, "Coordinator": "0x" + "00" * 32}})
    with pytest.raises(BadDeploymentFile, match="Coordinator in the deployment has another ABI than this loraswarm's"):
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


def _embedded_deployment_file(path: Path) -> Path:
    w3 = Web3(EthereumTesterProvider())
    deploy.write_deployment(deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0]), path, force=False)
    return path


BAD_PEER = """
[node]
name = "p"
data_dir = "data"
[keys]
keystore = "k.json"
[chain]
deployment = "d.json"
task_file = "t.json"
[p2p]
bootstrap = ["/ip4/10.0.0.1/tcp/9100"]
"""


def test_cli_errors_are_one_line(state_dir: Path, tmp_path: Path) -> None:
    """Every failure a new user meets first: one line on stderr naming the cause and the fix, a
    non-zero exit, no traceback (the CLI runs as a child process, all cases at once)."""
    dead = f"http://127.0.0.1:{free_port()}"
    deployment = str(_embedded_deployment_file(tmp_path / "d.json"))
    (tmp_path / "peer.toml").write_text(BAD_PEER)
    fresh_key = "0x" + "17" * 32
    state = ["--state-dir", str(state_dir)]
    cases: dict[str, tuple[list[str], dict[str, str], str]] = {
        "unreachable": (["deploy", "--network", dead], {}, "no EVM JSON-RPC answers"),
        "no chain": (["chain", "down", *state], {}, "no local chain recorded"),
        "missing deployment": (["status", "--deployment", str(tmp_path / "nope.json"), *state], {}, "not found"),
        "bad engine": (["chain", "up", "--engine", "geth", *state], {}, "engine must be"),
        "chain down under the ledger": (["ledger", "peers", "--deployment", deployment, "--rpc-url", dead], {},
                                        "chain unreachable"),
        "rpc url not a url": (["ledger", "rounds", "--deployment", deployment, "--rpc-url", "foo"], {},
                              "'foo' is not an RPC URL"),
        "no rpc url": (["ledger", "rounds", "--deployment", deployment, *state], {}, "pass --rpc-url URL or set"),
        "bad deployer key": (["deploy", "--network", "embedded"], {"LORASWARM_DEPLOYER_KEY": "zzz"},
                             "LORASWARM_DEPLOYER_KEY is not a hex secp256k1 private key"),
        "unfunded deployer": (["deploy", "--network", "embedded"], {"LORASWARM_DEPLOYER_KEY": fresh_key},
                              f"account {Account.from_key(fresh_key).address} on chain"),
        "peer not an address": (["ledger", "peer", "nothex", "--deployment", deployment], {},
                                "'nothex' is not an account address"),
        "bootstrap without peer id": (["node", "status", "--config", str(tmp_path / "peer.toml")], {},
                                      "p2p.bootstrap: Value error, '/ip4/10.0.0.1/tcp/9100' lacks /p2p/"),
        "usage": (["ledger", "peers"], {}, "Missing option '--deployment'"),
    }
    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(cases, pool.map(lambda c: run_cli(*c[0], env={RPC_ENV: "", **c[1]}), cases.values()),
                           strict=True))
    for name, result in results.items():
        message = cases[name][2]
        assert result.returncode != 0, name
        assert message in result.stderr, (name, result.stderr)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (name, result.stderr)
        assert "Traceback" not in result.stderr, name


def test_debug_shows_the_traceback_and_unexpected_errors_stay_one_line() -> None:
    debug = run_cli("--debug", "status", "--deployment", "/nonexistent/d.json")
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "DeploymentMissing" in debug.stderr
    line, code = explain(RuntimeError("boom\non two lines"), ["ledger", "peers"])
    assert code == 1 and "\n" not in line and "RuntimeError: boom on two lines" in line
    assert "loraswarm --debug ledger peers" in line


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
    """Every help screen, in process (a child process per screen cost ~1.7 s each); the real
    entry point once for -h, --version and version."""
    runner = CliRunner()
    for args in ([], ["chain"], ["chain", "up"], ["chain", "down"], ["chain", "status"], ["chain", "fund"],
                 ["deploy"], ["status"], ["compile"], ["version"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output
    version = run_cli("version").stdout
    assert version.startswith("loraswarm ")
    short = run_cli("-h")
    assert short.returncode == 0 and "Usage" in short.stdout
    assert run_cli("--version").stdout.strip() == version.strip()


def test_free_port_never_hands_out_a_port_twice() -> None:
    """The e2e sets up two networks at once; the kernel's own choice repeated ports (7 in 500
    draws), which put both networks' chains on one port."""
    ports = [localchain.free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
