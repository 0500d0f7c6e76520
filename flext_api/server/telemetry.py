"""OpenTelemetry for the FastAPI side: a SERVER span per request, joined to the caller's trace.

``create_fastapi_app(otel=True)`` (or ``FLEXT_API_OTEL=true``, or ``telemetry=ServerTelemetry(
...)`` to pass providers) puts :class:`OpenTelemetryASGIMiddleware` right inside the request-id
layer: the incoming ``traceparent`` is extracted, the span is current while the handler runs
(so an ``AsyncFlextApiClient`` call made there, with the client middleware, continues the same
trace), and it carries the HTTP semantic conventions' attributes plus ``flext_api.request_id``.
``http.server.request.duration`` and ``http.server.active_requests`` are recorded through the
metrics API, next to the Prometheus endpoint. Probe paths are not traced by default.

Needs the ``otel`` extra.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from flext_api._request_context import current_request_id
from flext_api.server._routes import UNMATCHED, route_template

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["OpenTelemetryASGIMiddleware", "ServerTelemetry"]


class _HeaderGetter(Getter[list[tuple[bytes, bytes]]]):
    """Reads propagation fields from ASGI's raw header list."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_GETTER = _HeaderGetter()


class ServerTelemetry:
    """Where the server's spans and metrics go, and which paths are left out."""

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        exclude_paths: Iterable[str] = ("/health", "/ready", "/metrics"),
    ) -> None:
        from flext_api import __version__

        self.tracer = trace.get_tracer("flext_api.server", __version__, tracer_provider)
        meter = metrics.get_meter("flext_api.server", __version__, meter_provider)
        self.duration = meter.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP requests"
        )
        self.active = meter.create_up_down_counter(
            "http.server.active_requests", unit="{request}", description="Requests in flight"
        )
        self.exclude_paths = frozenset(exclude_paths)


class OpenTelemetryASGIMiddleware:
    """Pure ASGI: one SERVER span per HTTP request (never for WebSocket or lifespan)."""

    def __init__(self, app: ASGIApp, *, telemetry: ServerTelemetry | None = None) -> None:
        self.app = app
        self.telemetry = telemetry or ServerTelemetry()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        telemetry = self.telemetry
        if scope["type"] != "http" or scope["path"] in telemetry.exclude_paths:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        parent = propagate.extract(scope["headers"], getter=_GETTER)
        attributes = _request_attributes(scope)
        span = telemetry.tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        active = {"http.request.method": method, "url.scheme": attributes["url.scheme"]}
        telemetry.active.add(1, active)
        token = context.attach(trace.set_span_in_context(span, parent))
        status = 0
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        error_type: str | None = None
        try:
            await self.app(scope, receive, send_observed)
        except BaseException as exc:
            error_type = type(exc).__qualname__
            span.record_exception(exc)
            raise
        finally:
            context.detach(token)
            route = route_template(scope)
            metric: dict[str, Any] = {**active}
            if route != UNMATCHED:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                metric["http.route"] = route
            request_id = current_request_id()
            if request_id is not None:
                span.set_attribute("flext_api.request_id", request_id)
            if status:
                span.set_attribute("http.response.status_code", status)
                metric["http.response.status_code"] = status
            if error_type is None and (status >= 500 or not status):
                error_type = str(status or 500)
            if error_type is not None:
                # Server spans are errors for 5xx only: a 4xx is the client's mistake.
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR))
                metric["error.type"] = error_type
            telemetry.active.add(-1, active)
            telemetry.duration.record(time.perf_counter() - started, metric)
            span.end()


def _request_attributes(scope: Scope) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    # No url.query: query strings carry API keys and tokens often enough to keep them off spans.
    server = scope.get("server")
    if server:
        attributes["server.address"], attributes["server.port"] = server[0], server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    for name, value in scope["headers"]:
        if name == b"user-agent":
            attributes["user_agent.original"] = value.decode("latin-1")
            break
    return attributes
