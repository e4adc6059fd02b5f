"""Commitments are EIP-712 Update digests, and two different signed Updates of one round are
on-chain evidence: `updateDigest` equals the gossip envelope's digest byte for byte, a report of
an equivocation slashes the peer's whole stake (the reporter gets the bounty), and malformed
evidence is refused. On anvil: the equivocating peer is a key the test signs with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from harness import chaintime
from loraswarm.node.p2p.envelope import Domain, Envelope, Update, sign
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.conftest import anvil_swarm
from tests.contracts.harness import TEST_TERMS, Swarm, update_values

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class Scene:
    swarm: Swarm
    task: int
    peer: LocalAccount
    reporter: str

    def signed(self, round_: int = 0, label: str = "delta", signer: LocalAccount | None = None,
               peer: str | None = None) -> Envelope:
        """A signed Update of `peer` (default: the scene's peer) for the task."""
        values = update_values(self.task, round_, peer or self.peer.address, label)
        domain = Domain(self.swarm.chain_id, self.swarm.coordinator.address)
        return sign(domain, Update(*values), signer or self.peer)  # type: ignore[arg-type]

    def report(self, a: Envelope, b: Envelope) -> object:
        call = self.swarm.coordinator.functions.reportEquivocation(_struct(a), a.signature, _struct(b), b.signature)
        return self.swarm.send(call, self.reporter)


def _struct(envelope: Envelope) -> tuple[object, ...]:
    body = envelope.body
    assert isinstance(body, Update)
    return (body.task_id, body.round, body.peer, body.base_hash, body.delta_hash, body.delta_size,
            body.sample_count, body.codec_id, body.salt)


def fresh_account(swarm: Swarm, label: str) -> LocalAccount:
    """A key the test holds, able to send on anvil (impersonated, with gas money)."""
    account = Account.from_key(keccak(text=label))
    swarm.w3.provider.make_request("anvil_impersonateAccount", [account.address])
    swarm.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])
    return account


@pytest.fixture(scope="module")
def scene_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with anvil_swarm(tmp_path_factory.mktemp("equivocation") / "state") as swarm:
        task = swarm.create_task()
        peer = fresh_account(swarm, "equivocating peer")
        swarm.join_peer(task, peer.address)
        reporter = fresh_account(swarm, "reporter").address
        yield Scene(swarm, task, peer, reporter)


@pytest.fixture
def scene(scene_base: Scene) -> Iterator[Scene]:
    snapshot = chaintime.snapshot(scene_base.swarm.w3)
    try:
        yield scene_base
    finally:
        chaintime.revert(scene_base.swarm.w3, snapshot)


def test_the_contract_digest_is_the_envelope_digest_and_the_commitment(scene: Scene) -> None:
    swarm = scene.swarm
    for round_, label in ((0, "delta"), (7, "other"), (2**40, "far")):
        envelope = scene.signed(round_, label)
        digest = bytes(swarm.coordinator.functions.updateDigest(_struct(envelope)).call())
        assert digest == envelope.digest
        assert digest == chain.commitment(swarm.chain_id, swarm.coordinator.address, _struct(envelope))
        assert envelope.signer() == scene.peer.address


def test_two_signed_updates_of_a_round_slash_the_peer_and_pay_the_reporter(scene: Scene) -> None:
    swarm, peer = scene.swarm, scene.peer.address
    swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    first, second = scene.signed(0, "delta"), scene.signed(0, "another delta")
    swarm.send(swarm.coordinator.functions.commit(scene.task, 0, first.digest), peer)
    stake, pool = swarm.stake_of(peer), swarm.slash_pool(scene.task)
    assert swarm.balance(scene.reporter) == 0
    receipt = scene.report(first, second)
    reported = swarm.event(receipt, "EquivocationReported")
    assert (reported["peer"], reported["digestA"], reported["digestB"], reported["reporter"]) == (
        peer, first.digest, second.digest, scene.reporter)
    slashed = swarm.event(receipt, "SlashExecuted")
    assert slashed["reason"] == chain.EQUIVOCATION_REASON == Reason.EQUIVOCATION
    assert slashed["amount"] == TEST_TERMS.peer_stake
    assert swarm.stake_of(peer) == stake - TEST_TERMS.peer_stake
    assert swarm.participant(scene.task, peer)["peerStake"] == 0
    assert swarm.balance(scene.reporter) == chain.slash_bounty(TEST_TERMS.peer_stake)
    assert swarm.slash_pool(scene.task) == pool + TEST_TERMS.peer_stake - chain.slash_bounty(TEST_TERMS.peer_stake)
    assert swarm.coordinator.functions.isEquivocated(scene.task, 0, peer).call()
    assert not swarm.coordinator.functions.isEquivocated(scene.task, 1, peer).call()
    with swarm.reverts("AlreadySlashed"):
        scene.report(second, first)


