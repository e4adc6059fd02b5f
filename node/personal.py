"""Personalized assimilation (issue 11): besides the consensus global adapter, a peer may keep a
personal adapter that weights the round's validated deltas by how much each helps its own data.

The rule follows FedFomo (Zhang et al. 2021, "Personalized Federated Learning with First Order
Model Optimization", https://arxiv.org/abs/2012.08565): weight other peers' updates by the loss
improvement each brings on a local validation set; and APFL (Deng et al. 2020, "Adaptive
Personalized Federated Learning", https://arxiv.org/abs/2003.13461): mix the personal model with
the global one by a coefficient chosen locally. Per round r, on the peer's *selection set* S (a
seeded slice of its own training blocks, never the held-out test text that perplexity reports):

    G   the round's start global (every delta was trained from it)
    G'  the new consensus global;  P  the previous personal adapter (G in the first round)
    d_i the round's deltas whose consensus verdict is ACCEPTED (everything else is dropped here,
        whatever the caller passes: a rejected or unselected delta never enters)
    1. gain_i = L_S(G) - L_S(G + d_i)                  (nats per token)
    2. w_i = softmax(gain_i / T), T = 0.02 nats, over the deltas with gain_i > 0; w_i = 0 for the others
    3. m = sum_i w_i d_i                               (a convex blend of the deltas)
    4. candidates  G' + beta (P - G) + lam (G + m - G')   for beta in {0, 1}, lam in {0, 1/2, 1, 3/2}
       (beta carries the earlier personal offset onto the new global; lam moves from the
       consensus step towards the peer's own blend, 3/2 a little past it; beta = lam = 0 is G')
    4'. when the peer names its own delta d_o (``own``): the same candidates with m = d_o, its own
       delta alone (lam = 0 adds nothing new). beta = lam = 1 is P + d_o: the peer's own chain,
       its personal adapter carried on by its own training, the nearest thing to training alone
       that costs no extra training. d_o is the peer's own work, so it is used whatever verdict
       consensus gave it (a peer whose text differs most is the likeliest to be an outlier).
    5. the personal adapter is the candidate of lowest L_S (ties: the earlier in that order).

So on S the personal adapter is never worse than the global, nor than its own chain. It is local:
nothing here touches the chain, the consensus inputs or the global. Cost per round: 2 + accepted
+ 7 evaluations of the small set S, 6 more with ``own`` (first round: 3 candidates, and 3 more),
and one held-out evaluation each of the global and of the personal adapter for the report.

Why the own chain (issue 17): over random deals of one fortunes topic per peer, the global was
worse than the peer training alone on the peer's own topic, and the gain-weighted blend seldom
reached that far: the other peers' deltas also help a peer's text (they learn the fortunes format)
and the softmax then spreads the weight, while the peer's own delta alone, carried round after
round, is what training alone accumulates.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import torch
from peft import PeftModel

from loraswarm.files import write_atomic
from loraswarm.node.codec import AdapterSpec, Codec, Delta, decode_delta, encode_delta
from loraswarm.node.learner import Learner
from loraswarm.node.training.adapter import get_adapter_state, set_adapter_state
from loraswarm.node.training.evaluate import mean_nll
from loraswarm.node.training.tokens import TokenBlocks
from loraswarm.protocol.codes import Reason

PERSONAL_CODEC = Codec("fp32")  # saved exactly, like globals
NO_VERDICT = "NO_VERDICT"  # a delta whose peer has no verdict this round: dropped

# Mean NLL (nats per token) of an adapter state on the selection set.
SelectionLoss = Callable[[Delta], float]


class HasVerdict(Protocol):
    """A consensus ``Verdict`` or a round result's ``VerdictRow``: a peer and its reason code."""

    @property
    def peer(self) -> str: ...
    @property
    def reason(self) -> int: ...


@dataclass(frozen=True)
class PersonalParams:
    # Softmax temperature over loss gains, in nats: a gain 0.02 nats larger weighs e times more
    # (after a few steps, peers' gains on one peer's data differ by a few hundredths of a nat).
    temperature: float = 0.02
    # 1.5 extrapolates past the peer's blend: on real deltas the selection kept picking lam = 1,
    # the edge of a [0, 1] grid.
    lams: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)
    betas: tuple[float, ...] = (0.0, 1.0)
    # Selection set: this fraction of the training blocks, at most this many (evaluation is the
    # cost: each candidate is one pass over S). With 8 blocks of 48 tokens the choice did not
    # carry to held-out text (personal/global 0.98, 1.07, 1.02 on computers, food, law after 3
    # rounds); with 32 it did (0.98, 0.995, 1.002: no worse where topics barely differ).
    selection_fraction: float = 0.2
    selection_blocks: int = 32
    seed: int = 11


