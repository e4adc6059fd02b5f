"""Per-node Prometheus metrics, served on /metrics when the config gives a port: the node's work
(rounds, verdicts, gas, rewards, perplexity), what an operator watches a process for (CPU, memory,
open files), its connected peers, how far the chain's head lags the clock, and the edge's verdicts
on gossip and blob fetches as counters per reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from loraswarm.protocol.codes import Reason


class RunningTotals(Collector):
    """A counter per label value whose totals someone else keeps (the p2p edge counts its
    verdicts; the reporter copies the running totals here): ``labels(reason=...).set(total)``."""

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.totals: dict[str, float] = {}

    @dataclass
    class _Child:
        totals: dict[str, float]
        value: str

        def set(self, total: float) -> None:
            self.totals[self.value] = total

    def labels(self, **values: str) -> RunningTotals._Child:
        return RunningTotals._Child(self.totals, values[self.label])

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, total in sorted(self.totals.items()):
            family.add_metric([value], total)
        yield family


@dataclass
class NodeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        PlatformCollector(registry=r)
        self.rounds = Counter("loraswarm_rounds", "Rounds this node took part in, by outcome", ["outcome"], registry=r)
        self.verdicts = Counter("loraswarm_verdicts", "Validation verdicts by reason code", ["reason"], registry=r)
        self.edge_verdicts = RunningTotals("loraswarm_edge_verdicts",
                                           "Gossip messages and blob fetches judged at the edge, by reason", "reason")
        r.register(self.edge_verdicts)
        self.bytes_in = Counter("loraswarm_bytes_in", "Blob bytes fetched from peers", registry=r)
        self.train_tokens_per_s = Gauge("loraswarm_train_tokens_per_s", "Tokens/s of the last training run",
                                        registry=r)
        self.gas_spent = Counter("loraswarm_gas_spent", "Gas used by this node's transactions", registry=r)
        self.rewards = Counter("loraswarm_rewards_claimed", "Reward token units claimed", registry=r)
        self.ppl = Gauge("loraswarm_heldout_ppl", "Held-out perplexity on this node's own data", ["adapter"],
                         registry=r)
        self.phase = Gauge("loraswarm_round", "Round this node is working on", registry=r)
        self.peers = Gauge("loraswarm_connected_peers", "Peers this node holds a libp2p connection to", registry=r)
        self.head_lag = Gauge("loraswarm_chain_head_lag_seconds",
                              "Seconds between now and the chain's latest block (NaN: chain unreachable)", registry=r)

    def verdict(self, reason: Reason) -> None:
        self.verdicts.labels(reason=reason.name).inc()

    def watch(self, peers: Callable[[], int], head_lag_s: Callable[[], float]) -> None:
        """Read the connected peers and the chain's head lag when scraped."""
        self.peers.set_function(peers)
        self.head_lag.set_function(head_lag_s)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
