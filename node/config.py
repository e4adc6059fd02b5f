"""The peer's TOML configuration, validated by pydantic; errors name the offending key."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loraswarm.errors import LoraswarmError


class ConfigError(LoraswarmError):
    """The config file is missing, not TOML, or fails validation (the message names the key)."""


class Role(StrEnum):
    TRAINER = "trainer"
    VALIDATOR = "validator"


class Behaviour(StrEnum):
    """What a demo or test peer sends: an honest delta, or an attack run through the same code
    (``scaling`` boosts its honest delta, model replacement of Bagdasaryan et al. 2020; ``zero``
    sends an all-zero delta, a free rider; ``noshow`` commits nothing)."""

    HONEST = "honest"
    SCALING = "scaling"
    ZERO = "zero"
    NOSHOW = "noshow"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(Strict):
    name: str = Field(min_length=1, max_length=64)
    data_dir: Path
    roles: Annotated[list[Role], Field(min_length=1)] = [Role.TRAINER, Role.VALIDATOR]
    # Demo and test adversaries: what this peer sends instead of an honest delta.
    behaviour: Behaviour = Behaviour.HONEST


class KeysSection(Strict):
    keystore: Path
    password_env: str = "LORASWARM_PASSWORD"


class ChainSection(Strict):
    deployment: Path
    task_file: Path
    rpc_url: str | None = None
    poll_s: float = Field(default=0.5, gt=0, le=60)


class P2PSection(Strict):
    listen: str = "/ip4/127.0.0.1/tcp/0"
    bootstrap: list[str] = []


class TrainingSection(Strict):
    model: Path | None = None
    topics: list[str] = []
    data: list[Path] = []
    steps: int = Field(default=20, ge=1)
    batch_size: int = Field(default=4, ge=1, le=256)
    seq_len: int = Field(default=128, ge=8, le=4096)
    lr: float = Field(default=3e-4, gt=0, le=1)
    threads: int = Field(default=1, ge=1, le=256)
    seed: int = 0
    eval_records: int = Field(default=16, ge=1)
    held_out_fraction: float = Field(default=0.1, gt=0, lt=1)
    # Local differential privacy of the peer's own deltas (node/training/privacy.py): clip each
    # delta to this L2 norm and add Gaussian noise of dp_noise x dp_clip; off unless set.
    dp_clip: float | None = Field(default=None, gt=0)
    dp_noise: float = Field(default=1.0, ge=0)
    # Keep a personal adapter built from the round's accepted deltas (node/personal.py); its
    # candidates are compared on this many of the peer's training blocks (each one pass).
    personal: bool = False
    personal_selection_blocks: int = Field(default=32, ge=1, le=1024)


class MetricsSection(Strict):
    port: int = Field(default=0, ge=0, le=65535)


class NodeConfig(Strict):
    node: NodeSection
    keys: KeysSection
    chain: ChainSection
    p2p: P2PSection = P2PSection()
    training: TrainingSection = TrainingSection()
    metrics: MetricsSection = MetricsSection()

    @property
    def is_validator(self) -> bool:
        return Role.VALIDATOR in self.node.roles

    @property
    def is_trainer(self) -> bool:
        return Role.TRAINER in self.node.roles


def _resolve(config: NodeConfig, base: Path) -> NodeConfig:
    """Relative paths in a config file are relative to the file, not to the working directory."""
    def fix(path: Path) -> Path:
        return path if path.is_absolute() else (base / path).resolve()

    training = config.training.model_copy(update={
        "model": fix(config.training.model) if config.training.model else None,
        "data": [fix(p) for p in config.training.data],
    })
    return config.model_copy(update={
        "node": config.node.model_copy(update={"data_dir": fix(config.node.data_dir)}),
        "keys": config.keys.model_copy(update={"keystore": fix(config.keys.keystore)}),
        "chain": config.chain.model_copy(update={
            "deployment": fix(config.chain.deployment), "task_file": fix(config.chain.task_file),
        }),
        "training": training,
    })


def load_config(path: Path) -> NodeConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    # TOMLDecodeError and UnicodeDecodeError are ValueErrors; tomllib parses nesting by Python
    # recursion, so deeply nested arrays end in RecursionError (pure Python frames: no C stack).
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {str(exc)[:200]}") from None
    try:
        config = NodeConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {key}: {first['msg']}{more}") from None
    return _resolve(config, path.parent.resolve())
