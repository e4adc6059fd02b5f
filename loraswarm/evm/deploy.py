"""Deploy the contract set with web3.py and read/write the deployment file.

A deployment file records what a node or the CLI needs to talk to a deployment: chain id,
contract addresses (RewardToken, Staking, Coordinator), the block of deployment (the first block
holding one of its transactions: scan logs from there) and a hash of each ABI (so a stale build
is detected instead of silently mis-decoding events). Peers share it, so it names no RPC endpoint:
each user and node brings its own (loraswarm.evm.rpc), which may carry an API key.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import TxReceipt

from loraswarm.errors import (
    BadDeploymentFile,
    BadKey,
    ChainUnreachable,
    DeploymentExists,
    DeploymentMissing,
    TransactionReverted,
    Unfunded,
    WrongChainId,
)
from loraswarm.evm import funds, rpc
from loraswarm.evm.compile import Artifact, contract_artifacts
from loraswarm.evm.localchain import read_record
from loraswarm.files import write_atomic
from loraswarm.protocol.chain import COORDINATOR, STAKING, TOKEN
from loraswarm.protocol.jsonguard import check_depth

EMBEDDED = "embedded"
LOCAL = "local"
REMOTE = "remote"  # any RPC URL: the file never records which
DEPLOYER_KEY_ENV = "LORASWARM_DEPLOYER_KEY"
# Whole supply of the fixed-supply reward token, in its smallest unit (18 decimals).
DEFAULT_TOKEN_SUPPLY = 100_000_000 * 10**18
# Part of the supply the deployer (treasury) moves into the coordinator's reward reserve; tasks
# draw their budgets from it. The rest stays with the treasury to hand out as stake.
DEFAULT_REWARD_RESERVE = 10_000_000 * 10**18
# Seconds between an unstake request and the withdrawal: a cooling-off for free stake. Slashes
# never reach it (they take stake a task still locks; leaving releases it only after the last
# round's slash deadline), so it does not bound a task's round period.
DEFAULT_WITHDRAWAL_DELAY_S = 24 * 3600
# A deployment file is one object holding two flat objects.
_MAX_DEPTH = 2


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    network: str
    # Where the deploying process reached the chain: kept in memory for it, never written to the
    # file (peers each use their own endpoint) and never read from one.
    rpc_url: str | None = field(compare=False)
    deployer: str
    block: int
    addresses: dict[str, str]
    abi_hashes: dict[str, str]
    deployed_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        shared = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rpc_url"}
        return json.dumps(shared, indent=1, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> Deployment:
        if not path.is_file():
            raise DeploymentMissing(f"deployment file {path} not found; run `loraswarm deploy` first")
        try:
            raw = path.read_bytes()
            # check_depth before json.loads: under py_ecc's recursion limit deep nesting would
            # overflow the C stack; strict UTF-8 so that no UTF-16 text hides brackets from it.
            check_depth(raw, _MAX_DEPTH)
            data = json.loads(raw.decode("utf-8"))
            # Files written before endpoints became per user named the deployer's: not ours to use.
            if isinstance(data, dict):
                data.pop("rpc_url", None)
            deployment = cls(**data, rpc_url=None)
            deployment._check_types()
        except (ValueError, TypeError) as exc:  # JSON, UTF-8, depth, fields, types
            raise BadDeploymentFile(f"deployment file {path} is malformed: {str(exc)[:200]}") from None
        return deployment

    def _check_types(self) -> None:
        """A file's fields reach web3 calls and file names: refuse wrong types here, not there."""
        def text_map(value: object) -> bool:
            return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())

        if not (type(self.chain_id) is int and self.chain_id > 0 and type(self.block) is int and self.block >= 0
                and isinstance(self.network, str) and isinstance(self.deployer, str)
                and text_map(self.addresses) and text_map(self.abi_hashes)
                and type(self.deployed_at) in (int, float)):
            raise TypeError("a field has the wrong type")


