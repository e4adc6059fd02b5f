"""Reputation: a peer's track record as one integer in parts per million, folded from finalized
rounds' verdicts, and what it is used for (a bounded multiplier on reward shares, and consensus's
prior: aggregation weight and the outlier tests' reference).

Input. For every finalized round, the verdict of every peer that committed: the leaves of the
round's acceptedRoot, ``(peer, reason)``. They are fixed at finalization (the root is in
RoundFinalized), every validator holds them because it computed them, and the ledger holds them
through round result documents whose roots it checks against the chain. Nothing that happens
after finalization counts: claims are pull payments (a peer claims late or never) and slash
leaves are executed by whoever cares to, so RewardClaimed and SlashExecuted events could be
withheld or delayed to steer a reputation; the verdicts cannot. A slash leaf exists exactly when
the verdict's slash cause is UNREVEALED or MALICIOUS (slashing.peer_cause), so penalising the
cause penalises the slash. Score magnitudes are left out on purpose: the agreement measure is not
committed on chain, and the sample count is self-reported.

Fold, per round in round order, per peer with a verdict (integer arithmetic, floors):

    target = 1e6 if ACCEPTED else 0      (no-fault verdicts such as NOT_SELECTED leave it as is)
    rep    = (rep * (1e6 - ema_ppm) + target * ema_ppm) // 1e6
    rep    = rep * (1e6 - penalty[cause]) // 1e6     for a slashed cause (unrevealed, malicious)

A new identity starts at ``initial_ppm`` (default 0, the floor), so dropping an identity never
raises a reputation (no whitewashing) and a fresh Sybil identity earns the smallest multiplier.
Rounds a peer sits out change nothing. Reputation rises slowly (about 8 accepted rounds to 90%
at the default 25% step) and falls fast (one malicious verdict takes 90% to 34%), so a slow
poisoner buys one attack with many rounds of honest work and then loses its weight.

Use. The multiplier is ``min + (max - min) * rep / 1e6`` ppm. Reward weights are
``score * multiplier`` (exact integers, split by the usual largest remainder, so the pool is
paid out exactly as before; a uniform multiplier changes nothing). When the task has reputation
on, ``Standing.multipliers`` is also consensus's prior (consensus/rules/_prior.py): aggregation
weights are the capped sample count times the multiplier (taken as at most 1), floored, at least
1, so a fresh identity's unverifiable claim of volume counts a tenth of its face value; and the
median that the outlier tests and robust rules centre on counts an established peer at most twice
a fresh one, so Sybil identities pull it less while an honest newcomer is judged by the same
thresholds as everyone. Scores stay by the capped claim alone: the multiplier applies once, to
the reward share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from loraswarm.consensus.weights import PPM
from loraswarm.incentives.outcome import account_key
from loraswarm.incentives.slashing import SlashCause, peer_cause
from loraswarm.protocol.codes import Reason

# One finalized round's verdicts: account -> reason code.
RoundVerdicts = Mapping[str, Reason]
KNOWN_CODES = frozenset(int(r) for r in Reason)


@dataclass(frozen=True)
class ReputationParams:
    # Weight of the newest round in the moving average.
    ema_ppm: int = 250_000
    # Where a never-seen identity starts: the floor, so a fresh identity is worth the least.
    initial_ppm: int = 0
    # Extra cut after the moving average for verdicts that are slashed.
    unrevealed_penalty_ppm: int = 250_000
    malicious_penalty_ppm: int = 500_000
    # Bounds of the reward and aggregation-weight multiplier, ppm.
    min_multiplier_ppm: int = 100_000
    max_multiplier_ppm: int = 1_000_000

    def __post_init__(self) -> None:
        fractions = (self.ema_ppm, self.initial_ppm, self.unrevealed_penalty_ppm, self.malicious_penalty_ppm)
        if not all(0 <= f <= PPM for f in fractions) or self.ema_ppm == 0:
            raise ValueError(f"reputation fractions must lie in [0, {PPM}] ppm (ema above 0): {self}")
        if not 0 < self.min_multiplier_ppm <= self.max_multiplier_ppm:
            raise ValueError(f"multiplier bounds must satisfy 0 < min <= max: {self}")

    def penalty(self, cause: SlashCause | None) -> int:
        if cause is SlashCause.UNREVEALED:
            return self.unrevealed_penalty_ppm
        if cause is SlashCause.MALICIOUS:
            return self.malicious_penalty_ppm
        return 0


def next_level(level: int, reason: Reason, params: ReputationParams) -> int:
    """A peer's reputation after one more finalized verdict."""
    cause = peer_cause(reason)
    if reason is not Reason.ACCEPTED and cause is None:
        return level  # rejected without fault (e.g. not selected by the rule): no evidence either way
    target = PPM if reason is Reason.ACCEPTED else 0
    level = (level * (PPM - params.ema_ppm) + target * params.ema_ppm) // PPM
    return level * (PPM - params.penalty(cause)) // PPM


