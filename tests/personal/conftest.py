"""The session's real base model, shared with the training tests' fixture."""

from tests.training.conftest import real_model

__all__ = ["real_model"]
