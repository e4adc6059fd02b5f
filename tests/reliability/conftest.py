"""The contract tests' chain fixtures, shared: the adversarial scenarios run on the same
embedded deployment, rolled back after each test."""

from tests.contracts.conftest import embedded, swarm

__all__ = ["embedded", "swarm"]
