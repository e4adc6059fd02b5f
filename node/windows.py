"""A round's windows: the margins the node's roles keep inside each, and the window lengths a
task needs for the peers it expects (``loraswarm task create --expected-peers N``).

Kept apart from the roles (and free of torch, trio and web3) so that sizing a task's windows
reads the same numbers the node waits by. The arithmetic follows the round (Coordinator.sol):

- commit: the slowest peer fetches the start global and trains the recipe's steps; training stops
  TRAIN_MARGIN_S before the end, which must also hold N commits mined at once.
- reveal: every peer reveals WINDOW_MARGIN_S in, all at once: N reveal transactions mined before
  the end, and N gossip announcements under the per-topic rate limit.
- attest: two equal halves. The seal half waits for the pinned block, then a validator fetches
  the N revealed deltas (none counted as prefetched), validates and aggregates them (O(N) work, and
  the pairwise checks' O(N^2)), and seals; the open half holds the opening transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loraswarm.protocol.taskspec import RecipeSection, TaskSpec
from loraswarm.protocol.wire import MAX_MESSAGES_PER_TOPIC_PER_S

# Calls are estimated against the latest block, whose timestamp lags the clock by up to one block
# interval and the chain's clock skew: a time-windowed call waits this long past its window's
# opening, and validators start judging this long after the reveal window closes. The default of a
# node's `[chain] margin_s`.
WINDOW_MARGIN_S = 2.0
# A chain on this host that mines on demand (the demo's): its blocks are stamped by this host's
# clock in whole seconds, so a second covers the lag.
LOCAL_MARGIN_S = 1.0


def margin_misfit(margin_s: float, pin_grace_s: float, validator: bool, reveal_s: int, attest_s: int) -> str | None:
    """Why a node's margin does not fit a task's windows, or None: a reveal is sent margin_s into
    the reveal window, and a validator judges once the block is pinned (margin_s past the reveal
    window, and up to the pin grace) and must still seal in the seal half."""
    if margin_s >= reveal_s:
        return f"[chain] margin_s = {margin_s:g} s leaves nothing of the {reveal_s} s reveal window: make it smaller"
    if validator and max(margin_s, pin_grace_s) >= attest_s // 2:
        return (f"the seal half of the attest window ({attest_s // 2} s) ends before a validator may judge "
                f"(margin_s {margin_s:g} s, the task's pin_grace_s {pin_grace_s:g} s)")
    return None


# Training stops this long before the commit window closes, to encode and send the commit in it.
TRAIN_MARGIN_S = 8.0
# How long past a round's reveal window a chain without a later block is taken to have none coming:
# the task file's default `pin_grace_s` (one value per task, so that validators pin the same block).
PIN_GRACE_S = TaskSpec.model_fields["pin_grace_s"].default

# Estimated work is multiplied by this: the costs come from one 2-core machine, and a round that
# overruns a window loses its late participants. The margins above are added as they are.
SAFETY_FACTOR = 1.5
# anvil's and hardhat's default block gas limit; Ethereum and the common L2s allow at least as much.
BLOCK_GAS = 30_000_000


@dataclass(frozen=True)
class Measure:
    """Seconds some work took over a number of updates, at ``RoundCosts.params`` per update."""

    seconds: float
    updates: int


@dataclass(frozen=True)
class RoundCosts:
    """Measured costs a round's windows must hold, on the 2-core development machine (README.md,
    Benchmarks), with the default task's adapter. Per-update work scales with the adapter's size."""

    # SmolLM2-135M with LoRA rank 8 on q_proj and v_proj: the adapter every figure below was measured with.
    params: int = 460_800
    # benchmarks/train.py --quick (2026-12-04): training tokens per second, machine otherwise idle.
    train_tokens_per_s: float = 180.0
    # benchmarks/round.py --quick (2026-12-04): validate 0.25-0.42 s for 4 updates (decoding is
    # within its "each <= 0.1 s" phases).
    validate: Measure = Measure(0.42, 4)
    # benchmarks/aggregation.py --quick (2026-12-04): 1.47 s to convert 40 deltas to the fixed-point stack.
    stack: Measure = Measure(1.47, 40)
    # benchmarks/aggregation.py --quick (2026-12-04): Krum 0.08 s over 40 deltas, most of it the
    # Gram matrix of every pair that Krum, duplicates, noise and collusion share (O(N^2)).
    pairs: Measure = Measure(0.08, 40)
    # benchmarks/round.py --quick (2026-12-04): judging reads 0.18-0.21 s, save and incentives <= 0.1 s each.
    judge_fixed_s: float = 0.4
    # benchmarks/round.py --quick (2026-12-04): a transaction sent to its receipt (reveal 0.06-0.09 s).
    tx_s: float = 0.1
    # benchmarks/gas.py --quick (2026-12-03): gas of each transaction a round's windows must take in.
    commit_gas: int = 38_809
    reveal_gas: int = 43_087
    seal_gas: int = 78_020
    open_gas: int = 132_709  # the opening that reaches quorum also finalizes


@dataclass(frozen=True)
class AdapterSize:
    """A task's adapter on the wire: its parameters, a delta in the task's codec, the global (fp32)."""

    params: int
    delta_bytes: int
    global_bytes: int


@dataclass(frozen=True)
class Conditions:
    """What the slowest participants and the chain allow."""

    step_s: float  # one training step of the task's recipe on the slowest peer
    bandwidth_mbit_s: float  # a validator's (and the slowest peer's) download
    block_time_s: float
    block_gas: int = BLOCK_GAS


@dataclass(frozen=True)
class Term:
    name: str
    seconds: float
    how: str


@dataclass(frozen=True)
class Window:
    """A window's length: its estimated work times SAFETY_FACTOR plus the node's margins, whole
    seconds; the attest window is two equal halves (seal, then open)."""

    name: str
    work: tuple[Term, ...]
    margins: tuple[Term, ...]
    halves: int = 1
    half: str = ""  # which half sets the length

    @property
    def half_s(self) -> int:
        return math.ceil(SAFETY_FACTOR * sum(t.seconds for t in self.work) + sum(t.seconds for t in self.margins))

    @property
    def seconds(self) -> int:
        return self.halves * self.half_s

    def lines(self) -> list[str]:
        work = sum(t.seconds for t in self.work)
        head = f"{self.name} {self.seconds} s"
        if self.halves > 1:
            head += f" = {self.halves} x {self.half_s} s, the {self.half} half"
        out = [head + ":"]
        out += [f"  {t.name:<22} {t.seconds:9.2f} s  {t.how}" for t in self.work]
        out.append(f"  {'x safety factor':<22} {SAFETY_FACTOR * work:9.2f} s  {SAFETY_FACTOR} x {work:.2f} s")
        out += [f"  + {t.name:<20} {t.seconds:9.2f} s  {t.how}" for t in self.margins]
        return out


@dataclass(frozen=True)
class WindowPlan:
    peers: int
    validators: int
    windows: tuple[Window, Window, Window]  # commit, reveal, attest

    def lines(self) -> list[str]:
        out = [f"windows for {self.peers} peers and {self.validators} validators (estimated work x "
               f"{SAFETY_FACTOR}, then the node's own margins as they are; whole seconds):"]
        for window in self.windows:
            out += window.lines()
        commit, reveal, attest = (w.seconds for w in self.windows)
        out.append(f"suggested: --commit-s {commit} --reveal-s {reveal} --attest-s {attest} "
                   f"(a round every {commit + reveal + attest} s)")
        return out

    def shortfalls(self, commit_s: int, reveal_s: int, attest_s: int) -> list[str]:
        """Each given window shorter than suggested, by how much."""
        given = dict(zip(("commit", "reveal", "attest"), (commit_s, reveal_s, attest_s), strict=True))
        return [f"the {w.name} window ({given[w.name]} s) is {w.seconds - given[w.name]} s shorter than the "
                f"{w.seconds} s {self.peers} peers need (--{w.name}-s {w.seconds})"
                for w in self.windows if given[w.name] < w.seconds]


def default_step_s(recipe: RecipeSection, seq_len: int, costs: RoundCosts) -> float:
    """One training step of ``recipe`` at the measured training speed."""
    return recipe.batch_size * seq_len / costs.train_tokens_per_s


def _inclusion(transactions: int, gas: int, conditions: Conditions) -> float:
    """Blocks until ``transactions`` sent at once are all mined, plus one: the last must land in a
    block stamped before its window closes, and block timestamps lag the clock by up to a block."""
    return (math.ceil(transactions * gas / conditions.block_gas) + 1) * conditions.block_time_s


def suggest_windows(peers: int, validators: int, recipe: RecipeSection, adapter: AdapterSize, conditions: Conditions,
                    costs: RoundCosts = RoundCosts()) -> WindowPlan:
    """Window lengths for a round of ``peers`` updates judged by ``validators``, with the arithmetic."""
    if peers < 1 or validators < 1:
        raise ValueError("a round needs at least one peer and one validator")
    rate = conditions.bandwidth_mbit_s * 1e6 / 8  # bytes per second
    scale = adapter.params / costs.params
    blocks = f"{conditions.block_time_s:g} s blocks of {conditions.block_gas:,} gas"
    commit = Window("commit", (
        Term("start global fetch", adapter.global_bytes / rate,
             f"{adapter.global_bytes:,} bytes at {conditions.bandwidth_mbit_s:g} Mbit/s"),
        Term("training", recipe.steps * conditions.step_s,
             f"{recipe.steps} steps x {conditions.step_s:.2f} s on the slowest peer"),
    ), (Term("commit margin", max(TRAIN_MARGIN_S, costs.tx_s + _inclusion(peers, costs.commit_gas, conditions)),
             f"TRAIN_MARGIN_S (training stops {TRAIN_MARGIN_S:g} s before the end), or {peers} commits "
             f"in {blocks} if longer"),))
    reveal = Window("reveal", (
        Term("reveal transactions", costs.tx_s + _inclusion(peers, costs.reveal_gas, conditions),
             f"{peers} reveals of {costs.reveal_gas:,} gas sent at once, in {blocks}"),
        Term("gossip announcements", peers / MAX_MESSAGES_PER_TOPIC_PER_S,
             f"{peers} announcements at MAX_MESSAGES_PER_TOPIC_PER_S = {MAX_MESSAGES_PER_TOPIC_PER_S:g}"),
    ), (Term("reveal start", WINDOW_MARGIN_S, "WINDOW_MARGIN_S: a peer reveals this long into the window"),))
    per_update = (costs.validate.seconds / costs.validate.updates + costs.stack.seconds / costs.stack.updates) * scale
    per_pair = costs.pairs.seconds / costs.pairs.updates**2 * scale
    seal_work = (
        Term("delta fetch", peers * adapter.delta_bytes / rate,
             f"{peers} x {adapter.delta_bytes:,} bytes at {conditions.bandwidth_mbit_s:g} Mbit/s"),
        Term("judging reads", costs.judge_fixed_s, "chain reads at the pinned block, incentives, save"),
        Term("validate, aggregate", peers * per_update, f"{peers} x {per_update:.4f} s per update (O(N))"),
        Term("pairwise checks", peers**2 * per_pair, f"{peers}^2 x {per_pair:.2e} s per pair (O(N^2))"),
        Term("seal transaction", costs.tx_s + _inclusion(validators, costs.seal_gas, conditions),
             f"{validators} seals of {costs.seal_gas:,} gas, in {blocks}"),
    )
    seal_margins = (Term("pinned block", PIN_GRACE_S, "PIN_GRACE_S: judging starts this long after the reveal "
                                                      "window at the latest"),)
    open_half = Window("attest", (
        Term("open transaction", costs.tx_s + _inclusion(validators, costs.open_gas, conditions),
             f"{validators} openings of up to {costs.open_gas:,} gas, in {blocks}"),
    ), (Term("open start", WINDOW_MARGIN_S, "WINDOW_MARGIN_S: a validator opens this long into the half"),),
        halves=2, half="open")
    seal_half = Window("attest", seal_work, seal_margins, halves=2, half="seal")
    attest = max(seal_half, open_half, key=lambda w: w.half_s)
    return WindowPlan(peers, validators, (commit, reveal, attest))
