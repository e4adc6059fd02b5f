"""The node's Prometheus endpoint serves its counters."""

from __future__ import annotations

import urllib.request

from loraswarm.node.metrics import NodeMetrics
from loraswarm.protocol.codes import Reason
from tests.support import free_port


def test_metrics_endpoint_serves_counters() -> None:
    metrics = NodeMetrics()
    metrics.verdict(Reason.ZERO_UPDATE)
    metrics.verdict(Reason.ACCEPTED)
    metrics.verdict(Reason.ACCEPTED)
    metrics.gas_spent.inc(38_939)
    metrics.ppl.labels(adapter="global").set(66.3)
    port = free_port()
    metrics.serve(port)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'loraswarm_verdicts_total{reason="ACCEPTED"} 2.0' in text
    assert 'loraswarm_verdicts_total{reason="ZERO_UPDATE"} 1.0' in text
    assert "loraswarm_gas_spent_total 38939.0" in text
    assert 'loraswarm_heldout_ppl{adapter="global"} 66.3' in text