@dataclass(frozen=True)
class PersonalReport:
    round: int
    weights: dict[str, float]  # accepted peer -> weight in the blend m (0: no gain on S)
    gains: dict[str, float]  # accepted peer -> nats per token gained on S by global + its delta
    excluded: dict[str, str]  # peer whose delta was handed in but not ACCEPTED -> reason name
    beta: float
    lam: float
    selection_nll: dict[str, float]  # "start", "global", "personal" on S
    ppl: dict[str, float]  # held-out test perplexity: "base", "global", "personal"
    seconds: float  # wall time of the personalization (held-out reporting excluded)
    # The m of the chosen candidate: "gains" (the gain-weighted blend) or "own" (the peer's own
    # delta); "global" when no m entered (the new global, perhaps with the carried offset).
    # Reports saved before this field read "gains".
    blend: str = "gains"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def accepted_deltas(verdicts: Iterable[HasVerdict], deltas: Mapping[str, Delta]) -> tuple[dict[str, Delta],
                                                                                         dict[str, str]]:
    """The deltas whose peer's verdict is ACCEPTED (peers compared case-insensitively), and the
    reason each other delta was dropped. A peer with any non-accepted verdict is dropped."""
    reasons: dict[str, set[Reason]] = {}
    for v in verdicts:
        reasons.setdefault(v.peer.lower(), set()).add(Reason(int(v.reason)))
    kept: dict[str, Delta] = {}
    excluded: dict[str, str] = {}
    for peer in sorted(deltas):
        found = reasons.get(peer.lower())
        if found == {Reason.ACCEPTED}:
            kept[peer] = deltas[peer]
        else:
            excluded[peer] = NO_VERDICT if not found else ",".join(sorted(r.name for r in found
                                                                          if r is not Reason.ACCEPTED))
    return kept, excluded


