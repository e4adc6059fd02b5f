"""Aggregation weights: the capped self-reported sample count, scaled by a reputation multiplier.

Kept in consensus (which weights updates) and imported by incentives (whose reputation supplies
the multipliers), so that data flows one way: consensus never imports incentives.
"""

PPM = 1_000_000


def aggregation_weight(sample_count: int, max_samples: int, multiplier: int = PPM) -> int:
    """The integer weight an update gets in aggregation: the capped self-reported sample count
    scaled by the peer's multiplier (ppm; a new identity counts ``min_multiplier`` of its claim),
    at least 1 and never above ``max_samples``, so consensus's exact-sum bounds still hold."""
    capped = min(max(sample_count, 1), max_samples)
    return max(1, capped * min(multiplier, PPM) // PPM)
