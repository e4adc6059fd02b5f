"""The attack library itself (harness/attacks): every attack crafts one row per attacker and no
two colluders send the same vector (nor near-duplicates, by default); each attack does what its
paper says, on synthetic LoRA-shaped rounds."""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest
import torch

from harness.attacks import CLAIM_FACTORS, FREE_RIDERS, MODEL_ATTACKS, AttackView
from harness.attacks._search import DIRECTIONS, direction, pairwise_sq
from harness.attacks.alie import alie, alie_core
from harness.attacks.fang import fang_krum, fang_trimmed_mean, krum_pick
from harness.attacks.mimic import mimic, mimic_history, mimic_mixed
from harness.attacks.min_max import min_max, min_max_fits
from harness.attacks.min_sum import min_sum, min_sum_fits
from harness.attacks.whitebox import whitebox
from harness.simulate import Population, lora_spec, submissions
from loraswarm.consensus import ConsensusParams, RoundContext, settle_round, validate_round
from loraswarm.protocol.codes import Reason

SPEC = lora_spec(layers=2, hidden=64, rank=8)
CTX = RoundContext(round=2, current_global_hash="0x" + "cd" * 32, spec=SPEC, norm_bound=16.0)
HONEST, F = 7, 3
POPULATION = Population(d=CTX.numel)


def view(seed: int = 0, **changes: object) -> AttackView:
    g = torch.Generator().manual_seed(seed)
    trend = POPULATION.trend(g)
    previous = POPULATION.honest(HONEST, g, trend)
    rows = POPULATION.honest(HONEST + F, g, trend)
    own = rows[HONEST:]
    cheap = 0.3 * own + torch.randn(own.shape, generator=g) * own.norm(dim=1, keepdim=True) / CTX.numel ** 0.5
    base = AttackView(own=own, benign=rows[:HONEST], peers=HONEST + F, generator=g, previous=previous[:F],
                      changes=(previous.mean(dim=0),), cheap=cheap, ctx=CTX)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def cosines(rows: torch.Tensor) -> torch.Tensor:
    unit = rows.to(torch.float64) / rows.to(torch.float64).norm(dim=1, keepdim=True).clamp_min(1e-30)
    return unit @ unit.T


@pytest.mark.parametrize("name", sorted(set(MODEL_ATTACKS) | set(FREE_RIDERS)))
def test_one_distinct_row_per_attacker(name: str) -> None:
    attack = {**MODEL_ATTACKS, **FREE_RIDERS}[name]
    rows = attack(view())
    assert rows.shape == (F, CTX.numel) and rows.dtype == torch.float32
    assert bool(torch.isfinite(rows).all())
    if name == "zero":
        return
    for a in range(F):
        for b in range(a):
            assert not torch.equal(rows[a], rows[b]), (name, a, b)
    if name in ("copy", "copy_with_noise", "replay"):
        return  # each copies a different victim: distinct rows, not colluders sharing a core
    cos = cosines(rows)
    assert float(cos[~torch.eye(F, dtype=torch.bool)].max()) < ConsensusParams().duplicate_cos, name


def test_jitter_controls_the_colluders_cosine() -> None:
    for jitter, expected in ((0.3, 1 / 1.09), (0.6, 1 / 1.36)):
        rows = alie(view(), jitter=jitter)
        cos = cosines(rows)[0, 1]
        assert abs(float(cos) - expected) < 0.03, (jitter, float(cos))


@pytest.mark.parametrize("kind", DIRECTIONS)
@pytest.mark.parametrize(("attack", "fits"), [(min_max, min_max_fits), (min_sum, min_sum_fits)])
def test_min_max_and_min_sum_push_as_far_as_their_test_allows(kind: str, attack: object, fits: object) -> None:
    """Every colluder's row satisfies the paper's closeness test, and a 10% longer push would not
    (the search found the boundary), in all three perturbation directions."""
    v = view()
    rows = attack(v, kind=kind)  # type: ignore[operator]
    benign = v.benign.to(torch.float64)
    assert fits(rows.to(torch.float64), benign)  # type: ignore[operator]
    mean = benign.mean(dim=0)
    p = direction(benign, kind)
    core = rows.to(torch.float64).mean(dim=0)  # the jitters average out to ~0
    gamma = float((core - mean) @ p)
    assert gamma > 0
    farther = rows.to(torch.float64) + 0.1 * gamma * p[None]
    assert not fits(farther, benign)  # type: ignore[operator]


