"""Stand up a local loraswarm network: a task on a deployment, funded peer accounts with
keystores, and one validated TOML config per peer. Used by ``loraswarm demo`` and the
end-to-end tests; every step is a plain function a test can call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from loraswarm.errors import TransactionReverted
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.localchain import free_port
from loraswarm.evm.tasks import TOKEN, TaskTerms
from loraswarm.node.keys import write_key
from loraswarm.node.windows import WINDOW_MARGIN_S
from loraswarm.protocol.taskspec import TaskSpec

# Text-heavy fortunes topics (the ascii-art ones teach a language model little).
DEMO_TOPICS = ("computers", "science", "politics", "food", "education", "law", "literature", "love",
               "humorists", "work", "medicine", "people")


@dataclass(frozen=True)
class PeerPlan:
    name: str
    behaviour: str
    validator: bool
    topics: tuple[str, ...]
    host: str = "127.0.0.1"  # the address it listens on (its namespace's, in network fault tests)
    personal: bool = False  # keep a personal adapter (node/personal.py) besides the global
    metrics_port: int = 0  # its Prometheus /metrics port on `host` (0: none)


@dataclass(frozen=True)
class PeerFiles:
    plan: PeerPlan
    address: str
    config: Path
    data_dir: Path


def default_plans(peers: int, validators: int = 3, topics: Sequence[str] = DEMO_TOPICS,
                  personal: bool = False) -> list[PeerPlan]:
    """Honest peers first (the first `validators` of them also validate), then one scaling
    attacker and one zero-delta free rider (when there are at least 4 peers). With `personal`,
    the honest peers keep personal adapters."""
    behaviours = ["honest"] * peers
    if peers >= 4:
        behaviours[-2:] = ["scaling", "zero"]
    return [PeerPlan(f"peer{i}", b, i < validators and b == "honest", (topics[i % len(topics)],),
                     personal=personal and b == "honest")
            for i, b in enumerate(behaviours)]


def make_peers(w3: Web3, deployment: Deployment, funder: str, plans: Sequence[PeerPlan], root: Path,
               task_file: Path, deployment_file: Path, rpc_url: str, password: str, terms: TaskTerms,
               training: dict[str, object], key_seed: str | None = None,
               margin_s: float = WINDOW_MARGIN_S) -> list[PeerFiles]:
    """Accounts (encrypted keystores), gas money, tokens staked and registered in the task (before
    any node starts: a validator takes part from the first round that begins after it registered,
    and five nodes loading a model at once on two cores take longer than a task's start delay),
    and configs whose bootstrap lists name every other peer (ports and peer ids are known before
    anyone starts); each config names the chain's RPC endpoint (the deployment file does not).
    With ``key_seed`` each peer's key derives from it and the peer's name, so
    that two runs of one plan have the same accounts (their outcomes can then be compared leaf by
    leaf)."""
    # Imported here: libp2p takes seconds to load, and the CLI imports this module for `--help` too.
    from loraswarm.node.p2p.keys import identity_from_account

    accounts = [Account.create() if key_seed is None else Account.from_key(keccak(text=f"{key_seed}/{plan.name}"))
                for plan in plans]
    register(w3, deployment, funder, TaskSpec.read(task_file).task_id, terms,
             [(a, plan.validator) for a, plan in zip(accounts, plans, strict=True)])
    ports = [free_port() for _ in plans]
    addrs = [f"/ip4/{plan.host}/tcp/{port}/p2p/{identity_from_account(a).peer_id}" for plan, a, port in zip(
        plans, accounts, ports, strict=True)]
    made = []
    for i, (plan, account) in enumerate(zip(plans, accounts, strict=True)):
        data_dir = root / plan.name
        key = write_key(account, root / "keys", password, kdf="pbkdf2")
        config = {
            "node": {"name": plan.name, "data_dir": str(data_dir), "behaviour": plan.behaviour,
                     "roles": ["trainer", "validator"] if plan.validator else ["trainer"]},
            "keys": {"keystore": str(key.path)},
            "chain": {"deployment": str(deployment_file), "task_file": str(task_file), "rpc_url": rpc_url,
                      "margin_s": margin_s},
            "p2p": {"listen": f"/ip4/{plan.host}/tcp/{ports[i]}",
                    "bootstrap": [a for j, a in enumerate(addrs) if j != i]},
            "training": {"topics": list(plan.topics), "personal": plan.personal, **training},
            "metrics": {"port": plan.metrics_port, "host": plan.host},
        }
        path = root / f"{plan.name}.toml"
        path.write_text(tomli_w.dumps(config))
        made.append(PeerFiles(plan, account.address, path, data_dir))
    return made


# Gas of each registration call (approve, stake, register): given, not estimated, so that an
# account's calls can all be sent before the first is mined (estimating stake would fail then).
REGISTER_GAS = 300_000


def register(w3: Web3, deployment: Deployment, funder: str, task_id: int, terms: TaskTerms,
             accounts: Sequence[tuple[LocalAccount, bool]]) -> None:
    """Fund every (account, is_validator) with gas money and the tokens its stakes need, then
    stake and register each: all calls in flight at once, a few blocks in all."""
    contracts = attach(deployment, w3)
    token, staking, coordinator = contracts["RewardToken"], contracts["Staking"], contracts["Coordinator"]
    pending = []
    for account, validator in accounts:
        pending.append(w3.eth.send_transaction({"from": funder, "to": account.address, "value": 10 * TOKEN}))
        amount = terms.peer_stake + (terms.validator_stake if validator else 0)
        pending.append(token.functions.transfer(account.address, amount).transact({"from": funder}))
    _wait(w3, pending)
    chain_id = int(w3.eth.chain_id)
    pending = []
    for account, validator in accounts:
        amount = terms.peer_stake + (terms.validator_stake if validator else 0)
        calls = [token.functions.approve(staking.address, amount), staking.functions.stake(amount),
                 coordinator.functions.registerPeer(task_id)]
        if validator:
            calls.append(coordinator.functions.registerValidator(task_id, terms.validator_stake))
        for nonce, call in enumerate(calls, start=w3.eth.get_transaction_count(account.address)):
            tx = call.build_transaction({"from": account.address, "nonce": nonce, "gas": REGISTER_GAS,
                                         "chainId": chain_id})
            pending.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
    _wait(w3, pending)


def _wait(w3: Web3, pending: Sequence[bytes]) -> None:
    for tx_hash in pending:
        if w3.eth.wait_for_transaction_receipt(tx_hash)["status"] != 1:
            raise TransactionReverted(f"a registration transaction reverted (tx 0x{bytes(tx_hash).hex()})")
