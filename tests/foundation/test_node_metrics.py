"""What an operator's Prometheus scrapes from a node besides its work: process metrics, the
connected peers, the chain head's lag, and the edge's verdicts as counters, on the host the
config names."""

from __future__ import annotations

import math
import re
import urllib.request

from loraswarm.node.metrics import NodeMetrics
from loraswarm.protocol.codes import Reason
from tests.support import free_port


def test_operator_metrics_on_every_interface() -> None:
    metrics = NodeMetrics()
    peers = [3]
    metrics.watch(lambda: peers[0], lambda: 2.5)
    metrics.edge_verdicts.labels(reason=Reason.BAD_SIGNATURE.name).set(4)
    metrics.edge_verdicts.labels(reason=Reason.BAD_SIGNATURE.name).set(7)  # the edge's running total
    port = free_port()
    metrics.serve(port, "0.0.0.0")

    def scrape() -> str:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

    text = scrape()
    assert "loraswarm_connected_peers 3.0" in text
    assert "loraswarm_chain_head_lag_seconds 2.5" in text
    assert re.search(r"# TYPE loraswarm_edge_verdicts(_total)? counter", text)
    assert 'loraswarm_edge_verdicts_total{reason="BAD_SIGNATURE"} 7.0' in text
    assert re.search(r"process_resident_memory_bytes \d", text) and "process_cpu_seconds_total" in text
    peers[0] = 5
    assert "loraswarm_connected_peers 5.0" in scrape()  # read at each scrape


def test_head_lag_is_nan_while_the_chain_does_not_answer() -> None:
    metrics = NodeMetrics()
    metrics.watch(lambda: 0, lambda: math.nan)
    port = free_port()
    metrics.serve(port)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "loraswarm_chain_head_lag_seconds NaN" in text
