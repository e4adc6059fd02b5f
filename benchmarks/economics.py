"""Economics of the incentive design on the real contracts.

Runs the simulation (incentives/sim): N peers with honest, free-riding and attacking strategies
and validators (two attest without validating: a lazy one guesses, a copier copies the latest
attestation on chain) over many rounds on a local anvil chain
(or the embedded one), every reward claimed and every slash executed on chain with Merkle
proofs. Prints profit per strategy and gas per round, then the gas of one round against N, and
ends with one JSON line.

The verdicts come from consensus's validation pipeline (the JSON's top-level keys). The same
deltas are then judged by the simulation's stand-in pipeline, which adds a one-sided-shift test
against ALIE; its figures are under the "standin" key.

The free riders include, besides the naive ones (no-show, zero, copycat, noise), the mimicking
free riders of Fraboni et al. (AISTATS 2021): the last global change rescaled plus noise, the
trend of the last three, the mimic mixed with a cheap training of its own, and that one claiming
10,000 samples (harness/sim/strategies.py). Every free-rider strategy must earn <= 0.

Reputation (incentives/reputation.py) is on unless --no-reputation, and the peers include one
Sybil operator (four identities at a time, each replaced by a fresh one every round, all claiming
the operator's one dataset) and a slow poisoner (honest for half the rounds, then the scaling
attack). Their profit is printed next to the smallest honest profit: the Sybil operator's is the
sum over all its identities. --no-reputation runs the same peers without it, the baseline.

    python benchmarks/economics.py [--quick] [--engine anvil|embedded] [--rounds R] [--no-reputation]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness/ and tests/ live in the source tree

from web3 import EthereumTesterProvider, HTTPProvider, Web3

from harness.sim.chain import SimChain, open_sim_chain
from harness.sim.report import gas_table, profit_table, reputation_figures, summary
from harness.sim.run import REPUTATION_PEERS, SimConfig, SimResult, gas_by_n, run_simulation
from harness.sim.strategies import Strategy
from loraswarm.evm.localchain import start_chain, stop_chain
from loraswarm.incentives.reputation import ReputationParams

PORTS = range(8650, 8700)
# The run's peers: the reputation run's, plus one of each mimicking free rider.
PEERS = (*REPUTATION_PEERS, Strategy.MIMIC, Strategy.MIMIC_HISTORY, Strategy.MIMIC_MIXED, Strategy.INFLATED)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 8650-8699 for anvil")


def _simulate(chain: SimChain, config: SimConfig) -> SimResult:
    started = time.monotonic()
    result = run_simulation(chain, config)
    validators = config.honest_validators + config.lazy_validators + config.copying_validators
    print(f"[{config.pipeline} pipeline] {config.rounds} rounds x {len(config.peers)} peers + {validators} "
          f"validators in {time.monotonic() - started:.1f} s ({len(result.gas)} transactions)")
    print("cumulative profit per account, whole tokens (rewards - slashes - stake cost):")
    print(profit_table(result))
    rep = reputation_figures(result)
    print(f"reputation {'on' if rep['reputation'] else 'off'}: honest profit min {rep['honest_profit_min']:.2f}, "
          f"Sybil operator {rep['sybil_operator_profit']:.2f} ({rep['sybil_slots']} identities at a time, "
          f"{rep['sybil_identities']} in all), slow poisoner {rep['slow_poison_profit_max']:.2f} "
          f"(attacks from round {rep['poison_from']})\n")
    return result


def _measure(chain: SimChain, config: SimConfig, ns: tuple[int, ...]) -> dict[str, object]:
    result = _simulate(chain, config)
    by_n = gas_by_n(chain, ns, config)
    print(gas_table(result, by_n), "\n")
    standin = summary(_simulate(chain, replace(config, pipeline="standin")), by_n)
    comparison = {k: standin[k] for k in ("honest_profit_min", "free_rider_profit_max", "attacker_profit_max",
                                          "lazy_validator_vs_honest", "copying_validator_vs_honest",
                                          "profit_by_strategy", "sybil_operator_profit", "slow_poison_profit_max")}
    return {**summary(result, by_n), "pipeline": config.pipeline, "standin": comparison}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, under a minute")
    parser.add_argument("--engine", choices=("anvil", "embedded"), default="anvil")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-reputation", action="store_true", help="the baseline: rewards split by score alone")
    args = parser.parse_args()
    config = SimConfig(rounds=args.rounds or (5 if args.quick else 50), peers=PEERS,
                       reputation=None if args.no_reputation else ReputationParams())
    ns = (4, 16) if args.quick else (4, 8, 16, 32, 64)
    if args.engine == "embedded":
        w3 = Web3(EthereumTesterProvider())
        figures = _measure(open_sim_chain(w3, "embedded", None), config, ns)
    else:
        with tempfile.TemporaryDirectory(prefix="loraswarm-econ-") as state:
            record = start_chain("anvil", _free_port(), Path(state))
            try:
                w3 = Web3(HTTPProvider(record.rpc_url))
                figures = _measure(open_sim_chain(w3, "local", record.rpc_url), config, ns)
            finally:
                stop_chain(Path(state))
    figures["engine"] = args.engine
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
