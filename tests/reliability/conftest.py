"""The contract tests' chain fixtures, shared: the adversarial scenarios run on the same
embedded deployment (rolled back after each test) or on a fresh anvil."""

from tests.contracts.conftest import anvil, embedded, swarm

__all__ = ["anvil", "embedded", "swarm"]
