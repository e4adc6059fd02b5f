"""A peer operator's commands against a real local chain, run as a new operator would from an
empty directory: a key, a config, the node refusing to start unfunded (before it loads a model),
`chain fund`, and stake, unstake, withdraw, leave, release and claim by hand, each saying what it
does or, refused, why and what to do."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from harness import chaintime
from loraswarm.evm import deploy, localchain, stakes
from loraswarm.evm.deploy import send
from loraswarm.evm.tasks import TaskTerms, create_task
from loraswarm.node.keys import load_account
from loraswarm.node.training.model import default_cache_dir, directory_hash, model_hash
from loraswarm.protocol.taskspec import TaskSpec
from tests.support import free_port, run_cli

PASSWORD = {"LORASWARM_PASSWORD": "operator-pw"}


@pytest.fixture
def network(tmp_path: Path, state_dir: Path) -> Iterator[tuple[Path, Path, str]]:
    """A local chain with the contracts and task 1 (fixed fake model hashes: no model loads)."""
    record = localchain.start_chain("anvil", free_port(), state_dir, block_time=1)
    try:
        w3 = Web3(HTTPProvider(record.rpc_url))
        owner = w3.eth.accounts[0]
        deployment = deploy.deploy_all(w3, deploy.LOCAL, record.rpc_url, owner)
        deployment_file = deploy.default_deployment_path(state_dir, deployment.chain_id)
        deploy.write_deployment(deployment, deployment_file, force=False)
        spec = TaskSpec(task_id=1)
        task_file = tmp_path / "handed-out" / "task.json"
        spec.write(task_file)
        create_task(w3, deployment, owner, spec, TaskTerms(start_delay_s=0), "0x" + "11" * 32, "0x" + "22" * 32)
        yield deployment_file, task_file, record.rpc_url
    finally:
        localchain.stop_chain(state_dir)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0, result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.e2e
def test_operator_journey(network: tuple[Path, Path, str], tmp_path: Path, state_dir: Path) -> None:
    deployment_file, task_file, rpc_url = network
    home = tmp_path / "operator"
    home.mkdir()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=home, env=PASSWORD)

    address, keystore = _ok(cli("keys", "new", "--dir", "keys")).split()
    _ok(cli("node", "init", "--deployment", str(deployment_file), "--task-file", str(task_file),
            "--keystore", keystore, "--rpc-url", rpc_url, "--listen", "/ip4/127.0.0.1/tcp/9555"))
    shown = _ok(cli("node", "id", "--config", "peer.toml"))
    assert re.search(r"multiaddr /ip4/127\.0\.0\.1/tcp/9555/p2p/16Uiu2\w+", shown) and address in shown
    # A refused init makes no key (each retry used to leave another keystore behind).
    _refused(cli("node", "init", "--deployment", str(deployment_file), "--task-file", str(task_file), "--new-key",
                 "--key-dir", "more-keys", "--listen", "/ip4/127.0.0.1/udp/9", "--out", "other.toml"), "lacks /tcp/")
    assert not (home / "more-keys").exists() or not any((home / "more-keys").iterdir())

    # A task file other than the one the chain fixed is refused, naming both hashes.
    forged = TaskSpec(task_id=1, norm_bound=500.0)
    forged.write(home / "forged.json")
    (home / "forged.toml").write_text(re.sub(r"^task_file = .*$", 'task_file = "forged.json"',
                                             (home / "peer.toml").read_text(), flags=re.MULTILINE))
    _refused(cli("node", "run", "--config", "forged.toml"),
             f"hashes to {forged.spec_hash()}, but task 1 on chain fixed {TaskSpec(task_id=1).spec_hash()}")

    # Unfunded: the node says what is missing, and where to get it, before it loads its model.
    _refused(cli("node", "run", "--config", "peer.toml"),
             f"account {address} on chain 31337 holds 0 ETH; a node (registration and its first rounds) needs about")
    fund = ["chain", "fund", address, "--state-dir", str(state_dir)]
    assert "it now holds 1 ETH and 0 LSW" in _ok(cli(*fund, "--eth", "1", "--lsw", "0"))
    _refused(cli("node", "run", "--config", "peer.toml"),
             f"account {address} on chain 31337 holds 0 LSW; registering (stake 100 LSW, 0 already staked) needs "
             f"100 LSW (100 more): run `loraswarm chain fund {address} --lsw 100`")
    _ok(cli(*fund, "--eth", "0", "--lsw", "150"))
    # Funded, it checks what it would train with before it stakes: found after registering, a
    # wrong data path or base model cost the gas and left the stake locked.
    (home / "bad.toml").write_text(re.sub(r"^topics = .*$", 'data = ["missing.jsonl"]',
                                          (home / "peer.toml").read_text(), flags=re.MULTILINE))
    _refused(cli("node", "run", "--config", "bad.toml"), "missing.jsonl: cannot read: No such file or directory")
    _refused(cli("node", "run", "--config", "peer.toml"), f"the task's base model hash is 0x{'11' * 32}, the local "
             "base model's is 0x")  # the fixture's task names a made-up model

    on = ["--config", "peer.toml"]
    _refused(cli("stake", "200", *on), "holds 150 LSW; staking 200 LSW needs 200 LSW (50 more)")
    staked = _ok(cli("stake", "120", *on))
    assert "stake 120 LSW from" in staked and len(re.findall(r"tx 0x[0-9a-f]{64}", staked)) >= 2
    assert re.search(r"LSW staked\s+│\s+0\s+│\s+120", staked), staked
    dry = _ok(cli("unstake", "20", *on, "--dry-run"))
    assert "request an unstake of 20 LSW" in dry and "tx 0x" not in dry
    assert "tx 0x" in _ok(cli("unstake", "20", *on))
    _refused(cli("withdraw", *on), "the 20 LSW unlocking can be withdrawn from")
    _refused(cli("leave", *on), f"{address} is not registered in task 1")
    _refused(cli("release", *on), "has not asked to leave task 1: `loraswarm leave` first")
    _refused(cli("claim", "--round", "0", *on), "round 0 of task 1 is not finalized")

    # Registered (as its node would), it can leave; its stake stays locked until the next round ends.
    w3 = Web3(HTTPProvider(rpc_url))
    contracts = deploy.attach(deploy.Deployment.from_file(deployment_file), w3)
    send(w3, contracts["Coordinator"].functions.registerPeer(1), load_account(home / keystore, "operator-pw"))
    left = _ok(cli("leave", *on))
    assert "leave task 1" in left and re.search(r"task 1: exit\s+│\s+-\s+│\s+leaving after round \d", left), left
    _refused(cli("release", *on), "the stake in task 1 can be released from")

    # Stake that finished unlocking is withdrawn; a new request would restart its delay.
    chaintime.travel_to(w3, contracts["Staking"].functions.accountOf(address).call()[3] + 1)
    _refused(cli("unstake", "1", *on), "20 LSW of " + address + " finished unlocking at")
    assert "withdraw 20 LSW from the escrow" in _ok(cli("withdraw", *on))

    # Past the slash deadline of the round after the one it left in, the task's stake is released.
    exit_round = int(contracts["Coordinator"].functions.participantOf(1, address).call()[5])
    chaintime.travel_to(w3, max(stakes.release_at(contracts, 1, exit_round), chaintime.now(w3)) + 1)
    released = " ".join(_ok(cli("release", *on)).split())
    assert "release what slashes left of 100 LSW locked in task 1" in released and "tx 0x" in released, released
    assert contracts["Coordinator"].functions.participantOf(1, address).call()[0] == 0  # nothing left locked

    # The operator's own deployment, from its keystore (password from the environment).
    _ok(cli("deploy", "--network", rpc_url, "--keystore", keystore, "--out", "mine.json"))
    assert deploy.Deployment.from_file(home / "mine.json").deployer.lower() == address.lower()

    # Amounts are taken as typed, and nothing is sent for nothing.
    _refused(cli("stake", "0", *on), "the amount must be more than 0")
    _refused(cli("stake", "nan", *on), "'nan' is not an amount of LSW")
    _refused(cli("chain", "fund", address, "--state-dir", str(state_dir)), "nothing to send")

    # From the operator's own key: ETH, then LSW under the next nonce (it once skipped one, and the
    # token transfer waited, unmined, for a transaction that never came).
    other = Account.create().address
    funded = _ok(cli("chain", "fund", other, "--eth", "0.01", "--lsw", "5", "--keystore", keystore,
                     "--state-dir", str(state_dir)))
    assert "it now holds 0.01 ETH and 5 LSW" in " ".join(funded.split()), funded

    # Leaving a task that has not started frees the stake at once: no round has used it.
    later = tmp_path / "later.json"
    TaskSpec(task_id=2).write(later)
    create_task(w3, deploy.Deployment.from_file(deployment_file), w3.eth.accounts[0], TaskSpec(task_id=2),
                TaskTerms(start_delay_s=3600), "0x" + "11" * 32, "0x" + "22" * 32)
    second, keystore2 = _ok(cli("keys", "new", "--dir", "keys")).split()
    _ok(cli("node", "init", "--deployment", str(deployment_file), "--task-file", str(later), "--keystore", keystore2,
            "--rpc-url", rpc_url, "--out", "later.toml"))
    _ok(cli("chain", "fund", second, "--eth", "1", "--lsw", "100", "--state-dir", str(state_dir)))
    on_later = ["--config", "later.toml"]
    _ok(cli("stake", "100", *on_later))
    send(w3, contracts["Coordinator"].functions.registerPeer(2), load_account(home / keystore2, "operator-pw"))
    early = _ok(cli("leave", *on_later))
    assert "becomes free stake at once" in " ".join(early.split()), early
    assert re.search(r"active task\s+│\s+2\s+│\s+-", early) and re.search(r"free\s+│\s+0\s+│\s+100", early), early


@pytest.mark.e2e
def test_task_create_fixes_the_training_recipe_with_the_task(
        network: tuple[Path, Path, str], tmp_path: Path) -> None:
    """The recipe every peer trains with is in the task file whose hash the chain fixes, and a
    peer's `node init` tells it; a recipe out of range is refused before anything is sent."""
    deployment_file, _, rpc_url = network
    create = ["task", "create", "--deployment", str(deployment_file), "--rpc-url", rpc_url, "--start-delay-s", "0"]
    _refused(run_cli(*create, "--steps", "0", "--out", "bad.json", cwd=tmp_path), "task create: steps:")
    assert not (tmp_path / "bad.json").exists()
    created = _ok(run_cli(*create, "--steps", "6", "--batch-size", "2", "--lr", "0.001", "--out", "task.json",
                          cwd=tmp_path))
    assert created.startswith("task 2: base model 0x"), created
    spec = TaskSpec.read(tmp_path / "task.json")
    assert (spec.task_id, spec.recipe.steps, spec.recipe.batch_size, spec.recipe.lr) == (2, 6, 2, 0.001)
    w3 = Web3(HTTPProvider(rpc_url))
    coordinator = deploy.attach(deploy.Deployment.from_file(deployment_file), w3)["Coordinator"]
    names = [c["name"] for c in coordinator.get_function_by_name("taskInfo").abi["outputs"][0]["components"]]
    on_chain = dict(zip(names, coordinator.functions.taskInfo(2).call()[0], strict=True))
    assert "0x" + bytes(on_chain["specHash"]).hex() == spec.spec_hash()
    # Another recipe is another task file: its hash no longer matches the chain's.
    assert TaskSpec(**{**spec.model_dump(), "recipe": {"steps": 20}}).spec_hash() != spec.spec_hash()
    # --model names the base model: a Hugging Face folder (here the default model's, dequantized
    # by the first task's creation) is another model than the .gguf file, with its own hash.
    folder = default_cache_dir() / f"gguf-{model_hash(None)[2:]}"
    assert (folder / "config.json").is_file()
    _ok(run_cli(*create, "--model", str(folder), "--out", "other.json", cwd=tmp_path))
    other = dict(zip(names, coordinator.functions.taskInfo(3).call()[0], strict=True))
    assert "0x" + bytes(other["baseModelHash"]).hex() == directory_hash(folder) != model_hash(None)

    address, keystore = _ok(run_cli("keys", "new", "--dir", "keys", cwd=tmp_path, env=PASSWORD)).split()
    told = _ok(run_cli("node", "init", "--deployment", str(deployment_file), "--task-file", "task.json",
                       "--keystore", keystore, "--rpc-url", rpc_url, cwd=tmp_path, env=PASSWORD))
    assert f"for account {address}" in told and "the task trains 6 steps of 2 blocks at lr 0.001 per round" in told
    assert "steps =" not in (tmp_path / "peer.toml").read_text()
