"""Figures of a simulation: profit per strategy, gas per round, finalize gas against N, and the
reputation attacks' profit against an honest peer's."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean
from typing import Any

from harness.sim.chain import UNIT, GasRecord
from harness.sim.run import (
    COPYING_VALIDATOR,
    HONEST_VALIDATOR,
    LAZY_VALIDATOR,
    VALIDATOR_ROLES,
    RoundGas,
    SimResult,
)
from harness.sim.strategies import Strategy


@dataclass(frozen=True)
class StrategyFigures:
    role: str
    group: str
    count: int
    profit_min: float  # whole tokens
    profit_mean: float
    profit_max: float
    earnings_mean: float  # rewards - slashes, whole tokens
    reasons: dict[str, int]  # verdict reason -> how many times


def _group(role: str) -> str:
    return "validator" if role in VALIDATOR_ROLES else Strategy(role).group


def by_strategy(result: SimResult) -> list[StrategyFigures]:
    members: dict[str, list[str]] = defaultdict(list)
    for m in result.members:
        members[m.role].append(m.address)
    figures = []
    for role, addresses in members.items():
        profits = [result.profit[a] / UNIT for a in addresses]
        reasons = {reason.name: n for (r, reason), n in sorted(result.rejections.items()) if r == role}
        figures.append(StrategyFigures(
            role, _group(role), len(addresses), min(profits), mean(profits), max(profits),
            mean(result.earnings[a] / UNIT for a in addresses), reasons,
        ))
    return figures


def reputation_figures(result: SimResult) -> dict[str, Any]:
    """The Sybil operator's profit (all its identities together: one operator, one dataset) and
    the slow poisoner's, next to the smallest honest profit (whole tokens)."""
    profits: dict[str, list[float]] = defaultdict(list)
    for m in result.members:
        profits[m.role].append(result.profit[m.address] / UNIT)
    honest = profits[Strategy.HONEST.value]
    figures: dict[str, Any] = {"reputation": result.config.reputation is not None,
                               "honest_profit_min": round(min(honest), 3) if honest else None}
    if sybil := profits[Strategy.SYBIL.value]:
        figures["sybil_operator_profit"] = round(sum(sybil), 3)
        figures["sybil_identities"] = len(sybil)
        figures["sybil_slots"] = result.config.peers.count(Strategy.SYBIL)
    if poison := profits[Strategy.SLOW_POISON.value]:
        figures["slow_poison_profit_max"] = round(max(poison), 3)
        figures["poison_from"] = result.config.poison_round
    return figures


def gas_by_kind(records: list[GasRecord]) -> dict[str, dict[str, float]]:
    """Per transaction kind: mean gas per transaction and mean gas per round."""
    per_kind: dict[str, list[int]] = defaultdict(list)
    rounds = {r.round_id for r in records}
    for r in records:
        per_kind[r.kind].append(r.gas)
    return {
        kind: {"per_tx": round(mean(gas)), "per_round": round(sum(gas) / max(len(rounds), 1)), "txs": len(gas)}
        for kind, gas in sorted(per_kind.items())
    }


def summary(result: SimResult, by_n: dict[int, RoundGas]) -> dict[str, Any]:
    """The benchmark's JSON object (profits in whole tokens)."""
    figures = by_strategy(result)
    per_group: dict[str, list[StrategyFigures]] = defaultdict(list)
    for f in figures:
        per_group[f.group].append(f)
    validators = {f.role: f for f in per_group["validator"]}
    honest_v = validators[HONEST_VALIDATOR].earnings_mean

    def vs_honest(role: str) -> float | None:
        return round(validators[role].earnings_mean / honest_v, 3) if role in validators and honest_v > 0 else None

    gas = gas_by_kind(result.gas)
    ns = sorted(by_n)
    return {
        **reputation_figures(result),  # its honest_profit_min is the one below
        "honest_profit_min": round(min(f.profit_min for f in per_group["honest"]), 3),
        "free_rider_profit_max": round(max(f.profit_max for f in per_group["free_rider"]), 3),
        "attacker_profit_max": round(max(f.profit_max for f in per_group["attacker"]), 3),
        "lazy_validator_vs_honest": vs_honest(LAZY_VALIDATOR),
        "copying_validator_vs_honest": vs_honest(COPYING_VALIDATOR),
        "rounds": result.config.rounds,
        "finalized_rounds": result.finalized_rounds,
        "peers": len(result.config.peers),
        "validators": sum(1 for m in result.members if m.role in VALIDATOR_ROLES),
        "profit_by_strategy": {f.role: round(f.profit_mean, 3) for f in figures},
        "gas_per_round": sum(k["per_round"] for k in gas.values()),
        "gas_by_kind": gas,
        "finalize_gas": {str(n): by_n[n].finalize for n in ns},
        "finalize_ratio": round(by_n[ns[-1]].finalize / by_n[ns[0]].finalize, 4) if ns else None,
        "round_gas": {str(n): by_n[n].total for n in ns},
    }


def profit_table(result: SimResult) -> str:
    rows = [f"{'strategy':<19}{'group':<11}{'n':>3}{'profit min':>13}{'mean':>12}{'max':>12}"
            f"{'earned':>12}  verdicts"]
    for f in sorted(by_strategy(result), key=lambda f: (f.group, f.role)):
        verdicts = ", ".join(f"{k} x{v}" for k, v in f.reasons.items())
        rows.append(f"{f.role:<19}{f.group:<11}{f.count:>3}{f.profit_min:>13.2f}{f.profit_mean:>12.2f}"
                    f"{f.profit_max:>12.2f}{f.earnings_mean:>12.2f}  {verdicts}")
    return "\n".join(rows)


def gas_table(result: SimResult, by_n: dict[int, RoundGas]) -> str:
    rows = [f"{'tx kind':<10}{'txs':>6}{'gas/tx':>10}{'gas/round':>12}"]
    for kind, g in gas_by_kind(result.gas).items():
        rows.append(f"{kind:<10}{g['txs']:>6}{g['per_tx']:>10}{g['per_round']:>12}")
    rows.append("one round of N honest peers: finalize stays flat, the rest is paid per peer")
    rows.append(f"{'N':>5}{'finalize':>10}{'round total':>13}{'per peer':>10}")
    rows += [f"{n:>5}{g.finalize:>10}{g.total:>13}{g.total // n:>10}" for n, g in sorted(by_n.items())]
    return "\n".join(rows)
