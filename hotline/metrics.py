"""Prometheus metrics, one registry per application (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.ready = Gauge(
            "hotline_ready",
            "1 when the database (and Redis, if configured) answer",
            registry=self.registry,
        )