def connect(network: str, state_dir: Path) -> tuple[Web3, str | None]:
    """Web3 for a network name (embedded | local | an http(s) RPC URL) and its RPC URL."""
    if network == EMBEDDED:
        return Web3(EthereumTesterProvider()), None
    if network == LOCAL:
        rpc_url = read_record(state_dir).rpc_url
    elif network.startswith(("http://", "https://")):
        rpc_url = network
    else:
        raise ChainUnreachable(f"unknown network {network!r}: use embedded, local or an http(s) RPC URL")
    return rpc.connect(rpc_url), rpc_url


def signer(w3: Web3, account: LocalAccount) -> str:
    """Let ``w3`` sign and send ``account``'s transactions (contract calls' ``transact``) here."""
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    return account.address


def deployer_account(w3: Web3, account: LocalAccount | None = None) -> str:
    """The deploying (or task-owning) account: ``account`` (from a keystore), else a private key
    from LORASWARM_DEPLOYER_KEY, else the chain's first unlocked development account (anvil,
    hardhat and the embedded chain all have them)."""
    if account is not None:
        return signer(w3, account)
    key = os.environ.get(DEPLOYER_KEY_ENV)
    if key:
        try:
            from_env = Account.from_key(key.strip())
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            raise BadKey(f"{DEPLOYER_KEY_ENV} is not a hex secp256k1 private key: fix it, or unset it and pass "
                         "--keystore FILE") from None
        return signer(w3, from_env)
    accounts = w3.eth.accounts
    if not accounts:
        raise BadKey(f"the chain has no unlocked account to send from: pass --keystore FILE (or set "
                     f"{DEPLOYER_KEY_ENV})")
    return accounts[0]


def _sent(w3: Web3, sender: str, submit: Any) -> Any:
    """The transaction hash ``submit()`` returns; an account short of gas money is Unfunded."""
    try:
        return submit()
    except Web3RPCError as exc:
        text = str(exc).lower()
        if "insufficient funds" in text or "afford" in text:
            chain_id = int(w3.eth.chain_id)
            raise Unfunded(f"account {sender} on chain {chain_id} has too little ETH for this transaction's gas "
                           f"({funds.ether(int(w3.eth.get_balance(sender)))} ETH): fund it and retry") from None
        raise


def deploy_contract(w3: Web3, artifact: Artifact, sender: str, *args: Any) -> Contract:
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = _sent(w3, sender, lambda: factory.constructor(*args).transact({"from": sender}))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise TransactionReverted(f"deployment of {artifact.name} reverted (tx 0x{bytes(tx_hash).hex()})")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def send(w3: Web3, call: Any, sender: str | LocalAccount) -> TxReceipt:
    """Send one contract call as a transaction, from an account the chain holds unlocked (its
    address) or one whose key is here (signed locally), wait for it, and raise
    TransactionReverted if it reverts. (A node's own sends are journaled: node/chain/client.py.)"""
    if isinstance(sender, str):
        tx_hash = _sent(w3, sender, lambda: call.transact({"from": sender}))
    else:
        tx = _sent(w3, sender.address, lambda: call.build_transaction({
            "from": sender.address, "chainId": int(w3.eth.chain_id),
            "nonce": w3.eth.get_transaction_count(sender.address, "pending")}))
        tx_hash = _sent(w3, sender.address,
                        lambda: w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise TransactionReverted(f"{call.fn_name} reverted (tx 0x{bytes(tx_hash).hex()})")
    return receipt


def deploy_all(
    w3: Web3,
    network: str,
    rpc_url: str | None,
    sender: str,
    reward_reserve: int = DEFAULT_REWARD_RESERVE,
    withdrawal_delay_s: int = DEFAULT_WITHDRAWAL_DELAY_S,
) -> Deployment:
    """Deploy token, staking and coordinator, make the coordinator the only slasher, and fund
    its reward reserve from the treasury (the deployer, who holds the whole fixed supply)."""
    artifacts = contract_artifacts()
    funds.require_eth(w3, sender, funds.gas_cost(w3, funds.DEPLOY_GAS), "deploying the contracts")
    first_block = int(w3.eth.block_number) + 1
    token = deploy_contract(w3, artifacts[TOKEN], sender, sender, DEFAULT_TOKEN_SUPPLY)
    staking = deploy_contract(w3, artifacts[STAKING], sender, token.address, withdrawal_delay_s, sender)
    coordinator = deploy_contract(w3, artifacts[COORDINATOR], sender, token.address, staking.address, sender)
    send(w3, staking.functions.setCoordinator(coordinator.address), sender)
    if reward_reserve:
        send(w3, token.functions.approve(coordinator.address, reward_reserve), sender)
        send(w3, coordinator.functions.depositReserve(reward_reserve), sender)
    deployed = {TOKEN: token.address, STAKING: staking.address, COORDINATOR: coordinator.address}
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        # Peers share the file: a URL (which may carry an API key) is recorded only as its kind.
        network=network if network in (EMBEDDED, LOCAL) else REMOTE,
        rpc_url=rpc_url,
        deployer=sender,
        block=first_block,
        addresses=deployed,
        abi_hashes={name: artifacts[name].abi_hash for name in deployed},
    )