def test_malformed_evidence_is_refused(scene: Scene) -> None:
    swarm = scene.swarm
    other = fresh_account(swarm, "another peer")
    swarm.join_peer(scene.task, other.address)
    a = scene.signed(0, "delta")
    cases = {
        "same update": (a, scene.signed(0, "delta")),
        "another peer": (a, scene.signed(0, "other", signer=other, peer=other.address)),
        "another round": (a, scene.signed(1, "other")),
        "a signature by someone else": (a, scene.signed(0, "other", signer=other)),
    }
    errors = {"same update": "MalformedEvidence", "another peer": "MalformedEvidence",
              "another round": "MalformedEvidence", "a signature by someone else": "WrongSigner"}
    for name, (first, second) in cases.items():
        with swarm.reverts(errors[name]):
            scene.report(first, second)
    # The same signature with s flipped to n - s recovers the same key: OpenZeppelin refuses it.
    b = scene.signed(0, "other")
    r, s, v = b.signature[:32], int.from_bytes(b.signature[32:64], "big"), b.signature[64]
    malleable = Envelope(b.domain, b.body, r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v]))
    with swarm.reverts("ECDSAInvalidSignatureS"):
        scene.report(a, malleable)
    assert swarm.participant(scene.task, scene.peer.address)["peerStake"] == TEST_TERMS.peer_stake


def test_only_a_registered_peer_within_the_slash_deadline_is_slashed(scene: Scene) -> None:
    swarm = scene.swarm
    stranger = fresh_account(swarm, "unregistered signer")
    with swarm.reverts("NotSlashable"):
        scene.report(scene.signed(0, "a", stranger, stranger.address), scene.signed(0, "b", stranger, stranger.address))
    swarm.enter(scene.task, 1, chain.Phase.FAILED)  # the end of round 1: round 0's slash deadline
    with swarm.reverts("SlashExpired"):
        scene.report(scene.signed(0, "a"), scene.signed(0, "b"))
    scene.report(scene.signed(1, "a"), scene.signed(1, "b"))  # round 1's is open until round 2 ends
    assert swarm.participant(scene.task, scene.peer.address)["peerStake"] == 0


def test_a_reveal_opens_only_the_committed_update_once_in_its_window(scene: Scene) -> None:
    """Whether a peer revealed, and what, is chain state: the update must hash to the commitment
    (a re-based update under the same delta and salt is refused: the peer cannot pick its verdict
    after the others revealed), in the reveal window, once."""
    swarm, peer = scene.swarm, scene.peer
    committed = scene.signed()
    reveal = swarm.coordinator.functions.reveal
    swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    with swarm.reverts("NotCommitted"):
        swarm.send(reveal(_struct(committed)), peer.address)
    swarm.send(swarm.coordinator.functions.commit(scene.task, 0, committed.digest), peer.address)
    with swarm.reverts("NotInRevealWindow"):  # during the commit window others have not committed yet
        swarm.send(reveal(_struct(committed)), peer.address)
    swarm.enter(scene.task, 0, chain.Phase.REVEAL)
    body = committed.body
    assert isinstance(body, Update)
    rebased = sign(committed.domain, replace(body, base_hash=keccak(text="another base")), peer)
    with swarm.reverts("NotTheCommittedUpdate"):
        swarm.send(reveal(_struct(rebased)), peer.address)
    with swarm.reverts("NotPeer"):  # only the peer reveals its update
        swarm.send(reveal(_struct(committed)), scene.reporter)
    receipt = swarm.send(reveal(_struct(committed)), peer.address)
    event = swarm.event(receipt, "UpdateRevealed")
    assert (event["peer"], event["deltaHash"], event["baseHash"], event["sampleCount"]) == (
        peer.address, body.delta_hash, body.base_hash, body.sample_count)
    with swarm.reverts("AlreadyRevealed"):
        swarm.send(reveal(_struct(committed)), peer.address)
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    with swarm.reverts("NotInRevealWindow"):
        swarm.send(reveal(_struct(committed)), peer.address)
