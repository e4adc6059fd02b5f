"""A flood of 1,000 messages/s from one registered peer over the real p2p stack: gossip's
per-peer rate limit drops most of it before validation, the rest is refused at the edge, honest
announcements sent during the flood all arrive, and the receiver's memory stays flat."""

from pathlib import Path

import pytest

from tests.reliability.flood_scenario import RATE, run_flood

pytestmark = pytest.mark.e2e

RSS_GROWTH_MB = 40


def test_one_peer_flooding_1000_messages_per_second_is_contained(tmp_path: Path) -> None:
    run = run_flood(tmp_path)
    print(f"flood: {run.sent} messages in {run.seconds:.1f} s; {run.refused_at_edge} reached the edge and were "
          f"refused; rss {run.rss_before_mb} -> {run.rss_after_mb} MB")
    assert run.sent / run.seconds >= 0.8 * RATE  # the flood really ran at ~1,000/s
    assert run.honest_accepted == run.honest_sent and run.foreign_delivered == 0
    assert run.refused_at_edge < run.sent / 2  # most of the flood never reached validation
    assert run.rss_after_mb < run.rss_before_mb + RSS_GROWTH_MB
    assert run.all_alive
