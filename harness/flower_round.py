"""The same federation as a Flower one, for benchmarks/round.py's ``round_vs_flower_ratio``.

What a user would pick instead of loraswarm: a Flower server with FedAvg and one Flower client
per peer, on 127.0.0.1 over Flower's gRPC transport, each client a process that loads the real
model and trains through the node's own ``Learner`` (same model, LoRA settings, recipe, data and
seeds as the loraswarm peer it stands for). No chain, no commitments, no validation: the cost of
a round is the slowest client's training plus the transfers. The server times each round from
sending the global to the aggregate.

    python -m harness.flower_round server --port P --clients K --rounds R --out timings.json --task task.json
    python -m harness.flower_round client --port P --config peer.toml
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

# Flower's compatibility API (start_server, start_client) runs a federation without a
# SuperLink; the deprecation warnings it prints are expected.
import flwr.client
import flwr.server
import numpy as np
import torch
from flwr.common import FitIns, FitRes, Parameters, Scalar, ndarrays_to_parameters
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg

from loraswarm.node.config import Behaviour, TrainingSection, load_config
from loraswarm.node.learner import Learner
from loraswarm.protocol.taskspec import TaskSpec


class TimedFedAvg(FedAvg):
    """FedAvg that records each round's wall time, from configuring the fit to the aggregate."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.began: dict[int, float] = {}
        self.seconds: dict[int, float] = {}

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list[tuple[
            ClientProxy, FitIns]]:
        self.began[server_round] = time.monotonic()
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[Any]) -> tuple[Parameters | None, dict[str, Scalar]]:
        out = super().aggregate_fit(server_round, results, failures)
        self.seconds[server_round] = time.monotonic() - self.began[server_round]
        return out


def _initial(task: TaskSpec) -> list[np.ndarray]:
    """The task's initial global adapter (the node's own derivation), as the arrays Flower sends
    (the spec's key order)."""
    learner = Learner(task, TrainingSection(), None)
    state, _data, _hash = learner.initial_global()
    return [state[k].numpy() for k in learner.spec.keys]


def serve(port: int, clients: int, rounds: int, task_file: Path, out: Path) -> None:
    strategy = TimedFedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=clients,
                           min_available_clients=clients, min_evaluate_clients=0,
                           initial_parameters=ndarrays_to_parameters(_initial(TaskSpec.read(task_file))))
    flwr.server.start_server(server_address=f"127.0.0.1:{port}", strategy=strategy,
                             config=flwr.server.ServerConfig(num_rounds=rounds))
    out.write_text(json.dumps({"round_s": strategy.seconds}))


class PeerClient(flwr.client.NumPyClient):
    """One peer's training, as the loraswarm node would run it (its Learner, config and seeds)."""

    def __init__(self, learner: Learner) -> None:
        self.learner = learner
        self.round = 0

    def fit(self, parameters: list[np.ndarray], config: dict[str, Scalar]) -> tuple[list[np.ndarray], int, dict[
            str, Scalar]]:
        keys = self.learner.spec.keys
        start = {k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in zip(keys, parameters, strict=True)}
        trained = self.learner.train(start, self.round, Behaviour.HONEST)
        self.round += 1
        # FedAvg averages parameters: send the trained adapter, weighted by its tokens.
        return [(start[k] + trained.delta[k]).numpy() for k in keys], trained.stats.tokens, {}


def run_client(port: int, config_file: Path) -> None:
    config = load_config(config_file)
    learner = Learner(TaskSpec.read(config.chain.task_file), config.training, None)
    learner.load_data()
    flwr.client.start_client(server_address=f"127.0.0.1:{port}", client=PeerClient(learner).to_client(),
                             insecure=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--clients", type=int, required=True)
    server.add_argument("--rounds", type=int, required=True)
    server.add_argument("--task", type=Path, required=True)
    server.add_argument("--out", type=Path, required=True)
    client = sub.add_parser("client")
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    if args.role == "server":
        serve(args.port, args.clients, args.rounds, args.task, args.out)
    else:
        run_client(args.port, args.config)


if __name__ == "__main__":
    main()
