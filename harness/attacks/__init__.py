"""Attack library for the robustness tests and benchmark: one module each, paper cited there.

``MODEL_ATTACKS`` and ``FREE_RIDERS`` map a name to a crafted-update function ``(AttackView) ->
delta``; the data-poisoning attacks (``backdoor``, ``garbage``) produce training text instead.
"""

from harness.attacks.alie import alie
from harness.attacks.copycat import copy, copy_with_noise
from harness.attacks.gaussian import gaussian
from harness.attacks.ipm import ipm
from harness.attacks.min_max import min_max
from harness.attacks.min_sum import min_sum
from harness.attacks.replay import replay
from harness.attacks.scaling import scaling
from harness.attacks.sign_flip import sign_flip
from harness.attacks.tiny_noise import tiny_noise
from harness.attacks.view import Attack, AttackView
from harness.attacks.zero_delta import zero_delta

MODEL_ATTACKS: dict[str, Attack] = {
    "sign_flip": sign_flip,
    "scaling": scaling,
    "gaussian": gaussian,
    "alie": alie,
    "ipm": ipm,
    "min_max": min_max,
    "min_sum": min_sum,
}

FREE_RIDERS: dict[str, Attack] = {
    "zero": zero_delta,
    "tiny_noise": tiny_noise,
    "replay": replay,
    "copy": copy,
    "copy_with_noise": copy_with_noise,
}

__all__ = ["FREE_RIDERS", "MODEL_ATTACKS", "Attack", "AttackView"]
