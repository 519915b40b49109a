"""Prometheus metrics of one server: requests and latencies by route, and the state of each catalog's index.

Each app has its own CollectorRegistry, so several apps in one process (tests) never share counters.
Requests are labelled by route template (`/tracks/{track_id}`), never by raw path, to keep the
number of series bounded whatever clients send.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from musiscene_core.serve.catalogs import CatalogRegistry

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, catalogs: CatalogRegistry):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "musiscene_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "musiscene_http_request_duration_seconds",
            "Time to answer a request (to the first byte of the body for streamed audio).",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_IndexCollector(catalogs))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware counting every HTTP response by method, route template and status."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = _route_label(scope)
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)
                self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            await send(message)

        await self.app(scope, receive, send_and_record)


def _route_label(scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class _IndexCollector:
    """Read at scrape time, so the numbers always describe the indexes being served now."""

    def __init__(self, catalogs: CatalogRegistry):
        self._catalogs = catalogs

    def collect(self):
        rows = GaugeMetricFamily("musiscene_index_rows", "Tracks in the served index.", labels=["catalog"])
        versions = GaugeMetricFamily(
            "musiscene_index_model_version_info",
            "Model versions whose captions the served index holds (value 1).",
            labels=["catalog", "model_version"],
        )
        loaded = GaugeMetricFamily(
            "musiscene_index_loaded_timestamp_seconds", "When the served index was loaded.", labels=["catalog"]
        )
        for catalog in self._catalogs.catalogs():
            rows.add_metric([catalog.name], len(catalog.index))
            loaded.add_metric([catalog.name], catalog.loaded_at)
            for version in catalog.index.info.model_versions:
                versions.add_metric([catalog.name, version], 1)
        reloads = CounterMetricFamily(
            "musiscene_index_reloads",
            "Rebuilt indexes swapped in, or kept out after a failed load.",
            labels=["catalog", "outcome"],
        )
        for (name, outcome), count in sorted(self._catalogs.reloads.items()):
            reloads.add_metric([name, outcome], count)
        yield from (rows, versions, loaded, reloads)
