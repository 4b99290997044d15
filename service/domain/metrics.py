"""Prometheus metrics (prometheus_client), one registry per app so several apps can live in a process."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _StateCollector(Collector):
    """Values read at scrape time: snapshot sizes per collection, jobs by state, readiness."""

    def __init__(self, statuses: Callable[[], list[dict]], job_counts: Callable[[], dict[str, int]]) -> None:
        self.statuses, self.job_counts = statuses, job_counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        paragraphs = GaugeMetricFamily("notesqa_snapshot_paragraphs", "Paragraphs in the served snapshot",
                                       labels=["collection"])
        documents = GaugeMetricFamily("notesqa_snapshot_documents", "Documents in the served snapshot",
                                      labels=["collection"])
        ready = GaugeMetricFamily("notesqa_collection_ready", "1 when the collection is being served",
                                  labels=["collection", "state"])
        try:
            statuses = self.statuses()
        except Exception:
            statuses = []
        for status in statuses:
            paragraphs.add_metric([status["name"]], status.get("paragraphs") or 0)
            documents.add_metric([status["name"]], status.get("documents") or 0)
            ready.add_metric([status["name"], status["state"]], 1.0 if status["state"] in ("ready", "empty") else 0.0)
        yield paragraphs
        yield documents
        yield ready
        jobs = GaugeMetricFamily("notesqa_jobs", "Indexing jobs on record, by state", labels=["state"])
        try:
            counts = self.job_counts()
        except Exception:
            counts = {}
        for state, count in counts.items():
            jobs.add_metric([state], count)
        yield jobs


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("notesqa_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("notesqa_request_seconds", "HTTP request latency by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rejected = Counter("notesqa_rejected", "Requests refused before reaching a handler, by reason",
                                ["reason"], registry=self.registry)
        self.in_flight = Gauge("notesqa_queries_in_flight", "ask/search requests admitted and not finished",
                               registry=self.registry)
        self._collector: _StateCollector | None = None

    def watch_state(self, statuses: Callable[[], list[dict]], job_counts: Callable[[], dict[str, int]]) -> None:
        if self._collector is not None:
            self.registry.unregister(self._collector)
        self._collector = _StateCollector(statuses, job_counts)
        self.registry.register(self._collector)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_label(scope: dict[str, Any]) -> str:
    """The route's path template (bounded cardinality), not the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
