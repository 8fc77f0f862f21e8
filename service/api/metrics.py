"""Prometheus metrics, one registry per app (no global state), as plain ASGI middleware.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``exim-ledger serve --workers N`` sets it), every
worker writes its samples to files there and a scrape, whichever worker answers it, sums
them all: prometheus_client's multiprocess mode. Values read at scrape time (projection
lag) come from the database, so they are the same whichever worker is asked."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as mp
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# short phases: reading a body, an idempotency lookup, deciding and committing a write
WRITE_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry()
        self.live = CollectorRegistry(auto_describe=False)  # read at scrape time
        self.requests = Counter(
            "ledger_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ledger_http_request_seconds", "HTTP request latency", ["method", "route"],
            registry=self.registry,
        )
        self.appended = Counter(
            "ledger_events_appended", "Events appended", registry=self.registry,
        )
        self.write_phase = Histogram(
            "ledger_write_phase_seconds", "Time in each phase of a write request: read_body, "
            "record (an Idempotency-Key lookup, decide, group commit, snapshots)", ["phase"],
            buckets=WRITE_BUCKETS, registry=self.registry,
        )
        self.written = Histogram(
            "ledger_write_events", "Events recorded by one write request", ["route"],
            buckets=(1, 2, 5, 10, 50, 100, 500, 1000), registry=self.registry,
        )
        self.refusals = Counter(
            "ledger_refusals", "Writes refused to an authenticated key, by problem code",
            ["code"], registry=self.registry,
        )
        self.refusals_dropped = Counter(
            "ledger_refusals_dropped", "Refusals not stored: the queue was full "
            "(queue_full), the store failed (store_failed) or the refusal could not be read "
            "(error)", ["reason"], registry=self.registry,
        )

    def drop_refusals(self, reason: str, count: int = 1) -> None:
        self.refusals_dropped.labels(reason).inc(count)

    def watch(self, collector: Collector) -> None:
        """A collector whose values are read at each scrape (e.g. from the database)."""
        self.live.register(collector)

    def exposition(self) -> bytes:
        """The text a scrape gets: every worker's samples summed, and the live values."""
        if self.multiprocess_dir:
            merged = CollectorRegistry()
            mp.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return generate_latest(merged) + generate_latest(self.live)
        return generate_latest(self.registry) + generate_latest(self.live)

    def close(self) -> None:
        """This process stops: its live gauges (if any) no longer count."""
        if self.multiprocess_dir:
            mp.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


class ProjectionLag:
    """``ledger_projection_lag_events{projection}``: the log's head minus each
    projection's position, read from the database at scrape time."""

    def __init__(self, head: Callable[[], int],
                 positions: Callable[[], list[dict[str, Any]]]) -> None:
        self.head = head
        self.positions = positions

    def collect(self) -> Iterator[Metric]:
        head = self.head()
        lag = GaugeMetricFamily("ledger_projection_lag_events",
                                "Events in the log not yet applied by the projection",
                                labels=["projection"])
        for row in self.positions():
            lag.add_metric([row["name"]], max(head - int(row["position"]), 0))
        yield lag


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], path).observe(
                time.perf_counter() - start)
