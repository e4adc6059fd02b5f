"""Wall time of one full round on a real local network, split into phases.

Real peer processes (the real model, fortunes data, anvil, the contracts) run rounds; each node
records the seconds of work it spent per phase (train, encode, commit, gossip+fetch,
validate+aggregate, attest, claim, evaluate). The round's protocol overhead is everything but
training: ``non_train_fraction = (round_s - train_s) / round_s`` for the node where it is largest
(a validator that also trains), where ``round_s`` sums its protocol phases. Held-out evaluation is
monitoring, not protocol, and is reported on its own. Time spent waiting for a window to close is
not work and is not counted: windows are deadlines the task sets.

    python benchmarks/round.py [--quick]     # last line: one JSON object
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from rich.console import Console

from loraswarm.demo.run import DemoConfig, run_network
from loraswarm.evm.tasks import TaskTerms

PROTOCOL = ("train", "encode", "commit", "gossip+fetch", "validate+aggregate", "attest", "claim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 peers, 1 round, few steps (about a minute)")
    args = parser.parse_args()
    if args.quick:
        config = DemoConfig(peers=3, rounds=1, validators=2, steps=4, batch_size=2, seq_len=32, eval_records=4,
                            terms=TaskTerms(commit_s=15, reveal_s=5, attest_s=10, start_delay_s=14))
    else:
        config = DemoConfig(peers=4, rounds=2, validators=2, steps=10, batch_size=4, seq_len=64,
                            terms=TaskTerms(commit_s=120, reveal_s=15, attest_s=30, start_delay_s=45))
    console = Console(width=160)
    with tempfile.TemporaryDirectory(prefix="loraswarm-round-") as tmp:
        run = run_network(DemoConfig(**{**config.__dict__, "workdir": Path(tmp)}), console)
    if any(code != 0 for code in run.exit_codes.values()):
        raise SystemExit(f"a peer failed: {run.exit_codes}")
    last = str(config.rounds - 1)
    per_node = {}
    for name, status in run.statuses.items():
        spent = status.timings.get(last, {})
        per_node[name] = {k: round(v, 3) for k, v in spent.items()}
    def overhead(name: str) -> float:
        spent = per_node[name]
        total = sum(spent.get(p, 0.0) for p in PROTOCOL)
        return (total - spent.get("train", 0.0)) / total if total else 0.0

    busiest = max(per_node, key=overhead)  # the worst case: a validator that also trains
    phases = per_node[busiest]
    round_s = sum(phases.get(p, 0.0) for p in PROTOCOL)
    train_s = phases.get("train", 0.0)
    for name, spent in sorted(per_node.items()):
        console.print(f"{name:<6} " + "  ".join(f"{k} {v:.2f}s" for k, v in spent.items()))
    result = {
        "round_s": round(round_s, 3), "train_s": round(train_s, 3),
        "non_train_fraction": round((round_s - train_s) / round_s, 4) if round_s else None,
        "phases": {p: phases.get(p, 0.0) for p in PROTOCOL}, "evaluate_s": phases.get("evaluate", 0.0),
        "node": busiest, "peers": config.peers, "round": int(last), "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
