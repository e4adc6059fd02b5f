"""Node state (SQLite) and the chain client's journaled sends, on the embedded EVM."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account
from web3 import EthereumTesterProvider, HTTPProvider, Web3

from loraswarm.evm import deploy, localchain
from loraswarm.evm.compile import compile_contracts
from loraswarm.evm.localchain import free_port
from loraswarm.evm.tasks import TaskTerms, task_params
from loraswarm.node.chain.client import ChainClient, RetryPolicy
from loraswarm.node.chain.errors import ChainRevert, RpcStalled, TransactionNotMined
from loraswarm.node.chain.reverts import error_selectors
from loraswarm.node.chain.task import TaskChain
from loraswarm.node.state.phase import Phase
from loraswarm.node.state.store import MAX_UPDATES_PER_PEER, SavedAttestation, StateStore, StateVersionError


@pytest.fixture
def chain(tmp_path: Path):
    yield from _chain(Web3(EthereumTesterProvider()), tmp_path)


@pytest.fixture
def anvil_chain(tmp_path: Path):
    record = localchain.start_chain("anvil", free_port(), tmp_path / "chain")
    try:
        yield from _chain(Web3(HTTPProvider(record.rpc_url)), tmp_path)
    finally:
        localchain.stop_chain(tmp_path / "chain")


def _chain(w3: Web3, tmp_path: Path):
    deployment = deploy.deploy_all(w3, deploy.EMBEDDED, None, w3.eth.accounts[0])
    contracts = deploy.attach(deployment, w3)
    token = contracts["RewardToken"]
    account = Account.create()
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**18})
    token.functions.transfer(account.address, 1000).transact({"from": w3.eth.accounts[0]})
    store = StateStore(tmp_path / "state.sqlite")
    selectors = error_selectors(a.abi for a in compile_contracts().values())
    yield w3, contracts, account, store, selectors
    store.close()


def test_the_journal_keeps_each_fact_once_across_a_restart(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.save_own_update(3, b"signed update", "0xd1")
    store.save_own_update(3, b"another", "0xd2")  # a commitment, once made, never changes
    saved = SavedAttestation(3, ("0x01", "0x02", "0x03", "0x04", 900), "0x05", "0x06")
    store.save_attestation(saved)
    store.save_attestation(SavedAttestation(3, ("0x0a", "0x02", "0x03", "0x04", 1), "0x0b", "0x06"))
    assert store.start_global(3, "0xg1") == "0xg1"
    assert store.start_global(3, "0xg2") == "0xg1"  # the round's own result never becomes its start
    store.set_phase(3, Phase.SEALED)
    store.mark_revealed(3)
    store.close()
    reopened = StateStore(tmp_path / "s.sqlite")
    own = reopened.own_update(3)
    assert own is not None and (own.envelope, own.digest, own.revealed) == (b"signed update", "0xd1", True)
    assert reopened.attestation(3) == saved
    record = reopened.round(3)
    assert record is not None and record.phase is Phase.SEALED and record.start_global == "0xg1"
    reopened.finish_round(3, Phase.SETTLED, {"status": "finalized"}, global_hash="0xg9")
    assert [(r.round, r.phase, r.global_hash) for r in reopened.rounds()] == [(3, Phase.SETTLED, "0xg9")]
    assert Phase.SETTLED.finished and not Phase.SEALED.finished


def test_a_peer_s_distinct_updates_are_kept_up_to_a_cap(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    assert store.save_envelope(3, "0xp", "0xh", b"body", 1.0)
    assert not store.save_envelope(3, "0xp", "0xh", b"body", 2.0)  # the same one again
    for i in range(1, MAX_UPDATES_PER_PEER):
        assert store.save_envelope(3, "0xp", f"0xh{i}", b"other", 2.0)
    assert not store.save_envelope(3, "0xp", "0xhx", b"more", 3.0)
    assert len(store.envelopes(3)) == MAX_UPDATES_PER_PEER and store.envelopes(3)[0] == ("0xp", "0xh", b"body")


def test_a_data_dir_of_another_schema_is_refused(tmp_path: Path) -> None:
    StateStore(tmp_path / "s.sqlite").close()
    import sqlite3

    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    with pytest.raises(StateVersionError, match="schema 1"):
        StateStore(tmp_path / "s.sqlite")


def test_send_is_idempotent_per_purpose(chain) -> None:
    w3, contracts, account, store, selectors = chain
    token = contracts["RewardToken"]
    client = ChainClient(w3, account, store, selectors)
    receiver = Account.create().address
    first = client.send("pay:1", token.functions.transfer(receiver, 7))
    again = client.send("pay:1", token.functions.transfer(receiver, 7))
    assert again.tx_hash == first.tx_hash
    assert token.functions.balanceOf(receiver).call() == 7
    assert w3.eth.get_transaction_count(account.address) == 1
    assert store.gas_spent() == first.gas_used > 0


def test_restart_after_journal_before_broadcast_sends_exactly_once(chain) -> None:
    """A crash between journaling and broadcasting: the restarted client sends the same bytes."""
    w3, contracts, account, store, selectors = chain
    token = contracts["RewardToken"]
    receiver = Account.create().address
    tx = token.functions.transfer(receiver, 5).build_transaction({
        "from": account.address, "nonce": w3.eth.get_transaction_count(account.address), "chainId": w3.eth.chain_id,
    })
    signed = account.sign_transaction(tx)
    store.record_transaction("pay:2", tx["nonce"], "0x" + signed.hash.hex(), "0x" + signed.raw_transaction.hex())
    restarted = ChainClient(w3, account, store, selectors)
    receipt = restarted.send("pay:2", token.functions.transfer(receiver, 5))
    assert receipt.tx_hash == "0x" + signed.hash.hex()
    assert token.functions.balanceOf(receiver).call() == 5
    assert w3.eth.get_transaction_count(account.address) == 1


@pytest.mark.e2e
def test_revert_is_decoded_and_nothing_is_sent(anvil_chain) -> None:
    w3, contracts, account, store, selectors = anvil_chain
    token = contracts["RewardToken"]
    client = ChainClient(w3, account, store, selectors)
    with pytest.raises(ChainRevert) as info:
        client.send("pay:3", token.functions.transfer(Account.create().address, 10**30))
    assert info.value.error == "ERC20InsufficientBalance"
    assert store.transaction("pay:3") is None
    assert w3.eth.get_transaction_count(account.address) == 0


def test_unreachable_rpc_stalls_then_reports(tmp_path: Path) -> None:
    w3 = Web3(HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 0.5}))
    with pytest.raises(RpcStalled):
        ChainClient(w3, Account.create(), StateStore(tmp_path / "s.sqlite"), {},
                    RetryPolicy(first_wait_s=0.05, give_up_after_s=0.5))


def test_one_outage_clock_for_all_calls_and_a_success_ends_it(tmp_path: Path) -> None:
    client = ChainClient(Web3(EthereumTesterProvider()), Account.create(), StateStore(tmp_path / "s.sqlite"), {},
                         RetryPolicy(first_wait_s=0.02, max_wait_s=0.05))
    assert client.outage_s() is None
    down_until = time.monotonic() + 0.6
    seen: list[float] = []

    def flaky() -> int:
        if time.monotonic() < down_until:
            outage = client.outage_s()
            if outage is not None:
                seen.append(outage)
            raise ConnectionError("refused")
        return 7

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(lambda _: client.with_retry(flaky), range(3))) == [7, 7, 7]
    # three waiting calls, one clock: the outage they read only grows, and ends with a success
    assert seen and max(seen) >= 0.4 and client.outage_s() is None
    down_until = time.monotonic() + 0.05
    seen.clear()
    client.with_retry(flaky)
    assert seen == [] or seen[0] < 0.05  # a new outage starts from zero


@pytest.mark.e2e
def test_a_transaction_mined_with_a_revert_names_the_error(anvil_chain) -> None:
    """Two transfers that each pass estimation but not both: the one mined second reverts, and
    the client names the contract's error (replayed on its block's state) and journals it."""
    w3, contracts, account, store, selectors = anvil_chain
    token = contracts["RewardToken"]
    client = ChainClient(w3, account, store, selectors)
    w3.provider.make_request("evm_setAutomine", [False])
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.send, "pay:a", token.functions.transfer(Account.create().address, 800))
        deadline = time.monotonic() + 30
        while store.transaction("pay:a") is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = pool.submit(client.send, "pay:b", token.functions.transfer(Account.create().address, 800))
        while store.transaction("pay:b") is None:
            assert time.monotonic() < deadline and not second.done(), second
            time.sleep(0.05)
        time.sleep(0.5)  # both broadcast
        w3.provider.make_request("evm_mine", [])
        assert first.result(timeout=30).gas_used > 0
        with pytest.raises(ChainRevert) as info:
            second.result(timeout=30)
    assert info.value.error == "ERC20InsufficientBalance (mined)"
    journaled = store.transaction("pay:b")
    assert journaled is not None and journaled.status == "reverted"



def test_a_node_stakes_and_registers_once(chain) -> None:
    """TaskChain.ensure_registered: approve, stake, register as peer and validator; a second call
    (a restart) sends nothing."""
    w3, contracts, account, store, selectors = chain
    terms = TaskTerms(peer_stake=100, validator_stake=500)
    start = int(w3.eth.get_block("latest")["timestamp"]) + 600
    params = task_params(terms, start, b"\1" * 32, b"\2" * 32, b"\3" * 32)
    contracts["Coordinator"].functions.createTask(params).transact({"from": w3.eth.accounts[0]})
    task = TaskChain(ChainClient(w3, account, store, selectors), contracts, 1, 0)
    done = task.ensure_registered(True, 500)
    assert [r.purpose for r in done] == ["approve:1", "stake:1", "register-peer:1", "register-validator:1"]
    mine = task.participant(account.address)
    assert (mine.peer_stake, mine.validator_stake) == (100, 500)
    assert task.ensure_registered(True, 500) == []
    assert w3.eth.get_transaction_count(account.address) == 4



@pytest.mark.e2e
def test_a_transaction_never_mined_ends_the_wait_with_a_typed_error(anvil_chain) -> None:
    """Every wait of the node has a deadline: a transaction the chain never mines (here: signed
    with a nonce from the future, which anvil queues forever) is reported, not waited on."""
    w3, contracts, account, store, selectors = anvil_chain
    tx = contracts["RewardToken"].functions.transfer(Account.create().address, 1).build_transaction({
        "from": account.address, "nonce": 5, "chainId": w3.eth.chain_id, "gas": 100_000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
    signed = account.sign_transaction(tx)
    store.record_transaction("pay:gap", 5, "0x" + signed.hash.hex(), "0x" + signed.raw_transaction.hex())
    client = ChainClient(w3, account, store, selectors, RetryPolicy(receipt_timeout_s=0.2, mined_within_s=1.0))
    with pytest.raises(TransactionNotMined, match="pay:gap"):
        client.send("pay:gap", contracts["RewardToken"].functions.transfer(Account.create().address, 1))
