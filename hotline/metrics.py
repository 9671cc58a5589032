"""Prometheus metrics, one registry per application (tests build many apps).

The media node's figures (rooms, participants, capacity, load) are read from
``media.RoomManager.load()`` when /metrics is scraped, by a custom collector, so they are
never stale and nothing has to keep gauges in step with rooms opening and closing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from media.manager import NodeLoad


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "hotline_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "hotline_http_request_seconds",
            "HTTP request handling time",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.signin_failures = Counter(
            "hotline_signin_failures_total",
            "Refused staff sign-ins (wrong password or throttled)",
            ["reason"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "hotline_refusals_total",
            "Requests refused by an abuse limit or the WebSocket origin check",
            ["reason"],
            registry=self.registry,
        )
        self.signin_checks = Gauge(
            "hotline_signin_checks_in_progress",
            "Sign-in password checks running or waiting for the argon2 thread pool",
            registry=self.registry,
        )
        self.ready = Gauge(
            "hotline_ready",
            "1 when the database (and Redis, if configured) answer",
            registry=self.registry,
        )

    def refused(self, reason: str) -> None:
        """Count one refusal (``sockets_per_address``, ``caller_tokens_per_address``,
        ``origin``, or what the signaling node refuses)."""
        self.refusals.labels(reason).inc()

    def watch_media(self, load: Callable[[], NodeLoad]) -> None:
        """Report this media node's capacity and load on every scrape."""
        self.registry.register(MediaCollector(load))


class MediaCollector(Collector):
    """``hotline_media_*``: one sample per family, labelled with the media node's id."""

    def __init__(self, load: Callable[[], NodeLoad]) -> None:
        self._load = load

    def describe(self) -> list[Metric]:
        # Declared without calling load(): registering must not take a CPU sample.
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._load())

    @staticmethod
    def _families(load: NodeLoad | None) -> Iterator[Metric]:
        labels = ["node"]
        gauges: list[tuple[str, str, float | None]] = [
            ("rooms", "Media rooms open on this node", None if load is None else load.rooms),
            (
                "participants",
                "Participants in this node's media rooms",
                None if load is None else load.participants,
            ),
            (
                "capacity_rooms",
                "Recorded three-party rooms this node is sized for (bench/media.py)",
                None if load is None else load.capacity_rooms,
            ),
            ("load", "Rooms / capacity (1 = full)", None if load is None else load.load),
            (
                "cpu_percent",
                "Process CPU, % of one core, since the previous scrape",
                None if load is None else load.cpu_percent,
            ),
        ]
        for name, doc, value in gauges:
            family = GaugeMetricFamily(f"hotline_media_{name}", doc, labels=labels)
            if load is not None and value is not None:
                family.add_metric([load.node_id], value)
            yield family
        counter = CounterMetricFamily(
            "hotline_media_forwarded_packets",
            "Encoded packets forwarded by this node's rooms",
            labels=labels,
        )
        if load is not None:
            counter.add_metric([load.node_id], load.forwarded_packets)
        yield counter
