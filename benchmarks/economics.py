"""Economics of the incentive design on the real contracts.

Runs the simulation (incentives/sim): N peers with honest, free-riding and attacking strategies
and validators (one lazy: attests without validating) over many rounds on a local anvil chain
(or the embedded one), every reward claimed and every slash executed on chain with Merkle
proofs. Prints profit per strategy and gas per round, then finalize gas for rounds of N peers,
and ends with one JSON line (see /work/shared/BENCHMARKS.md).

    python benchmarks/economics.py [--quick] [--engine anvil|embedded] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

from web3 import EthereumTesterProvider, HTTPProvider, Web3

from loraswarm.incentives.sim.chain import SimChain, open_sim_chain
from loraswarm.incentives.sim.report import gas_table, profit_table, summary
from loraswarm.incentives.sim.run import SimConfig, gas_by_n, run_simulation
from loraswarm.scripts.localchain import start_chain, stop_chain

PORTS = range(8650, 8700)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 8650-8699 for anvil")


def _measure(chain: SimChain, config: SimConfig, ns: tuple[int, ...]) -> dict[str, object]:
    started = time.monotonic()
    result = run_simulation(chain, config)
    sim_s = time.monotonic() - started
    by_n = gas_by_n(chain, ns, config)
    print(f"{config.rounds} rounds x {len(config.peers)} peers + "
          f"{config.honest_validators + config.lazy_validators} validators in {sim_s:.1f} s "
          f"({len(result.gas)} transactions)\n")
    print("cumulative profit per account, whole tokens (rewards - slashes - stake cost):")
    print(profit_table(result), "\n")
    print(gas_table(result, by_n), "\n")
    return {**summary(result, by_n), "sim_s": round(sim_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, under a minute")
    parser.add_argument("--engine", choices=("anvil", "embedded"), default="anvil")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    config = SimConfig(rounds=args.rounds or (10 if args.quick else 50))
    ns = (4, 8, 16) if args.quick else (4, 8, 16, 32, 64)
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
