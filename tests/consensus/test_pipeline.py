"""Each validation check rejects what it should, with its reason code and measures, and lets
honest updates through."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest
import torch

from harness.attacks import AttackView
from harness.attacks.alie import alie, alie_core
from harness.attacks.mimic import mimic, mimic_mixed
from harness.simulate import Population, lora_spec, submissions
from loraswarm.consensus import (
    ConsensusParams,
    RoundContext,
    Submission,
    fixedpoint,
    settle_round,
    validate_round,
)
from loraswarm.consensus.fingerprint import fingerprint
from loraswarm.protocol.codes import MALICIOUS, Reason
from loraswarm.protocol.rules import RuleId

SPEC = lora_spec(layers=2, hidden=64, rank=8)
CTX = RoundContext(round=3, current_global_hash="0x" + "ab" * 32, spec=SPEC, norm_bound=16.0)
HONEST = 7


def honest_rows(seed: int = 0, n: int = HONEST) -> torch.Tensor:
    return Population(d=CTX.numel).honest(n, torch.Generator().manual_seed(seed))


def reasons(subs: list[Submission], ctx: RoundContext = CTX) -> list[Reason]:
    return [v.reason for v in validate_round(subs, ctx).verdicts]


def with_extra(extra: torch.Tensor, ctx: RoundContext = CTX, **changes: object) -> list[Reason]:
    """Seven honest updates plus one more (committed last), its submission fields changed."""
    subs = submissions(ctx, torch.cat([honest_rows(), extra[None]]))
    subs[-1] = dataclasses.replace(subs[-1], **changes)
    return reasons(subs, ctx)


def test_honest_round_is_all_accepted_with_measures() -> None:
    verdict = validate_round(submissions(CTX, honest_rows()), CTX)
    assert [v.reason for v in verdict.verdicts] == [Reason.ACCEPTED] * HONEST
    for v in verdict.verdicts:
        assert {"norm", "norm_to_median", "max_cos_earlier", "max_abs_cos", "krum_score",
                "median_distance", "weight"} <= set(v.measures)
        assert 3.0 < v.measures["norm"] < 5.0
    assert len(verdict.accepted) == HONEST


@pytest.mark.parametrize(("change", "reason"), [
    ({"delta": None}, Reason.NOT_REVEALED),
    ({"opened": Reason.NOT_REVEALED}, Reason.NOT_REVEALED),
    ({"opened": Reason.COMMITMENT_MISMATCH}, Reason.COMMITMENT_MISMATCH),
    ({"opened": Reason.EQUIVOCATION}, Reason.EQUIVOCATION),
    ({"opened": Reason.CODEC_BAD_SHAPE}, Reason.CODEC_BAD_SHAPE),
    ({"base_hash": "0x" + "cd" * 32}, Reason.STALE_BASE),
])
def test_envelope_checks(change: dict[str, object], reason: Reason) -> None:
    assert with_extra(honest_rows(1)[0], **change) == [Reason.ACCEPTED] * HONEST + [reason]


def test_schema_wrong_key_shape_and_dtype() -> None:
    good = CTX.unflatten(honest_rows(1)[0])
    key = sorted(SPEC)[0]
    renamed = {**{k: v for k, v in good.items() if k != key}, key + ".x": good[key]}
    reshaped = {**good, key: good[key].reshape(-1)}
    integer = {**good, key: good[key].to(torch.int64)}
    for delta in (renamed, reshaped, integer):
        assert with_extra(honest_rows(1)[0], delta=delta)[-1] is Reason.SCHEMA


def test_not_finite() -> None:
    bad = honest_rows(1)[0].clone()
    bad[5] = float("nan")
    assert with_extra(bad)[-1] is Reason.NOT_FINITE


def test_norm_bound_by_coordinate_and_by_norm() -> None:
    spike = torch.zeros(CTX.numel)
    spike[0] = 17.0
    assert with_extra(spike)[-1] is Reason.NORM_BOUND
    long = honest_rows(1)[0] * 5  # norm ~20 > 16, every coordinate small
    verdicts = validate_round(submissions(CTX, torch.cat([honest_rows(), long[None]])), CTX).verdicts
    assert verdicts[-1].reason is Reason.NORM_BOUND
    assert verdicts[-1].measures["norm"] == pytest.approx(float(long.norm()), rel=1e-4)


def test_zero_and_tiny_updates_are_free_riders() -> None:
    assert with_extra(torch.zeros(CTX.numel))[-1] is Reason.ZERO_UPDATE
    tiny = torch.randn(CTX.numel, generator=torch.Generator().manual_seed(5)) * 1e-4
    assert with_extra(tiny)[-1] is Reason.ZERO_UPDATE


def test_duplicate_earlier_commitment_wins_whatever_the_list_order() -> None:
    rows = honest_rows()
    copy = rows[2] + 1e-3 * torch.randn(CTX.numel, generator=torch.Generator().manual_seed(1))
    subs = submissions(CTX, torch.cat([rows, copy[None]]))
    # The copy committed before its victim: the victim is the one rejected.
    subs[-1] = dataclasses.replace(subs[-1], commit_index=-1)
    random.Random(0).shuffle(subs)
    verdicts = {v.peer: v.reason for v in validate_round(subs, CTX).verdicts}
    by_index = {s.commit_index: verdicts[s.peer] for s in subs}
    assert by_index[-1] is Reason.ACCEPTED
    assert by_index[2] is Reason.DUPLICATE_UPDATE
    assert sum(r is Reason.ACCEPTED for r in by_index.values()) == HONEST


def test_alie_colluders_are_all_rejected_as_an_attack() -> None:
    """Identical or near-identical ALIE vectors from three peers: the cluster's original is
    crafted (close to the centre, below it in most coordinates), so no member passes, and each
    is rejected for a reason that is slashed; the honest peers all pass."""
    rows = honest_rows()
    view = AttackView(own=rows[:3], benign=rows, peers=HONEST + 3, generator=torch.Generator().manual_seed(4))
    crafted = alie_core(view).to(torch.float32)
    jitter = 1e-3 * crafted.norm() / CTX.numel ** 0.5
    colluders = torch.stack([crafted, crafted, crafted + view.noise(float(jitter), rows=1)[0]])
    verdict = validate_round(submissions(CTX, torch.cat([rows, colluders])), CTX)
    got = [v.reason for v in verdict.verdicts]
    assert got == [Reason.ACCEPTED] * HONEST + [Reason.MEDIAN_OUTLIER] * 3
    assert all(r in MALICIOUS for r in got[HONEST:])
    measures = verdict.verdicts[-1].measures
    assert measures["cluster_size"] == 3
    assert measures["cluster_centre_ratio"] < 0.75 or measures["cluster_one_sided"] > 0.65


def test_copies_of_an_honest_update_are_free_riders_and_the_original_passes() -> None:
    rows = honest_rows()
    copies = rows[1] + 1e-3 * torch.randn((3, CTX.numel), generator=torch.Generator().manual_seed(6))
    verdict = validate_round(submissions(CTX, torch.cat([rows, copies])), CTX)
    got = [v.reason for v in verdict.verdicts]
    assert got == [Reason.ACCEPTED] * HONEST + [Reason.DUPLICATE_UPDATE] * 3
    original = verdict.verdicts[1].measures
    assert original["cluster_size"] == 4
    assert original["cluster_centre_ratio"] > 0.9 and original["cluster_one_sided"] < 0.6


def test_copies_of_an_attack_are_rejected_like_the_original() -> None:
    """Colluders sending one sign-flipped update: the original fails an outlier test, and its
    copies (duplicates) carry the same malicious reason, so all are slashed."""
    flipped = -honest_rows()[0:3].mean(dim=0) * 3
    verdict = validate_round(submissions(CTX, torch.cat([honest_rows(), flipped.expand(3, -1)])), CTX)
    got = [v.reason for v in verdict.verdicts]
    assert got[:HONEST] == [Reason.ACCEPTED] * HONEST
    assert got[HONEST] in MALICIOUS and got[HONEST:] == [got[HONEST]] * 3


def test_replay_exact_and_perturbed() -> None:
    old = honest_rows(seed=9, n=1)[0]
    bits = fixedpoint.value_bits(CTX.norm_bound)
    ctx = dataclasses.replace(CTX, history=(fingerprint(fixedpoint.quantize(old, bits)),))
    assert with_extra(old, ctx=ctx)[-1] is Reason.REPLAYED_UPDATE
    perturbed = old + 0.002 * torch.randn(CTX.numel, generator=torch.Generator().manual_seed(2))
    assert with_extra(perturbed, ctx=ctx)[-1] is Reason.REPLAYED_UPDATE
    fresh = honest_rows(n=HONEST + 1)[HONEST]  # same round population, never revealed before
    assert with_extra(fresh, ctx=ctx)[-1] is Reason.ACCEPTED


def test_pure_noise_is_rejected() -> None:
    noise = torch.randn(CTX.numel, generator=torch.Generator().manual_seed(3))
    noise *= 4.0 / noise.norm()
    assert with_extra(noise)[-1] is Reason.NOISE_UPDATE


def test_outliers_krum_and_median() -> None:
    flipped = -honest_rows()[0:3].mean(dim=0) * 3  # norm ~ 10: inside the bound
    got = with_extra(flipped)
    assert got[:HONEST] == [Reason.ACCEPTED] * HONEST
    assert got[-1] in (Reason.KRUM_OUTLIER, Reason.MEDIAN_OUTLIER)
    lenient = dataclasses.replace(CTX, params=ConsensusParams(krum_score_factor=100.0))
    assert with_extra(flipped, ctx=lenient)[-1] is Reason.MEDIAN_OUTLIER


def test_jittered_alie_is_too_central_to_be_trained() -> None:
    """ALIE with each colluder's own jitter is no near-duplicate cluster, but every row sits far
    closer to the median than a trained update does: rejected (and slashed) by the central test."""
    rows = honest_rows()
    view = AttackView(own=rows[:3], benign=rows, peers=HONEST + 3, generator=torch.Generator().manual_seed(4))
    verdict = validate_round(submissions(CTX, torch.cat([rows, alie(view)])), CTX)
    got = [v.reason for v in verdict.verdicts]
    assert got == [Reason.ACCEPTED] * HONEST + [Reason.MEDIAN_OUTLIER] * 3
    assert all(v.measures["median_distance_ratio"] < CTX.params.central_factor for v in verdict.verdicts[HONEST:])
    assert all(v.measures["median_distance_ratio"] > 0.8 for v in verdict.verdicts[:HONEST])


def test_projection_floor_and_sign_test() -> None:
    """An in-spread update that gives up most of the round's progress fails the projection
    floor; one that keeps its projection but goes against the median's sign in every coordinate
    fails the sign test."""
    rows = honest_rows()
    mean = rows.mean(dim=0)
    weak = rows[0] - 0.8 * mean
    assert with_extra(weak)[-1] is Reason.MEDIAN_OUTLIER
    measures = validate_round(submissions(CTX, torch.cat([rows, weak[None]])), CTX).verdicts[-1].measures
    assert measures["projection_ratio"] < CTX.params.projection_floor
    against = mean - 0.3 * mean.norm() * torch.sign(mean) / CTX.numel ** 0.5 * 3
    verdict = validate_round(submissions(CTX, torch.cat([rows, against[None]])), CTX).verdicts
    assert verdict[-1].reason is Reason.MEDIAN_OUTLIER
    assert verdict[-1].measures["against_fraction"] > CTX.params.against_fraction
    assert all(v.measures["against_fraction"] < 0.6 for v in verdict[:HONEST])


@pytest.mark.parametrize(("peers", "scale"), [(3, 0.6), (5, 0.5), (7, 0.5)])
def test_a_short_honest_update_is_judged_by_its_direction_not_its_length(peers: int, scale: float) -> None:
    """An honest peer that trained less (a deadline cut its steps, less data) sends a shorter
    update: it sits below the median in most coordinates only because it is shorter. The quick
    demo slashed one at 0.72 of the median norm (x - c against the median's sign in 0.706 of the
    coordinates); the sign test reads the residual off its own projection and accepts it.
    (Shorter than 0.4 of the median projection, the floor rejects it: too little of its own.)"""
    rows = Population(d=CTX.numel).honest(peers, torch.Generator().manual_seed(peers))
    rows[0] *= scale
    verdicts = validate_round(submissions(CTX, rows), CTX).verdicts
    assert [v.reason for v in verdicts] == [Reason.ACCEPTED] * peers, verdicts[0].measures
    assert CTX.params.projection_floor < verdicts[0].measures["projection_ratio"] < 0.7


def mimic_round(attack: Callable[[AttackView], torch.Tensor], seed: int = 0) -> tuple[RoundContext, torch.Tensor]:
    """Seven honest updates of a round whose task keeps a trend, and three free riders built from
    the previous round's global change (public): the context carries that change."""
    population = Population(d=CTX.numel)
    g = torch.Generator().manual_seed(seed)
    trend = population.trend(g)
    change = population.honest(HONEST, g, trend).mean(dim=0)
    honest = population.honest(HONEST + 3, g, trend)
    own = honest[HONEST:]
    # Cheap training: a little of the honest signal, mostly its own noise (real 2-step trainings:
    # cosine 0.06-0.26 to the honest mean, 8-step ones 0.6-0.7).
    noise = torch.randn(own.shape, generator=g)
    cheap = 0.3 * own + noise * own.norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True)
    view = AttackView(own=own, benign=honest[:HONEST], peers=HONEST + 3, generator=g, changes=(change,), cheap=cheap)
    ctx = dataclasses.replace(CTX, changes=(CTX.unflatten(change),))
    return ctx, torch.cat([honest[:HONEST], attack(view)])