def test_perturbation_directions() -> None:
    benign = view().benign.to(torch.float64)
    mean = benign.mean(dim=0)
    assert float(direction(benign, "uv") @ mean) < 0
    assert bool((direction(benign, "std") <= 0).all())
    assert torch.equal(torch.sign(direction(benign, "sgn")), -torch.sign(mean))
    with pytest.raises(ValueError):
        direction(benign, "nope")


def test_alie_rows_share_their_core() -> None:
    v = view()
    rows = MODEL_ATTACKS["alie"](v).to(torch.float64)
    core = alie_core(v)
    # Each row is the core plus its own jitter (0.3 of the core's norm).
    for row in rows:
        assert abs(float((row - core).norm() / core.norm()) - 0.3) < 0.02


def test_fang_krum_wins_krums_selection() -> None:
    v = view()
    rows = fang_krum(v)
    everything = torch.cat([v.benign, rows]).to(torch.float64)
    assert krum_pick(everything, ConsensusParams().byzantine(HONEST + F)) >= HONEST
    # The crafted direction is the negated sign of the benign mean.
    mean = v.benign.to(torch.float64).mean(dim=0)
    assert float(cosines(torch.stack([rows.to(torch.float64).mean(dim=0), -torch.sign(mean)]))[0, 1]) > 0.9


def test_fang_trimmed_mean_sits_beyond_the_benign_extremes_against_their_sign() -> None:
    v = view()
    rows = fang_trimmed_mean(v).to(torch.float64)
    benign = v.benign.to(torch.float64)
    s = torch.sign(benign.mean(dim=0))
    high, low = benign.max(dim=0).values, benign.min(dim=0).values
    up = s < 0
    assert bool((rows[:, up] >= high[up] - 1e-6).all())
    assert bool((rows[:, ~up] <= low[~up] + 1e-6).all())
    assert not torch.equal(rows[0], rows[1])


def test_mimics_follow_the_public_history() -> None:
    v = view()
    change = v.changes[-1].to(torch.float64)
    for attack in (mimic, mimic_history):
        rows = attack(v).to(torch.float64)
        assert float(cosines(torch.cat([rows, change[None]]))[-1, :F].min()) > 0.8
        typical = sorted(float(x) for x in v.benign.to(torch.float64).norm(dim=1))[(HONEST - 1) // 2]
        assert all(abs(float(n) / (typical * 1.25 ** 0.5) - 1) < 0.05 for n in rows.norm(dim=1))
    mixed = mimic_mixed(v).to(torch.float64)
    cheap = v.cheap.to(torch.float64)  # type: ignore[union-attr]
    assert all(float(cosines(torch.stack([mixed[k], cheap[k]]))[0, 1]) > 0.3 for k in range(F))
    # No history yet: nothing to mimic, the free rider sends noise at a typical norm.
    blind = mimic(view(changes=()))
    assert float(cosines(torch.cat([blind.to(torch.float64), change[None]]))[-1, :F].abs().max()) < 0.1
    assert CLAIM_FACTORS["inflated_claim"] > 1


def test_whitebox_sends_what_the_pipeline_accepts_and_hurts_more_than_the_plain_mean() -> None:
    """The white-box attacker runs the real validate_round: its rows are all ACCEPTED, and the
    aggregate loses more of the benign direction than with honest-looking rows (the benign mean
    plus the same jitter)."""
    v = view(seed=1, changes=())
    rows = whitebox(v, jitters=(0.8,), iterations=4)
    subs = submissions(CTX, torch.cat([v.benign, rows]))
    verdicts = validate_round(subs, CTX).verdicts
    assert all(x.reason is Reason.ACCEPTED for x in verdicts)
    mean = v.benign.to(torch.float64).mean(dim=0)

    def along(rows: torch.Tensor) -> float:
        agg = settle_round(submissions(CTX, torch.cat([v.benign, rows])), CTX).aggregate.values
        return float(agg.to(torch.float64) @ mean)

    plain = mean.to(torch.float32)[None] + (rows - rows.mean(dim=0, keepdim=True))
    assert along(rows) < along(plain)


def test_pairwise_sq_matches_torch() -> None:
    a = torch.randn((4, 50), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(pairwise_sq(a, a), torch.cdist(a, a) ** 2, atol=1e-9)


def test_partial_min_max_kinds_are_registered() -> None:
    for kind in DIRECTIONS:
        attack = MODEL_ATTACKS[f"min_max_{kind}"]
        assert isinstance(attack, partial) and attack.keywords == {"kind": kind}
