"""What the ledger shows, computed from indexed chain events (and, where given, round result
documents that validators published: they add each update's verdict and reason code, and are
only used after their roots match the round's finalized tuple on chain). Reputation
(incentives/reputation.py) is folded from those verified verdicts alone, so it is known only
where result documents are given, and exact when every finalized round's is."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loraswarm.errors import NotFound
from loraswarm.evm.rpc import check_address
from loraswarm.incentives.reputation import ReputationParams, known_verdicts, reputation_series
from loraswarm.node.ledger.index import LedgerIndex
from loraswarm.node.round_result import ResultMismatch, RoundResult
from loraswarm.protocol.chain import ABSENCE_REASON, DISSENT_REASON
from loraswarm.protocol.codes import Reason


def reason_name(code: int) -> str:
    if code == DISSENT_REASON:
        return "DISSENT"
    if code == ABSENCE_REASON:
        return "ABSENT"
    try:
        return Reason(code).name
    except ValueError:
        return f"REASON_{code}"


@dataclass
class PeerRow:
    account: str
    roles: list[str] = field(default_factory=list)
    peer_stake: int = 0
    validator_stake: int = 0
    commits: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    attestations: int = 0
    rewards_claimed: int = 0
    rounds_paid: int = 0
    slashed: int = 0
    slash_reasons: dict[str, int] = field(default_factory=dict)
    reputation: int | None = None  # ppm, after the last verified round; None: no verified verdict of it


@dataclass
class RoundRow:
    round: int
    status: str = "open"
    commits: int = 0
    attestations: int = 0
    accepted: int | None = None  # from verified round results, when given
    rejected: int | None = None
    paid: int = 0  # committers that claimed a reward (chain events alone)
    unpaid: int = 0
    pool: int = 0
    claimed: int = 0
    slashed: int = 0
    global_hash: str = ""


@dataclass
class ReputationPoint:
    round: int
    account: str
    reputation: int  # ppm, after this round


@dataclass
class Entry:
    """One account in one round."""

    round: int
    account: str
    committed: bool = False
    verdict: str = ""
    attested: bool = False
    reward: int = 0
    slashed: int = 0
    slash_reason: str = ""
    txs: list[str] = field(default_factory=list)  # its transactions in the round (commit, attest, claim, ...)


@dataclass
class SlashRow:
    round: int
    account: str
    amount: int
    reason: str
    tx: str


def load_results(index: LedgerIndex, task: int, dirs: list[Path]) -> dict[int, RoundResult]:
    """Round result documents from node data dirs (``results/<round>.json``) that match the chain."""
    finalized = {e.round: e.args for e in index.events("RoundFinalized", task)}
    results: dict[int, RoundResult] = {}
    for directory in dirs:
        for path in sorted((directory / "results").glob("*.json")):
            try:
                result = RoundResult.decode(path.read_bytes())
                args = finalized.get(result.round)
                if args is None or result.task_id != task:
                    continue
                roots = tuple(bytes.fromhex(args[k][2:]) for k in ("acceptedRoot", "globalHash", "rewardsRoot",
                                                                   "slashRoot"))
                result.check((*roots, int(args["peerPool"])))  # type: ignore[arg-type]
            except ResultMismatch:
                continue
            results[result.round] = result
    return results


class Ledger:
    def __init__(self, index: LedgerIndex, task: int, result_dirs: list[Path] | None = None) -> None:
        self.index = index
        self.task = task
        self.result_dirs = result_dirs or []
        self.results: dict[int, RoundResult] = {}
        self.reputation_params = ReputationParams()

    def entries(self) -> list[Entry]:
        table: dict[tuple[int, str], Entry] = {}

        def entry(round_: int, account: str) -> Entry:
            key = (round_, account.lower())
            if key not in table:
                table[key] = Entry(round_, account.lower())
            return table[key]

        for e in self.index.events(task=self.task):
            if e.account is None or e.round is None:
                continue
            if e.tx not in (row := entry(e.round, e.account)).txs:
                row.txs.append(e.tx)
            if e.name == "UpdateCommitted":
                entry(e.round, e.account).committed = True
            elif e.name == "Attested":
                entry(e.round, e.account).attested = True
            elif e.name in ("RewardClaimed", "ValidatorRewardClaimed"):
                entry(e.round, e.account).reward += int(e.args["amount"])
            elif e.name == "SlashExecuted":
                row = entry(e.round, e.account)
                row.slashed += int(e.args["amount"])
                row.slash_reason = reason_name(int(e.args["reason"]))
        for round_, result in self.results.items():
            for v in result.verdicts:
                entry(round_, v.peer).verdict = reason_name(v.reason)
        return sorted(table.values(), key=lambda x: (x.round, x.account))

    def peers(self) -> list[PeerRow]:
        rows: dict[str, PeerRow] = {}

        def row(account: str) -> PeerRow:
            return rows.setdefault(account.lower(), PeerRow(account.lower()))

        for e in self.index.events(task=self.task):
            if e.name == "PeerRegistered":
                r = row(e.args["account"])
                r.roles.append("peer")
                r.peer_stake = int(e.args["stake"])
            elif e.name == "ValidatorRegistered":
                r = row(e.args["account"])
                r.roles.append("validator")
                r.validator_stake = int(e.args["stake"])
        for x in self.entries():
            r = row(x.account)
            r.commits += x.committed
            r.attestations += x.attested
            r.rewards_claimed += x.reward
            r.rounds_paid += x.reward > 0
            r.slashed += x.slashed
            if x.slash_reason:
                r.slash_reasons[x.slash_reason] = r.slash_reasons.get(x.slash_reason, 0) + 1
            if x.verdict == "ACCEPTED":
                r.accepted += 1
            elif x.verdict:
                r.rejected[x.verdict] = r.rejected.get(x.verdict, 0) + 1
        for point in self.reputation_series():  # in round order: the last point is the current one
            row(point.account).reputation = point.reputation
        return sorted(rows.values(), key=lambda r: r.account)

    def reputation_series(self) -> list[ReputationPoint]:
        """Every peer's reputation after each verified round, in round then account order."""
        rounds = [(r, known_verdicts((v.peer, v.reason) for v in result.verdicts))
                  for r, result in self.results.items()]
        return [ReputationPoint(*p) for p in reputation_series(rounds, self.reputation_params)]

    def rounds(self) -> list[RoundRow]:
        rows: dict[int, RoundRow] = defaultdict(lambda: RoundRow(-1))
        for e in self.index.events(task=self.task):
            if e.round is None:
                continue
            r = rows[e.round]
            r.round = e.round
            if e.name == "UpdateCommitted":
                r.commits += 1
            elif e.name == "Attested":
                r.attestations += 1
            elif e.name == "RoundFinalized":
                r.status, r.global_hash = "finalized", e.args["globalHash"]
                r.pool = int(e.args["peerPool"]) + int(e.args["validatorPool"])
            elif e.name == "RoundFailed":
                r.status = "failed"
            elif e.name in ("RewardClaimed", "ValidatorRewardClaimed"):
                r.claimed += int(e.args["amount"])
            elif e.name == "SlashExecuted":
                r.slashed += int(e.args["amount"])
        for x in self.entries():
            if x.committed and x.round in rows:
                rows[x.round].paid += x.reward > 0
                rows[x.round].unpaid += x.reward == 0
        for round_, result in self.results.items():
            if round_ in rows:
                rows[round_].accepted = sum(v.reason == Reason.ACCEPTED for v in result.verdicts)
                rows[round_].rejected = len(result.verdicts) - rows[round_].accepted  # type: ignore[operator]
        return [rows[k] for k in sorted(rows)]

    def slashes(self) -> list[SlashRow]:
        """Every executed slash, in chain order: peers' slash leaves and validators' slashes."""
        return [SlashRow(e.round, e.account, int(e.args["amount"]), reason_name(int(e.args["reason"])), e.tx)
                for e in self.index.events("SlashExecuted", self.task) if e.round is not None and e.account]

    def check_task(self) -> None:
        """NotFound unless the task exists on the deployment."""
        if next(self.index.events("TaskCreated", self.task), None) is None:
            made = sorted(e.task for e in self.index.events("TaskCreated") if e.task is not None)
            known = f"tasks {made[0]}..{made[-1]}" if made else "no task yet"
            raise NotFound(f"task {self.task} does not exist on this deployment ({known}): pass --task N")

    def peer(self, account: str) -> list[Entry]:
        """One account's rows; BadAddress for a text that is no address, NotFound for an account
        that never registered in the task."""
        check_address(account)
        self.check_task()
        if account.lower() not in {r.account for r in self.peers()}:
            raise NotFound(f"{account} never registered in task {self.task}: `loraswarm ledger peers` lists the "
                           "accounts that did")
        return [e for e in self.entries() if e.account == account.lower()]

    def round(self, round_: int) -> list[Entry]:
        """One round's rows; NotFound for a round without any event yet."""
        self.check_task()
        known = [r.round for r in self.rounds()]
        if round_ not in known:
            seen = f"rounds {known[0]}..{known[-1]} have" if known else "no round has"
            raise NotFound(f"round {round_} of task {self.task} has no events ({seen}): `loraswarm ledger rounds` "
                           "lists them")
        return [e for e in self.entries() if e.round == round_]


def as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
