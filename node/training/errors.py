"""Errors of the training side that reach a user: one line, no traceback (see loraswarm.errors)."""

from loraswarm.errors import LoraswarmError


class TrainingError(LoraswarmError):
    """Base class of node/training errors."""


class ModelNotFound(TrainingError):
    """No base model at the given path, or the default model wheel is not downloaded."""


class BaseModelMismatch(TrainingError):
    """The local base model's hash differs from the one the task recorded on chain."""


class DataError(TrainingError):
    """A training or evaluation data file is malformed (the message names the file and line)."""


class DeviceUnavailable(TrainingError):
    """The configured training device (cuda, mps) is not one this torch build can use here."""
