"""The task's off-chain parameters, shared by every peer of a task as one JSON file.

The chain fixes the base model hash, the initial global adapter hash, the aggregation rule and the
hash of this file (``spec_hash``, checked by every node at start). The file carries what must be
equal on every validator or their attestations differ (LoRA shape, wire codec, norm bound,
consensus and incentive parameters) and what must be equal on every honest peer or the outlier
tests cannot tell honest from hostile (the training recipe).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError

from loraswarm.errors import LoraswarmError
from loraswarm.files import write_atomic
from loraswarm.keccak import keccak256


class TaskSpecError(LoraswarmError):
    """The task file is missing or invalid."""


class LoraSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int = Field(default=8, ge=1, le=256)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


class RecipeSection(BaseModel):
    """How every peer trains a round. Fixed by the task, not by each peer's config: the length of an
    honest update grows with its steps and learning rate, and the outlier tests measure updates
    against each other (a joiner that trained 20 steps among peers that trained 4 sent 4.8 times
    the median length, was rejected as a Krum outlier and slashed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    steps: int = Field(default=20, ge=1, le=100_000)
    batch_size: int = Field(default=4, ge=1, le=256)
    lr: float = Field(default=3e-4, gt=0, le=1)


class IncentiveSection(BaseModel):
    """Overrides of the incentive policy (loraswarm.incentives: scoring and slashing rates in bps of
    the stake a peer locked); validators' pay is on chain (TaskTerms.validator_bps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_agreement_ppm: int = Field(default=0, ge=0, lt=1_000_000)
    unrevealed_bps: int = Field(default=1_000, ge=0, le=10_000)
    malicious_bps: int = Field(default=5_000, ge=0, le=10_000)
    free_ride_bps: int = Field(default=0, ge=0, le=10_000)


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    task_id: int = Field(ge=1)
    lora: LoraSection = LoraSection()
    init_seed: int = 0
    codec: str = "int8+zstd"
    norm_bound: float = Field(default=50.0, gt=0)
    seq_len: int = Field(default=64, ge=8, le=4096)
    recipe: RecipeSection = RecipeSection()
    validator_stake: int = Field(default=10**21, ge=0)
    # How long past a round's reveal window a validator waits for a later block before it pins the
    # latest (a chain that mines only on demand makes none until someone sends): per task, so that
    # every validator pins the same block; longer than any lag of the chain's clock behind theirs.
    pin_grace_s: float = Field(default=5.0, ge=1, le=600)
    # Reputation (loraswarm.incentives.reputation) as a bounded multiplier on reward shares and as
    # consensus's prior (aggregation weights, robust reference); fixed per task, since every
    # validator must judge and settle rounds the same way.
    reputation: bool = False
    # Overrides of loraswarm.consensus.ConsensusParams fields (every validator uses the same;
    # an unknown name is refused when a node reads the file).
    # NaN or infinity is refused: a NaN threshold makes every comparison false, switching a check off.
    consensus: dict[str, FiniteFloat | int | None] = {}
    incentives: IncentiveSection = IncentiveSection()

    def canonical(self) -> bytes:
        """The file's content in one byte string (sorted keys, no spaces): what ``spec_hash`` hashes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    def spec_hash(self) -> str:
        """keccak256 of the canonical content, as recorded on chain at task creation (specHash)."""
        return "0x" + keccak256(self.canonical()).hex()

    def write(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.model_dump(mode="json"), indent=1))

    @classmethod
    def read(cls, path: Path) -> TaskSpec:
        try:
            # bytes, not text: pydantic reports invalid UTF-8 as a ValidationError, and its JSON
            # parser bounds nesting itself (no C-stack overflow, unlike json.loads).
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise TaskSpecError(f"task file {path} not found") from None
        except OSError as exc:
            raise TaskSpecError(f"task file {path} cannot be read: {exc.strerror}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise TaskSpecError(f"{path}: {key}: {first['msg']}") from None
