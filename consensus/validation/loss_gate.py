"""Optional loss gate: the global adapter plus this delta must not raise the validation loss on
the task's public set beyond loss_tolerance. Last and most expensive (one evaluation per update).

The model's loss is a float that may differ in its last bits across machines, so it is rounded
to 2**-16 nats before the comparison: validators disagree only if a loss sits within float noise
of that grid's tolerance boundary."""

from __future__ import annotations

from fractions import Fraction

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.validation.state import Finding, RoundState
from loraswarm.protocol.codes import Reason

LOSS_GRID = 1 << 16


def _canonical(loss: float) -> int:
    return round(loss * LOSS_GRID)


def loss_gate(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    loss_fn = state.ctx.loss_fn
    if loss_fn is None or not alive:
        return {}
    base = _canonical(loss_fn(None))
    limit = Fraction(base) * (1 + Fraction(state.ctx.params.loss_tolerance))
    out: dict[int, Finding] = {}
    for i in alive:
        # Evaluate exactly what would be aggregated: the value-grid delta, not the raw floats.
        delta = state.ctx.unflatten(fixedpoint.dequantize(state.candidates[i].values, state.bits))
        loss = _canonical(loss_fn(delta))
        measures = {"loss": loss / LOSS_GRID, "loss_increase": (loss - base) / LOSS_GRID}
        out[i] = Finding(Reason.LOSS_GATE if loss > limit else Reason.ACCEPTED, measures)
    return out
