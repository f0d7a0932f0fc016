"""Prometheus metrics, served at /metrics: requests by operation and status, latency, the
answer cache, the data served (store version, snapshot) and how long writes and snapshot loads
took.

Operations are named from the path against fixed lists (`CodeSystem/$lookup`,
`ValueSet/read`, `page`), never from free text, so that no client can grow the number of series.
With several worker processes set PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess
mode) so that a scrape sums every worker; one process per replica needs nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from terminology.web.wsgi import Environ, StartResponse, WsgiApp, path_of, respond

# no `_created` series beside every counter: noise for a scrape
disable_created_metrics()  # type: ignore[no-untyped-call]
METRICS_PATH = "/metrics"
TYPES = ("CodeSystem", "ValueSet", "ConceptMap", "ServiceRequest", "Procedure", "Claim",
         "Bundle")
OPERATIONS = ("$lookup", "$validate-code", "$subsumes", "$expand", "$translate",
              "$batch-validate-code", "$validate", "$versions")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)
_INSTANCE_ACTIONS = {"GET": "read", "HEAD": "read", "PUT": "update", "DELETE": "delete"}
_TYPE_ACTIONS = {"GET": "search", "HEAD": "search", "POST": "create"}

REQUESTS = Counter("txserver_requests", "Requests answered, by operation and status",
                   ["operation", "status"])
LATENCY = Histogram("txserver_request_seconds", "Time to answer a request, by operation",
                    ["operation"], buckets=LATENCY_BUCKETS)
ANSWERS = Counter("txserver_answer_cache",
                  "GET answers of the API: hit (from the answer cache), miss (computed), "
                  "not_modified (304 to a conditional request)", ["result"])
ANSWER_HIT, ANSWER_MISS, ANSWER_NOT_MODIFIED = (
    ANSWERS.labels(result) for result in ("hit", "miss", "not_modified"))
GENERATION = Gauge("txserver_store_generation", "The store generation last served",
                   multiprocess_mode="max")
SNAPSHOT = Gauge("txserver_snapshot", "The data served: 1 for the store version and snapshot "
                 "now served", ["version", "snapshot"], multiprocess_mode="max")
IMPORT_SECONDS = Histogram("txserver_import_seconds",
                           "Time taken by writes through the API and snapshot loads",
                           ["kind"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300))
SNAPSHOTS_REFUSED = Counter("txserver_snapshots_refused",
                            "Snapshots found damaged or incomplete and not served")

_served: tuple[str, str] | None = None


def serving(version: str, snapshot: str = "", generation: int = 0) -> None:
    """Record the data now served (a new store generation, or a snapshot switched to)."""
    global _served
    if _served == (version, snapshot):
        return
    if _served is not None:
        SNAPSHOT.remove(*_served)
    _served = (version, snapshot)
    SNAPSHOT.labels(version, snapshot).set(1)
    GENERATION.set(generation)


def operation_of(method: str, path: str) -> str:
    """The bounded name of what a request asks for."""
    if path in (METRICS_PATH, "/healthz", "/readyz"):
        return path.lstrip("/")
    if not path.startswith("/fhir/"):
        return "static" if path.startswith("/ui-static/") else "page"
    parts = path[len("/fhir/"):].rstrip("/").split("/")
    first, rest = parts[0], parts[1:]
    if not rest:
        if first == "metadata" or first in OPERATIONS:
            return first
        if first in TYPES:
            return f"{first}/{_TYPE_ACTIONS.get(method, 'other')}"
        return "fhir/other"
    if first not in TYPES or len(rest) > 2:
        return "fhir/other"
    if rest[-1].startswith("$"):
        return f"{first}/{rest[-1]}" if rest[-1] in OPERATIONS else "fhir/other"
    if len(rest) == 1:
        return f"{first}/{_INSTANCE_ACTIONS.get(method, 'other')}"
    return "fhir/other"


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


class Metrics:
    """WSGI middleware: counts and times every request; answers /metrics itself."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = path_of(environ)
        if path == METRICS_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return respond(start_response, 200, [("Content-Type", CONTENT_TYPE_LATEST)],
                           generate_latest(_registry()),
                           head=environ["REQUEST_METHOD"] == "HEAD")
        operation = operation_of(str(environ.get("REQUEST_METHOD", "")), path)
        status = ["500"]

        def start(line: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            status[0] = line[:3]
            return start_response(line, headers, exc_info)

        started = time.perf_counter()
        try:
            return self.app(environ, start)
        finally:
            _child(LATENCY, operation).observe(time.perf_counter() - started)
            _child(REQUESTS, operation, status[0]).inc()


_CHILDREN: dict[tuple[object, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, kept: the label values are few (see operation_of), and
    prometheus_client's lookup takes a lock and a few microseconds per request."""
    key = (id(metric), *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child
