"""Deterministic validation and robust aggregation of a round's LoRA deltas."""