def multiplier_ppm(level: int, params: ReputationParams) -> int:
    span = params.max_multiplier_ppm - params.min_multiplier_ppm
    return params.min_multiplier_ppm + span * min(max(level, 0), PPM) // PPM


@dataclass
class ReputationBook:
    """Reputation of every account seen, after the rounds folded so far (in increasing order)."""

    params: ReputationParams = field(default_factory=ReputationParams)
    levels: dict[str, int] = field(default_factory=dict)  # by account_key
    last_round: int = -1

    def level(self, account: str) -> int:
        return self.levels.get(account_key(account), self.params.initial_ppm)

    def fold(self, round_id: int, verdicts: RoundVerdicts) -> None:
        if round_id <= self.last_round:
            raise ValueError(f"round {round_id} folded after round {self.last_round}: rounds go in order, once")
        keys = [account_key(a) for a in verdicts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate peer in round {round_id}")
        for account, reason in verdicts.items():
            self.levels[account_key(account)] = next_level(self.level(account), Reason(reason), self.params)
        self.last_round = round_id

    def standing(self) -> Standing:
        """What a round settled now uses: a frozen copy of the current levels."""
        return Standing(dict(self.levels), self.params)


@dataclass(frozen=True)
class Standing:
    """Reputations at the opening of a round (after every earlier finalized round)."""

    levels: Mapping[str, int]  # by account_key
    params: ReputationParams

    def multiplier(self, account: str) -> int:
        return multiplier_ppm(self.levels.get(account_key(account), self.params.initial_ppm), self.params)

    def reward_weights(self, scores: Mapping[str, int]) -> dict[str, int]:
        """Scores times the multiplier, exact: what the pool is split by."""
        return {account: score * self.multiplier(account) for account, score in scores.items()}

    def multipliers(self, accounts: Iterable[str]) -> dict[str, int]:
        """Multiplier of each account, ppm: the plain mapping consensus takes as its prior."""
        return {account: self.multiplier(account) for account in accounts}


def known_verdicts(pairs: Iterable[tuple[str, int]]) -> dict[str, Reason]:
    """A round's (peer, reason code) leaves as verdicts. A code this version does not know comes
    from a newer protocol; it is left out (no evidence either way) rather than guessed at."""
    return {peer: Reason(code) for peer, code in pairs if code in KNOWN_CODES}


def fold_history(rounds: Iterable[tuple[int, RoundVerdicts]], params: ReputationParams) -> ReputationBook:
    """The book after every given finalized round, whatever order they arrive in."""
    book = ReputationBook(params)
    for round_id, verdicts in sorted(rounds, key=lambda item: item[0]):
        book.fold(round_id, verdicts)
    return book


def reputation_series(rounds: Iterable[tuple[int, RoundVerdicts]],
                      params: ReputationParams) -> list[tuple[int, str, int]]:
    """(round, account, reputation after that round) for every account seen by then, in round
    then account order: the ledger's reputation-over-rounds view."""
    book = ReputationBook(params)
    series = []
    for round_id, verdicts in sorted(rounds, key=lambda item: item[0]):
        book.fold(round_id, verdicts)
        series += [(round_id, account, level) for account, level in sorted(book.levels.items())]
    return series
