"""Prometheus metrics: request counts, latency histograms by route template, in-flight gauge.

Each :class:`PrometheusMetrics` owns a ``CollectorRegistry``, so two apps in one process never
collide. With ``PROMETHEUS_MULTIPROC_DIR`` set (it must be set before ``prometheus_client`` is
first imported, as its multiprocess mode requires), ``/metrics`` aggregates every worker
process's files. This module must never label by raw path (unbounded cardinality) and never
register on prometheus_client's global default registry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from flext_api.server._disconnect import CLIENT_CLOSED_STATUS, DisconnectWatch
from flext_api.server._routes import route_template

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MetricsMiddleware", "PrometheusMetrics"]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# Past this many (method, route, status) keys, new ones are labelled on every request.
_MAX_CACHED_CHILDREN = 1024

# The method label: HTTP servers pass any token as a method, so anything outside the standard
# methods (RFC 9110 and PATCH) is counted as one value instead of one series per spelling.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "OTHER"


class PrometheusMetrics:
    """The metric families of one application, on a registry of its own.

    ``{namespace}_requests_total{method,route,status}``,
    ``{namespace}_request_duration_seconds{method,route}`` (histogram) and
    ``{namespace}_requests_in_flight`` (gauge; ``livesum`` across worker processes).
    Every label is bounded: methods outside :data:`STANDARD_METHODS` are ``OTHER``, routes
    are templates (``<unmatched>`` for every path no route matches), statuses are the
    application's own (499 for a client that left before the response).
    """

    def __init__(
        self,
        namespace: str = "flext_api",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self.requests = Counter(
            f"{namespace}_requests",
            "HTTP requests handled, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{namespace}_request_duration_seconds",
            "Time to handle a request (until its last body byte), by method and route template.",
            ("method", "route"),
            buckets=buckets,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{namespace}_requests_in_flight",
            "Requests being handled right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        # The labelled children, so that a request costs two dict lookups instead of two
        # ``labels()`` calls (each validates, joins and locks). A child stays valid because
        # nothing here ever calls ``remove()`` or ``clear()`` on these families; the cache is
        # bounded because the method label comes from the client.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        """Count one finished request and record its duration (``elapsed`` seconds).

        ``route`` must be a template (bounded); ``method`` is folded to ``OTHER`` when it is
        not a standard method.
        """
        if method not in STANDARD_METHODS:
            method = OTHER_METHOD
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
            if len(self._children) < _MAX_CACHED_CHILDREN:
                self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type.

        In multiprocess mode the values come from every worker's files, not this process's.
        """
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc_dir:
            registry = CollectorRegistry()
            # prometheus_client ships this constructor without annotations.
            MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Count, time and gauge every HTTP request into a :class:`PrometheusMetrics`."""

    def __init__(self, app: ASGIApp, metrics: PrometheusMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        status = 500  # the server answers 500 for an app that never started
        watch = DisconnectWatch(receive)

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                watch.response_started = True
            await send(message)

        metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, watch, send_observed)
        finally:
            elapsed = time.perf_counter() - start
            metrics.in_flight.dec()
            if watch.closed_early:
                status = CLIENT_CLOSED_STATUS
            metrics.observe(scope["method"], route_template(scope), status, elapsed)
