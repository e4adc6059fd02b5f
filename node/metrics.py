"""Per-node Prometheus metrics, served on /metrics when the config gives a port."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from loraswarm.protocol.codes import Reason


@dataclass
class NodeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.rounds = Counter("loraswarm_rounds", "Rounds this node took part in, by outcome", ["outcome"], registry=r)
        self.verdicts = Counter("loraswarm_verdicts", "Validation verdicts by reason code", ["reason"], registry=r)
        self.edge_verdicts = Gauge("loraswarm_edge_verdicts", "Gossip messages and blob fetches judged at the edge",
                                   ["reason"], registry=r)
        self.bytes_in = Counter("loraswarm_bytes_in", "Blob bytes fetched from peers", registry=r)
        self.train_tokens_per_s = Gauge("loraswarm_train_tokens_per_s", "Tokens/s of the last training run",
                                        registry=r)
        self.gas_spent = Counter("loraswarm_gas_spent", "Gas used by this node's transactions", registry=r)
        self.rewards = Counter("loraswarm_rewards_claimed", "Reward token units claimed", registry=r)
        self.ppl = Gauge("loraswarm_heldout_ppl", "Held-out perplexity on this node's own data", ["adapter"],
                         registry=r)
        self.phase = Gauge("loraswarm_round", "Round this node is working on", registry=r)

    def verdict(self, reason: Reason) -> None:
        self.verdicts.labels(reason=reason.name).inc()

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