def test_mimicking_free_riders_have_nothing_of_their_own() -> None:
    """Fraboni et al.'s free rider (the last global change, rescaled, plus noise) agrees with
    the round (cosine ~0.6 to the honest mean) and passes every outlier test, but its part
    orthogonal to the global's history is its noise: NOISE_UPDATE, never slashed. Without the
    history it would have been accepted."""
    ctx, rows = mimic_round(mimic)
    verdicts = validate_round(submissions(ctx, rows), ctx).verdicts
    assert [v.reason for v in verdicts] == [Reason.ACCEPTED] * HONEST + [Reason.NOISE_UPDATE] * 3
    assert all(abs(v.measures["residual_cos"]) < 0.1 for v in verdicts[HONEST:])
    assert all(v.measures["residual_cos"] > 0.3 for v in verdicts[:HONEST])
    blind = dataclasses.replace(ctx, changes=())
    assert all(v.accepted for v in validate_round(submissions(blind, rows), blind).verdicts)


def test_a_mixed_mimic_is_paid_for_its_own_share_only() -> None:
    """Half its cheap training, half the mimic: accepted, but its agreement (taken orthogonally
    to the history) is well below every honest peer's, so it is scored as a small contributor."""
    ctx, rows = mimic_round(mimic_mixed)
    outcome = settle_round(submissions(ctx, rows), ctx)
    honest = [v.measures["agreement"] for v in outcome.verdicts[:HONEST]]
    mixed = [v.measures.get("agreement", 0.0) for v in outcome.verdicts[HONEST:]]
    assert all(v.reason in (Reason.ACCEPTED, Reason.NOISE_UPDATE) for v in outcome.verdicts[HONEST:])
    assert max(mixed) < 0.5 * min(honest)


