"""Fixtures of the contract tests: a deployed set on the embedded chain (reset after each test by
a snapshot) and on a real anvil testnet started and always stopped here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, HTTPProvider, Web3

from harness import chaintime
from loraswarm.evm import deploy, localchain
from tests.contracts.harness import Swarm

# The TCP ports the contract tests may use for the chains they start.
PORTS = range(8600, 8650)


@pytest.fixture(scope="module")
def embedded() -> Swarm:
    return Swarm.deploy(Web3(EthereumTesterProvider()))


@pytest.fixture
def swarm(embedded: Swarm) -> Iterator[Swarm]:
    """The module's embedded deployment, rolled back after the test."""
    snapshot = chaintime.snapshot(embedded.w3)
    try:
        yield embedded
    finally:
        chaintime.revert(embedded.w3, snapshot)


@contextmanager
def anvil_swarm(state_dir: Path) -> Iterator[Swarm]:
    """A fresh anvil on a free port in PORTS with the contracts deployed by deploy_all; the chain
    is stopped on the way out whatever happened."""
    port = next((p for p in PORTS if localchain.port_free(p)), None)
    if port is None:
        pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1} for anvil")
    record = localchain.start_chain("anvil", port, state_dir)
    try:
        w3 = Web3(HTTPProvider(record.rpc_url))
        yield Swarm.deploy(w3, deploy.LOCAL, record.rpc_url)
    finally:
        localchain.stop_chain(state_dir)


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Swarm]:
    with anvil_swarm(tmp_path / "state") as swarm:
        yield swarm