def gain_weights(gains: Mapping[str, float], temperature: float) -> dict[str, float]:
    """Softmax of gains / temperature over the positive gains; zero for the others (a delta that
    does not help this peer's data never enters). All zero when none helps."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    helpful = {p: g for p, g in gains.items() if g > 0}
    weights = dict.fromkeys(gains, 0.0)
    if helpful:
        top = max(helpful.values())
        exp = {p: math.exp((g - top) / temperature) for p, g in helpful.items()}
        total = sum(exp.values())
        weights.update({p: e / total for p, e in exp.items()})
    return weights


def _combine(terms: Iterable[tuple[float, Delta]], keys: Iterable[str]) -> Delta:
    """sum_j c_j X_j per key, accumulated in float64 in the given order (deterministic)."""
    terms = [(c, x) for c, x in terms if c != 0.0]
    return {k: sum((c * x[k].double() for c, x in terms), torch.zeros(())).float() for k in keys}


def personalize(start_global: Delta, new_global: Delta, previous: Delta | None, verdicts: Iterable[HasVerdict],
                deltas: Mapping[str, Delta], loss: SelectionLoss, round_: int,
                params: PersonalParams = PersonalParams(), own: str | None = None) -> tuple[Delta, PersonalReport]:
    """One round of the rule in the module docstring. ``previous`` None: no personal adapter yet.
    ``own``: the peer's own address, whose delta in ``deltas`` (if any) also enters as step 4'.
    Returns the new personal adapter and the report (its ``ppl`` is left for the caller)."""
    began = time.perf_counter()
    keys = sorted(new_global)
    kept, excluded = accepted_deltas(verdicts, deltas)
    own_delta = next((d for p, d in sorted(deltas.items()) if own is not None and p.lower() == own.lower()), None)
    for peer, delta in [*kept.items(), *([(own, own_delta)] if own_delta is not None else [])]:
        if sorted(delta) != keys:
            raise ValueError(f"delta of {peer} has the wrong adapter keys")
    start_nll = loss(start_global)
    gains = {p: start_nll - loss(_combine([(1.0, start_global), (1.0, d)], keys)) for p, d in kept.items()}
    weights = gain_weights(gains, params.temperature)
    blends = [("gains", [(1.0, start_global)] + [(weights[p], kept[p]) for p in kept])]  # G + m
    if own_delta is not None:
        blends.append(("own", [(1.0, start_global), (1.0, own_delta)]))  # G + d_o
    # The global is the first candidate: a candidate must beat it on S to replace it.
    global_nll = loss(new_global)
    best: tuple[float, float, float, str, Delta] = (global_nll, 0.0, 0.0, "global", dict(new_global))
    for name, blend_terms in blends:
        blend = _combine(blend_terms, keys)
        for beta in params.betas if previous is not None else (0.0,):  # no offset to carry yet
            for lam in params.lams:
                if (beta, lam) == (0.0, 0.0) or (lam == 0.0 and name != blends[0][0]):
                    continue  # G' itself, or a candidate without m that the first blend tried
                terms = [(1.0, new_global), (lam, blend), (-lam, new_global)]
                if previous is not None:
                    terms += [(beta, previous), (-beta, start_global)]
                candidate = _combine(terms, keys)
                nll = loss(candidate)
                if nll < best[0]:
                    best = (nll, beta, lam, name if lam else "global", candidate)
    nll, beta, lam, chosen, state = best
    report = PersonalReport(
        round=round_, weights=weights, gains=gains, excluded=excluded, beta=beta, lam=lam,
        selection_nll={"start": start_nll, "global": global_nll, "personal": nll}, ppl={},
        seconds=time.perf_counter() - began, blend=chosen,
    )
    return state, report


def split_selection(blocks: TokenBlocks, params: PersonalParams = PersonalParams()) -> tuple[TokenBlocks,
                                                                                          TokenBlocks]:
    """(rest, selection): a seeded ``selection_fraction`` of the blocks, at most
    ``selection_blocks``, for choosing the personal adapter; the rest to train on."""
    n = len(blocks)
    take = max(1, min(params.selection_blocks, round(params.selection_fraction * n)))
    if take >= n:
        raise ValueError(f"{n} training blocks leave nothing to select the personal adapter with")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(params.seed))
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[order[:take]] = True
    return blocks.subset(torch.nonzero(~chosen).flatten()), blocks.subset(torch.nonzero(chosen).flatten())


class Personalizer:
    """A peer's personal adapter across rounds: update it after each settled round, save it as
    ``<data_dir>/personal/<round>.safetensors`` (fp32) with ``<round>.json`` (the report), and
    reload the latest after a restart. The model's adapter state is restored after each use."""

    def __init__(self, model: PeftModel, spec: AdapterSpec, selection: TokenBlocks, held_out: TokenBlocks,
                 data_dir: Path, params: PersonalParams = PersonalParams(), own: str | None = None) -> None:
        self.model, self.spec, self.selection, self.held_out = model, spec, selection, held_out
        self.params = params
        self.own = own  # the peer's own address: its own delta carries its own chain (``personalize``)
        self.dir = data_dir / "personal"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.base_ppl: float | None = None
        latest = self.latest()
        self.round, self.state = latest if latest is not None else (-1, None)

    @classmethod
    def from_learner(cls, learner: Learner, data_dir: Path, params: PersonalParams = PersonalParams(),
                     own: str | None = None) -> Personalizer:
        """The learner's personalizer: its selection set is taken out of the learner's training
        blocks (from then on the learner never trains on it), its held-out set is the learner's.
        ``own``: the node's address (its own delta among a round's deltas)."""
        if learner.train_blocks is None or learner.eval_blocks is None:
            learner.load_data()
        assert learner.train_blocks is not None and learner.eval_blocks is not None
        learner.train_blocks, selection = split_selection(learner.train_blocks, params)
        return cls(learner.model, learner.spec, selection, learner.eval_blocks, data_dir, params, own)

    def latest(self) -> tuple[int, Delta] | None:
        rounds = sorted(int(p.stem) for p in self.dir.glob("*.safetensors") if p.stem.isdigit())
        if not rounds:
            return None
        return rounds[-1], decode_delta((self.dir / f"{rounds[-1]}.safetensors").read_bytes(), self.spec)

    def report(self, round_: int) -> PersonalReport:
        return PersonalReport(**json.loads((self.dir / f"{round_}.json").read_text()))

    def _nll(self, blocks: TokenBlocks, state: Delta | None) -> float:
        saved = get_adapter_state(self.model)
        try:
            if state is None:
                with self.model.disable_adapter():
                    return mean_nll(self.model, blocks)
            set_adapter_state(self.model, state)
            return mean_nll(self.model, blocks)
        finally:
            set_adapter_state(self.model, saved)

    def update(self, round_: int, start_global: Delta, new_global: Delta, verdicts: Iterable[HasVerdict],
               deltas: Mapping[str, Delta], known_ppl: Mapping[str, float] | None = None) -> PersonalReport:
        """Fold round ``round_`` in: ``start_global`` is the global the round trained from,
        ``new_global`` the settled one; only deltas with an ACCEPTED verdict are used. A round
        already folded in (a restart that settles it again) returns its saved report.
        ``known_ppl`` may hold the held-out perplexities of "base" and "global" that the caller
        measured already (the node does, for its status), so they are not evaluated twice."""
        if round_ <= self.round:
            return self.report(round_)
        state, report = personalize(start_global, new_global, self.state, verdicts, deltas,
                                    lambda s: self._nll(self.selection, s), round_, self.params, self.own)
        known = known_ppl or {}
        if self.base_ppl is None:
            self.base_ppl = known["base"] if "base" in known else math.exp(self._nll(self.held_out, None))
        ppl = {"base": self.base_ppl,
               "global": known["global"] if "global" in known else math.exp(self._nll(self.held_out, new_global)),
               "personal": math.exp(self._nll(self.held_out, state))}
        report = replace(report, ppl=ppl)
        self._write(f"{round_}.json", report.to_json().encode())
        # The adapter last: a restart that finds it also finds its report.
        self._write(f"{round_}.safetensors", encode_delta(state, self.spec, PERSONAL_CODEC))
        self.round, self.state = round_, state
        return report

    def _write(self, name: str, data: bytes) -> None:
        write_atomic(self.dir / name, data)