def test_colluders_sharing_a_core_count_as_one() -> None:
    """Three updates sharing a crafted offset (each with its own jitter, no near-duplicates) are
    linked by their deviations from the median: merged into one row for the rule, each scored on
    a third of its claim; honest deviations are near-orthogonal and stay alone."""
    rows = honest_rows()
    scale = rows[0].norm() / CTX.numel ** 0.5
    offset = 0.6 * scale * torch.randn(CTX.numel, generator=torch.Generator().manual_seed(8))
    jitter = 0.18 * scale * torch.randn((3, CTX.numel), generator=torch.Generator().manual_seed(9))
    colluders = rows.mean(dim=0) + offset + jitter
    subs = submissions(CTX, torch.cat([rows, colluders]))
    verdict = validate_round(subs, CTX)
    assert all(v.accepted for v in verdict.verdicts)
    assert [v.measures["group_size"] for v in verdict.verdicts] == [1.0] * HONEST + [3.0] * 3
    assert [v.measures["weight"] for v in verdict.verdicts] == [100.0] * HONEST + [33.0] * 3
    merged, members = verdict.accepted.merged()
    assert len(merged) == HONEST + 1 and members[-1] == [HONEST, HONEST + 1, HONEST + 2]


def test_claims_are_capped_by_the_round_median() -> None:
    rows = honest_rows()
    samples = [100] * (HONEST - 1) + [10_000]
    verdicts = validate_round(submissions(CTX, rows, samples=samples), CTX).verdicts
    assert verdicts[-1].measures["weight"] == 200.0  # claim_factor x the median claim


