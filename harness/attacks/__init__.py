"""Attack library for the robustness tests and benchmark: one module each, paper cited there.

Every attack is a crafted-update function ``(AttackView) -> rows``, one row per attacker
(``view.own.shape[0]``): colluders share a direction but each sends its own vector (own jitter,
own data, own solution), never one row from every identity. ``MODEL_ATTACKS`` want to move the
model, ``FREE_RIDERS`` want pay without work (``CLAIM_FACTORS``: those that also inflate their
self-reported sample count). The data-poisoning attacks (``backdoor``, ``garbage``) produce
training text instead: each attacker trains on its own poisoned data.
"""

from functools import partial

from harness.attacks.alie import alie
from harness.attacks.copycat import copy, copy_with_noise
from harness.attacks.fang import fang_krum, fang_trimmed_mean
from harness.attacks.gaussian import gaussian
from harness.attacks.ipm import ipm
from harness.attacks.mimic import CLAIM_FACTORS, inflated_claim, mimic, mimic_history, mimic_mixed
from harness.attacks.min_max import min_max
from harness.attacks.min_sum import min_sum
from harness.attacks.replay import replay
from harness.attacks.scaling import scaling
from harness.attacks.sign_flip import sign_flip
from harness.attacks.tiny_noise import tiny_noise
from harness.attacks.view import DEFAULT_JITTER, Attack, AttackView, jittered
from harness.attacks.whitebox import whitebox
from harness.attacks.zero_delta import zero_delta

MODEL_ATTACKS: dict[str, Attack] = {
    "sign_flip": sign_flip,
    "scaling": scaling,
    "gaussian": gaussian,
    "alie": alie,
    "ipm": ipm,
    **{f"min_max_{kind}": partial(min_max, kind=kind) for kind in ("uv", "std", "sgn")},
    **{f"min_sum_{kind}": partial(min_sum, kind=kind) for kind in ("uv", "std", "sgn")},
    "fang_krum": fang_krum,
    "fang_trimmed_mean": fang_trimmed_mean,
    "whitebox": whitebox,
}

FREE_RIDERS: dict[str, Attack] = {
    "zero": zero_delta,
    "tiny_noise": tiny_noise,
    "replay": replay,
    "copy": copy,
    "copy_with_noise": copy_with_noise,
    "mimic": mimic,
    "mimic_history": mimic_history,
    "mimic_mixed": mimic_mixed,
    "inflated_claim": inflated_claim,
}

# Attacks that need more than the round's updates: the task's context (white-box), earlier
# global changes (mimics), the free riders' cheap training.
NEEDS_CONTEXT = frozenset({"whitebox"})
NEEDS_CHEAP = frozenset({"mimic_mixed", "inflated_claim"})

__all__ = [
    "CLAIM_FACTORS",
    "DEFAULT_JITTER",
    "FREE_RIDERS",
    "MODEL_ATTACKS",
    "NEEDS_CHEAP",
    "NEEDS_CONTEXT",
    "Attack",
    "AttackView",
    "alie",
    "copy",
    "copy_with_noise",
    "fang_krum",
    "fang_trimmed_mean",
    "gaussian",
    "ipm",
    "jittered",
    "mimic",
    "mimic_history",
    "mimic_mixed",
    "min_max",
    "min_sum",
    "replay",
    "scaling",
    "sign_flip",
    "tiny_noise",
    "whitebox",
    "zero_delta",
]
