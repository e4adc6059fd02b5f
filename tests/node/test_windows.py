"""Window sizing (node/windows.py, `loraswarm task windows`): lengths that grow with the peers a
task expects, the arithmetic shown term by term, and the refusal of a window too short."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from loraswarm.cli import app
from loraswarm.cli import task as task_cli
from loraswarm.node.task_facts import ModelFacts
from loraswarm.node.windows import (
    LOCAL_MARGIN_S,
    PIN_GRACE_S,
    SAFETY_FACTOR,
    TRAIN_MARGIN_S,
    WINDOW_MARGIN_S,
    AdapterSize,
    Conditions,
    RoundCosts,
    WindowPlan,
    margin_misfit,
    suggest_windows,
)
from loraswarm.protocol.taskspec import RecipeSection

COSTS = RoundCosts()
# The default task's adapter: int8 deltas, an fp32 global.
ADAPTER = AdapterSize(COSTS.params, COSTS.params + 32_000, 4 * COSTS.params + 32_000)
CONDITIONS = Conditions(step_s=1.5, bandwidth_mbit_s=50.0, block_time_s=2.0)


def _plan(peers: int, conditions: Conditions = CONDITIONS) -> WindowPlan:
    return suggest_windows(peers, 3, RecipeSection(), ADAPTER, conditions, COSTS)


def _seconds(plan: WindowPlan) -> tuple[int, ...]:
    return tuple(w.seconds for w in plan.windows)


def test_windows_never_shrink_as_peers_grow_and_judging_grows_faster_than_linearly() -> None:
    plans = [_plan(n) for n in (1, 10, 50, 100, 300, 1000, 3000)]
    for smaller, larger in itertools.pairwise(plans):
        assert all(a <= b for a, b in zip(_seconds(smaller), _seconds(larger), strict=True))
    attest = {p.peers: p.windows[2].seconds for p in plans}
    assert attest[3000] > attest[1000] > 2 * attest[100]  # the pairwise checks are O(N^2)


def test_every_window_holds_the_node_margins_and_the_training() -> None:
    commit, reveal, attest = _plan(10).windows
    assert commit.seconds >= RecipeSection().steps * CONDITIONS.step_s + TRAIN_MARGIN_S
    assert reveal.seconds >= WINDOW_MARGIN_S + CONDITIONS.block_time_s
    assert attest.seconds % 2 == 0 and attest.half_s >= PIN_GRACE_S + WINDOW_MARGIN_S


def test_slower_peers_and_thinner_links_lengthen_their_windows() -> None:
    base = _seconds(_plan(100))
    slow = _seconds(_plan(100, replace(CONDITIONS, step_s=3.0)))
    thin = _seconds(_plan(100, replace(CONDITIONS, bandwidth_mbit_s=5.0)))
    assert slow[0] > base[0] and slow[1:] == base[1:]
    assert thin[2] > base[2]


def test_the_arithmetic_names_every_term_with_its_value() -> None:
    plan = _plan(100)
    text = "\n".join(plan.lines())
    for window in plan.windows:
        assert f"{window.name} {window.seconds} s" in text
        for term in (*window.work, *window.margins):
            assert re.search(rf"{re.escape(term.name)}\s+{term.seconds:.2f} s", text), term.name
    assert "x safety factor" in text and str(SAFETY_FACTOR) in text
    for name in ("TRAIN_MARGIN_S", "WINDOW_MARGIN_S", "PIN_GRACE_S", "MAX_MESSAGES_PER_TOPIC_PER_S", "O(N^2)"):
        assert name in text
    commit, reveal, attest = _seconds(plan)
    assert text.endswith(f"--commit-s {commit} --reveal-s {reveal} --attest-s {attest} "
                         f"(a round every {commit + reveal + attest} s)")


def test_shortfalls_name_the_short_window_and_by_how_much() -> None:
    plan = _plan(100)
    commit, reveal, attest = _seconds(plan)
    assert plan.shortfalls(commit, reveal, attest) == []
    (short,) = plan.shortfalls(commit, reveal, attest - 7)
    assert short.startswith(f"the attest window ({attest - 7} s) is 7 s shorter than the {attest} s 100 peers need")
    assert len(plan.shortfalls(commit - 1, reveal - 1, attest)) == 2


def test_a_round_needs_a_peer_and_a_validator() -> None:
    with pytest.raises(ValueError, match="at least one peer"):
        suggest_windows(0, 3, RecipeSection(), ADAPTER, CONDITIONS)


def test_task_windows_prints_the_suggestion_without_a_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_cli, "model_facts", lambda _spec, _model: ModelFacts("0x11", "0x22", ADAPTER))
    result = CliRunner().invoke(app, ["task", "windows", "--expected-peers", "100", "--step-s", "1.5",
                                      "--block-time-s", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == _plan(100).lines()
    refused = CliRunner().invoke(app, ["task", "windows", "--expected-peers", "0"])
    assert refused.exit_code != 0


def test_a_margin_that_does_not_fit_the_tasks_windows_is_named() -> None:
    """A node refuses to start with a margin that would make its reveal late, or a validator's
    judging start after the seal half closed (the demo's margin and pin grace fit its windows)."""
    assert margin_misfit(LOCAL_MARGIN_S, 2.5 * LOCAL_MARGIN_S, True, reveal_s=3, attest_s=10) is None
    assert margin_misfit(WINDOW_MARGIN_S, PIN_GRACE_S, True, reveal_s=20, attest_s=40) is None
    late_reveal = margin_misfit(5.0, PIN_GRACE_S, False, reveal_s=5, attest_s=40)
    assert late_reveal is not None and "margin_s = 5 s" in late_reveal and "5 s reveal window" in late_reveal
    late_seal = margin_misfit(WINDOW_MARGIN_S, PIN_GRACE_S, True, reveal_s=20, attest_s=10)
    assert late_seal is not None and "seal half" in late_seal and "pin_grace_s 5 s" in late_seal
    assert margin_misfit(WINDOW_MARGIN_S, PIN_GRACE_S, False, reveal_s=20, attest_s=10) is None  # a trainer