def test_settle_records_selection_and_agreement() -> None:
    ctx = dataclasses.replace(CTX, rule_id=RuleId.KRUM)
    outcome = settle_round(submissions(ctx, honest_rows()), ctx)
    reasons_ = [v.reason for v in outcome.verdicts]
    assert reasons_.count(Reason.ACCEPTED) == 1
    assert reasons_.count(Reason.NOT_SELECTED) == HONEST - 1
    chosen = next(v for v in outcome.verdicts if v.reason is Reason.ACCEPTED)
    # Krum's pick, its step along the median set to the median step (aggregate.median_step).
    assert chosen.measures["agreement"] > 0.95
    assert all(0.2 < v.measures["agreement"] < 1.0 for v in outcome.verdicts
               if v.reason is Reason.NOT_SELECTED)
    assert set(outcome.fingerprints) == {s for s in outcome.aggregate.agreement}


def test_empty_round_keeps_the_global() -> None:
    outcome = settle_round([], CTX)
    assert outcome.verdicts == ()
    assert all(float(t.abs().max()) == 0.0 for t in outcome.aggregate.delta.values())


def test_same_peer_twice_is_refused() -> None:
    subs = submissions(CTX, honest_rows(n=2))
    with pytest.raises(ValueError, match="twice"):
        validate_round([subs[0], dataclasses.replace(subs[1], peer=subs[0].peer.upper())], CTX)
