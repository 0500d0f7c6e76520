"""What the OpenTelemetry layers of the client share: names, attributes, the tracer and meters.

Pure bookkeeping around the ``opentelemetry`` API (the optional ``otel`` extra); the middleware
that opens spans lives in ``_async/middleware/telemetry.py`` (and its sync twin) and the server
side in ``flext_api.server.telemetry``. Attribute names follow the OpenTelemetry HTTP semantic
conventions (stable since v1.23): ``http.request.method``, ``server.address``, ``url.full``,
``http.response.status_code``, ``error.type``...

Nothing here may put a secret on a span: ``url.full`` carries no userinfo (a password in a URL
is replaced as in error messages) and no header value is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flext_api._exceptions import FlextApiError, redact_url

try:
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "OpenTelemetry support needs the opentelemetry API: pip install 'flext-api[otel]'"
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from flext_api._models import Request

__all__ = [
    "SCOPE",
    "ClientInstruments",
    "add_transport_event",
    "client_request_attributes",
    "end_client_span",
    "inject_context",
]

SCOPE = "flext_api"
"""The instrumentation scope every tracer and meter of flext-api is created under."""

# Events of the transport's ``trace`` callback, as span event names (the rest pass as they are).
_EVENT_NAMES: Mapping[str, str] = {
    "pool.wait.start": "pool.wait.start",
    "pool.wait.end": "pool.wait.end",
    "connect.start": "connect.start",
    "connect.end": "connect.end",
    "connect.failed": "connect.failed",
    "request.sent": "request.sent",
    "response.headers": "response.headers",
}


def _scope_version() -> str:
    from flext_api import __version__

    return __version__


class ClientInstruments:
    """The tracer and the client metrics (created once per middleware)."""

    __slots__ = ("active", "duration", "tracer")

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        version = _scope_version()
        self.tracer = trace.get_tracer(SCOPE, version, tracer_provider)
        meter = metrics.get_meter(SCOPE, version, meter_provider)
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests, until the response head arrived",
        )
        self.active = meter.create_up_down_counter(
            "http.client.active_requests",
            unit="{request}",
            description="HTTP client requests in flight",
        )

    def start(self, request: Request) -> tuple[Span, dict[str, Any], float]:
        """Open the CLIENT span of ``request`` (current until :func:`end_client_span`)."""
        attributes = client_request_attributes(request)
        span = self.tracer.start_span(request.method, kind=SpanKind.CLIENT, attributes=attributes)
        metric = {
            key: attributes[key]
            for key in ("http.request.method", "server.address", "server.port", "url.scheme")
        }
        self.active.add(1, metric)
        return span, metric, time.perf_counter()


def client_request_attributes(request: Request) -> dict[str, Any]:
    """The span attributes known before the request leaves."""
    url = request.url
    return {
        "http.request.method": request.method,
        "server.address": url.host,
        "server.port": url.effective_port,
        "url.scheme": url.scheme,
        "url.full": redact_url(str(url)),
    }


def inject_context() -> dict[str, str]:
    """The propagation headers of the current context (W3C ``traceparent``/``tracestate`` with
    the default propagator), to set on the outgoing request."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def end_client_span(
    instruments: ClientInstruments,
    span: Span,
    metric: dict[str, Any],
    started: float,
    *,
    status_code: int | None = None,
    http_version: str | None = None,
    error: FlextApiError | None = None,
    interrupted: BaseException | None = None,
) -> None:
    """Record the outcome on ``span`` and the metrics, and end it.

    A client span is an error for a status of 400 and above (the semantic conventions'
    rule for clients) and for any failure, with ``error.type`` the status code or the error's
    stable ``code``.
    """
    if status_code is not None:
        span.set_attribute("http.response.status_code", status_code)
        metric["http.response.status_code"] = status_code
    if http_version is not None:
        version = http_version.removeprefix("HTTP/")
        span.set_attribute("network.protocol.version", version)
        metric["network.protocol.version"] = version
    error_type: str | None = None
    if error is not None:
        error_type = error.code
        span.set_status(Status(StatusCode.ERROR, error.message))
    elif interrupted is not None:
        # Cancellation, or a bug below: the span still ends, named after what ended it.
        error_type = type(interrupted).__qualname__
        span.set_status(Status(StatusCode.ERROR, f"ended by {error_type}"))
    elif status_code is not None and status_code >= 400:
        error_type = str(status_code)
        span.set_status(Status(StatusCode.ERROR))
    if error_type is not None:
        span.set_attribute("error.type", error_type)
        metric["error.type"] = error_type
    instruments.active.add(-1, {k: metric[k] for k in _ACTIVE_KEYS})
    instruments.duration.record(time.perf_counter() - started, metric)
    span.end()


_ACTIVE_KEYS = ("http.request.method", "server.address", "server.port", "url.scheme")


def add_transport_event(event: str, data: Mapping[str, Any]) -> None:
    """The client's ``trace`` callback: the transport's events on the current span.

    Pool wait, connect (TCP and TLS, one deadline: ``tls`` and ``alpn`` say what was
    negotiated), request sent, response head. Values that are not plain scalars are shown as
    text; the URL of ``request.sent`` is redacted like ``url.full``.
    """
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, str | int | float | bool] = {}
    for key, value in data.items():
        if isinstance(value, bool | int | float | str):
            attributes[key] = (
                redact_url(value) if key == "url" and isinstance(value, str) else value
            )
        elif value is not None:
            attributes[key] = redact_url(str(value)) if key == "url" else str(value)
    span.add_event(_EVENT_NAMES.get(event, event), attributes)
