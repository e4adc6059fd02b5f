"""Garbage data poisoning (trained for real): the attacker trains on text that teaches nothing,
either words shuffled across the corpus or random printable characters, and submits the honest
update of that training. Poisoned data, not a crafted vector, so its update looks like any
other training update in norm.

Shejwalkar, Houmansadr, Kairouz, Ramage, "Back to the Drawing Board: A Critical Evaluation of
Poisoning Attacks on Production Federated Learning", IEEE S&P 2022,
https://arxiv.org/abs/2108.10241 (data poisoning of federated language models).
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence


def garbage_texts(clean: Sequence[str], mode: str = "shuffle", seed: int = 0) -> list[str]:
    """As many samples as ``clean``, each with the same length in words (shuffle) or characters
    (chars)."""
    rng = random.Random(seed)
    if mode == "shuffle":
        words = [w for t in clean for w in t.split()]
        rng.shuffle(words)
        out, start = [], 0
        for text in clean:
            n = len(text.split())
            out.append(" ".join(words[start:start + n]))
            start += n
        return out
    if mode == "chars":
        alphabet = string.ascii_letters + string.digits + string.punctuation + " "
        return ["".join(rng.choice(alphabet) for _ in text) for text in clean]
    raise ValueError(f"unknown garbage mode {mode!r}: 'shuffle' or 'chars'")
