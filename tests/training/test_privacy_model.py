"""Local DP (clipping, noise, the accountant) and the base model's identity checks."""

from __future__ import annotations

from pathlib import Path

import dp_accounting
import pytest
import torch
from dp_accounting.rdp import RdpAccountant

from loraswarm.node.training import (
    BaseModelMismatch,
    DpParams,
    ModelNotFound,
    PrivacyAccountant,
    clip_delta,
    delta_norm,
    load_base_model,
    privatize,
    require_base_model,
)
from loraswarm.node.training.model import directory_hash


def _delta(scale: float) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"a": torch.randn(40, 50, generator=generator) * scale, "b": torch.randn(30, generator=generator) * scale}


def test_clipping_bounds_the_norm_and_keeps_small_deltas() -> None:
    big, norm = clip_delta(_delta(1.0), 2.0)
    assert norm > 2.0 and delta_norm(big) == pytest.approx(2.0, rel=1e-5)
    small = _delta(1e-4)
    kept, _ = clip_delta(small, 2.0)
    assert all(torch.equal(kept[k], small[k]) for k in small)


def test_noise_has_the_calibrated_scale() -> None:
    params = DpParams(clip_norm=1.0, noise_multiplier=0.5)
    zero = {"a": torch.zeros(200, 100)}
    noisy, _ = privatize(zero, params, torch.Generator().manual_seed(1))
    assert float(noisy["a"].std()) == pytest.approx(0.5, rel=0.03)
    again, _ = privatize(zero, params)  # OS-seeded by default: not reproducible
    assert not torch.equal(noisy["a"], again["a"])


def test_accountant_matches_dp_accounting_and_grows_with_rounds() -> None:
    accountant = PrivacyAccountant(DpParams(clip_norm=1.0, noise_multiplier=4.0))
    assert accountant.epsilon() == 0.0
    spent = []
    for _ in range(3):
        accountant.record_round()
        spent.append(accountant.epsilon())
    assert spent[0] < spent[1] < spent[2]
    reference = RdpAccountant()
    reference.compose(dp_accounting.GaussianDpEvent(2.0), count=3)  # z/2: sensitivity 2C
    assert spent[-1] == pytest.approx(reference.get_epsilon(1e-5))
    quieter = PrivacyAccountant(DpParams(clip_norm=1.0, noise_multiplier=8.0))
    for _ in range(3):
        quieter.record_round()
    assert quieter.epsilon() < spent[-1]
    with pytest.raises(ValueError):
        DpParams(clip_norm=0.0, noise_multiplier=1.0)


def test_model_hash_mismatch_is_a_clear_refusal() -> None:
    require_base_model("0xAB", "0xab")
    with pytest.raises(BaseModelMismatch, match="task's base model hash is 0xcd"):
        require_base_model("0xab", "0xcd")


def test_directory_hash_covers_model_files_only(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    first = directory_hash(tmp_path)
    (tmp_path / "README.md").write_text("cosmetic")
    assert directory_hash(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert directory_hash(tmp_path) != first and first.startswith("0x") and len(first) == 66


def test_missing_model_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="not a Hugging Face model directory"):
        load_base_model(tmp_path / "nothing.bin")