def default_deployment_path(state_dir: Path, chain_id: int) -> Path:
    return state_dir / "deployments" / f"{chain_id}.json"


def write_deployment(deployment: Deployment, path: Path, force: bool) -> None:
    """Write atomically; an existing file is replaced only with force."""
    if path.exists() and not force:
        raise DeploymentExists(f"{path} already holds a deployment on chain {deployment.chain_id}; "
                               "pass --force to replace it")
    write_atomic(path, deployment.to_json())


def check_deployment_file(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise DeploymentExists(f"{path} already exists; pass --force to replace it")


def attach(deployment: Deployment, w3: Web3) -> dict[str, Contract]:
    """Contracts of a deployment on a live chain, after checking it is the right chain and build."""
    chain_id = int(w3.eth.chain_id)
    if chain_id != deployment.chain_id:
        raise WrongChainId(f"deployment is for chain id {deployment.chain_id} but the RPC answers "
                           f"chain id {chain_id}: use an RPC endpoint of chain {deployment.chain_id}")
    artifacts = contract_artifacts()
    contracts = {}
    for name, address in deployment.addresses.items():
        artifact = artifacts.get(name)
        if artifact is None or artifact.abi_hash != deployment.abi_hashes.get(name):
            raise BadDeploymentFile(f"{name} in the deployment has another ABI than this loraswarm's: install the "
                                    "loraswarm version the network runs (or redeploy)")
        if w3.eth.get_code(address) in (b"", b"\x00"):
            raise WrongChainId(f"no code at {name} address {address} on chain {chain_id}: the chain was reset or "
                               "this is another network; redeploy, or use the deployment file of this chain")
        contracts[name] = w3.eth.contract(address=address, abi=artifact.abi)
    _check_wiring(contracts)
    return contracts


def _check_wiring(contracts: dict[str, Contract]) -> None:
    """The three contracts name each other (their links are immutable or set once by the deployer):
    a deployment file that pairs the real token and coordinator with a lookalike escrow, which would
    take what an operator stakes, is refused before anything is sent."""
    token, staking, coordinator = (contracts.get(name) for name in (TOKEN, STAKING, COORDINATOR))
    if token is None or staking is None or coordinator is None:
        raise BadDeploymentFile(f"the deployment lacks one of {TOKEN}, {STAKING}, {COORDINATOR}")
    links = {
        f"{COORDINATOR}.rewardToken": (coordinator.functions.rewardToken().call(), token.address),
        f"{COORDINATOR}.staking": (coordinator.functions.staking().call(), staking.address),
        f"{STAKING}.token": (staking.functions.token().call(), token.address),
        f"{STAKING}.coordinator": (staking.functions.coordinator().call(), coordinator.address),
    }
    wrong = [f"{link} is {actual}, not {expected}" for link, (actual, expected) in links.items()
             if str(actual).lower() != str(expected).lower()]
    if wrong:
        raise BadDeploymentFile(f"the deployment's contracts do not belong together ({'; '.join(wrong)}): get the "
                                "deployment file from the network's operator again")
