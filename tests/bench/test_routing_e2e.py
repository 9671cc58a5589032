"""The offer-latency benchmark: python-websockets clients against the real server."""

from __future__ import annotations

from bench import routing_e2e


class TestOfferLatencyBench:
    def test_runs_small_with_an_independent_client(self) -> None:
        """Agents on python-websockets sign in, are offered sessions and withdraw over
        the real signaling app on a TCP port; the bench reports its figures."""
        result = routing_e2e.run(
            "memory", None, agents=4, sessions=12, queues=3, tiers=1, samples=8, warmup=2
        )
        assert result["samples"] >= 8
        assert result["agents"] == 4
        assert 0 < result["p50_ms"] <= result["max_ms"]
