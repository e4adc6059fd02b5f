"""Fixtures shared by every test package (plain helpers live in tests/support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"




# The suite runs on two xdist workers (scripts/test). The modules that train the real model in
# real networks saturate both cores by themselves (four of them at once ran the learning and the
# personal e2e past their timeouts and made windowed rounds miss their windows), so they run one
# after another on one worker, while the other worker runs everything else. The one that only
# trains (no round windows) goes first: it bears the other worker's load best.
_REAL_NETWORKS = (
    "tests/training/test_learning_e2e.py",
    "tests/personal/test_personal_e2e.py",
    "tests/node/test_network_e2e.py",
    "tests/reliability/test_partition_netns.py",
    "tests/node/test_demo_cli.py",
)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = _module(item.nodeid)
        return _REAL_NETWORKS.index(path) if path in _REAL_NETWORKS else len(_REAL_NETWORKS)

    items.sort(key=rank)  # stable: collection order within a module and among the rest


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class RealNetworksTogether(LoadScopeScheduling):
        """A module's tests on one worker (its module fixtures are built once); the real
        networks' modules form one unit, kept in the order above."""

        def _split_scope(self, nodeid: str) -> str:
            path = _module(nodeid)
            return "real networks" if path in _REAL_NETWORKS else path

    return RealNetworksTogether(config, log)
