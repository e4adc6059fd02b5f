"""Config validation errors name the key; keystores round-trip and refuse wrong passwords; `node
status` shows what a node reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import ValidationError

from loraswarm.node.config import ConfigError, Role, load_config
from loraswarm.node.judge import TaskFileError, consensus_params
from loraswarm.node.keys import KeystoreError, import_key, list_keys, load_account, new_key
from loraswarm.node.status import NodeStatus
from loraswarm.protocol.taskspec import TaskSpec
from tests.support import run_cli

GOOD = """
[node]
name = "peer-1"
data_dir = "data/peer-1"
roles = ["trainer"]

[keys]
keystore = "keys/peer-1.json"

[chain]
deployment = "deployments/31337.json"
task_file = "task.json"

[training]
topics = ["cookie"]
threads = 3
"""


def test_good_config_resolves_paths_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "peer.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.node.roles == [Role.TRAINER]
    assert config.node.data_dir == tmp_path / "data" / "peer-1"
    assert config.chain.deployment == tmp_path / "deployments" / "31337.json"
    assert config.is_trainer and not config.is_validator
    assert config.training.threads == 3


@pytest.mark.parametrize("key", ["steps = 20", "batch_size = 8", "lr = 1e-3", "seq_len = 128"])
def test_a_config_cannot_choose_its_own_training_recipe(tmp_path: Path, key: str) -> None:
    # A peer that trains longer than the others sends a longer update and is slashed as an
    # outlier: the task file fixes the recipe for all, and an old config that sets one says so.
    path = tmp_path / "peer.toml"
    path.write_text(GOOD.replace("threads = 3", key))
    with pytest.raises(ConfigError, match=rf"training: .*{key.split()[0]}: the task file fixes how every peer trains"):
        load_config(path)


@pytest.mark.parametrize(("edit", "key"), [
    (('threads = 3', 'threads = 0'), "training.threads"),
    (('roles = ["trainer"]', 'roles = ["miner"]'), "node.roles.0"),
    (('[chain]', '[chain]\nconfirmations = "many"'), "chain.confirmations"),
    (('[training]', '[training]\nbogus = 1'), "training.bogus"),
    (('threads = 3', 'threads = 3\ndevice = "tpu"'), "training.device"),
])
def test_config_errors_name_the_key(tmp_path: Path, edit: tuple[str, str], key: str) -> None:
    path = tmp_path / "peer.toml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(ConfigError, match=rf"{key}:"):
        load_config(path)


@pytest.mark.parametrize(("edit", "message"), [
    (('[training]', '[p2p]\nlisten = "/ip4/0.0.0.0/udp/9100"\n[training]'), "p2p.listen: Value error, "
     "'/ip4/0.0.0.0/udp/9100' lacks /tcp/"),
    (('[training]', '[p2p]\nbootstrap = ["/ip4/999.0.0.1/tcp/1/p2p/16Uiu2HAm"]\n[training]'),
     "p2p.bootstrap: Value error, '/ip4/999.0.0.1/tcp/1/p2p/16Uiu2HAm' is not a multiaddr"),
    (('[training]', '[p2p]\nbootstrap = ["/ip4/10.0.0.1/tcp/9100"]\n[training]'), "lacks /p2p/"),
    (('task_file = "task.json"', 'task_file = "task.json"\nrpc_url = "localhost:8545"'),
     "chain.rpc_url: Value error, 'localhost:8545' is not an RPC URL"),
])
def test_multiaddrs_and_rpc_urls_are_checked_before_anything_runs(tmp_path: Path, edit: tuple[str, str],
                                                                  message: str) -> None:
    path = tmp_path / "peer.toml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_paths_expand_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "peer.toml"
    good_addr = "/dns4/peer.example.org/tcp/9100/p2p/16Uiu2HAmPyu6p8RmgQdpDvSLSvZsYdgjGSuqc9NrnmRqJw2yBCs1"
    path.write_text(GOOD.replace('data_dir = "data/peer-1"', 'data_dir = "~/swarm/peer-1"')
                    .replace("[training]", f'[p2p]\nbootstrap = ["{good_addr}"]\n[training]'))
    config = load_config(path)
    assert config.node.data_dir == tmp_path / "home" / "swarm" / "peer-1"
    assert config.p2p.bootstrap == [good_addr]


def test_config_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "peer.toml"
    path.write_text("[node\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_keystore_roundtrip_and_wrong_password(tmp_path: Path) -> None:
    made = new_key(tmp_path, "pw", kdf="pbkdf2")
    assert made.path.stat().st_mode & 0o777 == 0o600
    assert load_account(made.path, "pw").address == made.address
    with pytest.raises(KeystoreError, match="wrong password"):
        load_account(made.path, "nope")
    secret = Account.create()
    imported = import_key(secret.key.hex(), tmp_path, "pw", kdf="pbkdf2")
    assert imported.address == secret.address
    assert {k.address for k in list_keys(tmp_path)} == {made.address, secret.address}
    with pytest.raises(KeystoreError, match="already exists"):
        import_key(secret.key.hex(), tmp_path, "pw", kdf="pbkdf2")


def test_keys_cli_never_prints_the_private_key(tmp_path: Path) -> None:
    secret = Account.create()
    env_dir = ["--dir", str(tmp_path)]
    imported = run_cli("keys", "import", *env_dir, "--password-env", "PW_TEST", env={"PW_TEST": "pw"},
                       input_text=secret.key.hex() + "\n")
    assert imported.returncode == 0, imported.stderr
    listed = run_cli("keys", "list", *env_dir)
    assert secret.address in listed.stdout
    created = run_cli("keys", "new", *env_dir, "--password-env", "PW_TEST", env={"PW_TEST": "pw"})
    assert created.returncode == 0, created.stderr
    for out in (imported, listed, created):
        assert secret.key.hex().removeprefix("0x") not in out.stdout + out.stderr
    assert len(list_keys(tmp_path)) == 2


def test_node_status_reads_the_status_file_and_says_when_there_is_none(tmp_path: Path) -> None:
    path = tmp_path / "peer.toml"
    path.write_text(GOOD)
    missing = run_cli("node", "status", "--config", str(path))
    assert missing.returncode == 2 and "has this node run yet" in missing.stderr
    data_dir = tmp_path / "data" / "peer-1"
    data_dir.mkdir(parents=True)
    NodeStatus("peer-1", "0xabc", ["trainer"], "honest", round=1, phase="settled",
               ppl={"base": 90.0, "global@0": 80.5, "personal@0": 77.25, "global@1": 70.0},
               verdicts={"0": "ACCEPTED", "1": "ACCEPTED"}).write(data_dir / "status.json")
    shown = run_cli("node", "status", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert ["│", "0", "│", "ACCEPTED", "│", "80.50", "│", "77.25", "│"] in rows, shown.stdout
    assert ["│", "1", "│", "ACCEPTED", "│", "70.00", "│", "-", "│"] in rows, shown.stdout
    as_json = run_cli("node", "status", "--config", str(path), "--json")
    assert json.loads(as_json.stdout)["ppl"]["personal@0"] == 77.25


@pytest.mark.parametrize(("overrides", "refused"), [
    ({"krum_score_factor": float("nan")}, "finite"),
    ({"noise_sigmas": float("inf")}, "finite"),
    ({"replay_rounds": 2.5}, "consensus parameter replay_rounds in the task file is 2.5: it takes int"),
    ({"max_samples": None}, "consensus parameter max_samples in the task file is None: it takes int"),
    ({"quorum": 3}, "unknown consensus parameters in the task file: quorum"),
])
def test_a_task_file_cannot_switch_a_check_off_with_a_number_of_the_wrong_kind(
        tmp_path: Path, overrides: dict[str, float | int | None], refused: str) -> None:
    """A task owner's file decides how every validator judges: a NaN threshold compares false
    everywhere (a check that never fires), a fractional count is a rule nobody wrote down. The task
    file reader or the node refuses both before anything is staked."""
    with pytest.raises((ValidationError, TaskFileError), match=refused):
        consensus_params(TaskSpec(task_id=1, consensus=overrides))


def test_consensus_overrides_of_the_right_kind_are_taken() -> None:
    params = consensus_params(TaskSpec(task_id=1, consensus={
        "krum_score_factor": 4, "replay_rounds": 2, "multi_krum_keep": None, "clip_radius": 0.5,
        "trend_median": False}))
    assert (params.krum_score_factor, params.replay_rounds, params.multi_krum_keep) == (4, 2, None)
    assert (params.clip_radius, params.trend_median) == (0.5, False)
