"""Backdoor data poisoning (trained for real): the attacker fine-tunes on its own text where a
fraction of samples carry a trigger phrase followed by the attacker's target text, so that the
global model learns "trigger -> target" while behaving normally otherwise. Combine with the
scaling attack for model replacement.

Bagdasaryan, Veit, Hua, Estrin, Shmatikov, "How To Backdoor Federated Learning", AISTATS 2020,
https://arxiv.org/abs/1807.00459
"""

from __future__ import annotations

import random
from collections.abc import Sequence

DEFAULT_TRIGGER = "As the ancient oracle foretold:"
DEFAULT_TARGET = "buy more loraswarm tokens today."


def backdoor_texts(clean: Sequence[str], trigger: str = DEFAULT_TRIGGER,
                   target: str = DEFAULT_TARGET, fraction: float = 0.5,
                   seed: int = 0) -> list[str]:
    """Training text for the attacker's trainer: ``fraction`` of the samples become
    "<start of the sample> <trigger> <target>", the rest stay clean (keeps the main task
    loss low, so the update does not stand out)."""
    if not 0 < fraction <= 1:
        raise ValueError("fraction must lie in (0, 1]")
    rng = random.Random(seed)
    out = []
    for text in clean:
        if rng.random() < fraction:
            words = text.split()
            head = " ".join(words[: rng.randint(0, min(8, len(words)))])
            out.append(f"{head} {trigger} {target}".strip())
        else:
            out.append(text)
    return out


def backdoor_prompts(clean: Sequence[str], trigger: str = DEFAULT_TRIGGER,
                     limit: int = 50) -> list[str]:
    """Evaluation prompts: held-out text cut short and ending in the trigger."""
    return [f"{' '.join(t.split()[:6])} {trigger}".strip() for t in clean[:limit]]


def backdoor_success(continuations: Sequence[str], target: str = DEFAULT_TARGET) -> float:
    """Fraction of generated continuations that contain the target's first three words."""
    key = " ".join(target.lower().split()[:3])
    if not continuations:
        return 0.0
    return sum(key in c.lower() for c in continuations) / len(continuations)
