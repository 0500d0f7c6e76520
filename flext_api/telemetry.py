"""OpenTelemetry for flext-api clients (the optional ``otel`` extra).

- :class:`OpenTelemetryMiddleware` (sync) and :class:`AsyncOpenTelemetryMiddleware`: a CLIENT
  span per call following the HTTP semantic conventions, the W3C ``traceparent`` sent with the
  request, the transport's events (pool wait, connect and TLS, request sent, response head)
  on the span through the client's ``trace=`` callback, and the ``http.client.request.duration``
  histogram and ``http.client.active_requests`` counter::

      otel = OpenTelemetryMiddleware()
      client = FlextApiClient(middleware=[otel], trace=otel.trace)

- :func:`observe_pool`: the pool's connections (by state) and waiting requests as observable
  gauges.

The server side is ``create_fastapi_app(otel=True)`` (``flext_api.server.telemetry``). Spans and
metrics go wherever the application's OpenTelemetry SDK sends them; without an SDK the API's
no-op providers make all of this cost next to nothing.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from flext_api._async.middleware.telemetry import AsyncOpenTelemetryMiddleware
from flext_api._sync.middleware.telemetry import OpenTelemetryMiddleware
from flext_api._telemetry import SCOPE, add_transport_event

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from flext_api._async.client import AsyncFlextApiClient
    from flext_api._sync.client import FlextApiClient

__all__ = [
    "AsyncOpenTelemetryMiddleware",
    "OpenTelemetryMiddleware",
    "add_transport_event",
    "observe_pool",
]


def observe_pool(
    client: FlextApiClient | AsyncFlextApiClient,
    *,
    meter_provider: MeterProvider | None = None,
    name: str = "default",
) -> None:
    """Report ``client``'s pool as gauges: ``flext_api.pool.connections`` (attribute
    ``state``: ``idle``, ``in_use``, ``opening``) and ``flext_api.pool.waiters``, each with
    ``flext_api.client`` set to ``name``.

    The gauges hold the client weakly: once it is gone they report nothing.
    """
    from flext_api import __version__

    meter = metrics.get_meter(SCOPE, __version__, meter_provider)
    ref = weakref.ref(client)

    def connections(options: CallbackOptions) -> Iterable[Observation]:
        alive = ref()
        if alive is None:
            return []
        stats = alive.pool_stats
        return [
            Observation(count, {"flext_api.client": name, "state": state})
            for state, count in (
                ("idle", stats.idle),
                ("in_use", stats.in_use),
                ("opening", stats.opening),
            )
        ]

    def waiters(options: CallbackOptions) -> Iterable[Observation]:
        alive = ref()
        if alive is None:
            return []
        return [Observation(alive.pool_stats.waiters, {"flext_api.client": name})]

    meter.create_observable_gauge(
        "flext_api.pool.connections",
        [connections],
        unit="{connection}",
        description="Connections of the client's pool, by state",
    )
    meter.create_observable_gauge(
        "flext_api.pool.waiters",
        [waiters],
        unit="{request}",
        description="Requests waiting for a connection",
    )
