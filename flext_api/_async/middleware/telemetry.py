"""OpenTelemetry for the client: a CLIENT span per call, context propagated, the transport's
events on the span, and the HTTP client metrics.

One object does both jobs a client needs: it is a middleware (the span, the ``traceparent``
header, the metrics) and its :meth:`trace` method is the client's ``trace`` callback (pool wait,
connect, request sent, response head become events of the current span)::

    otel = AsyncOpenTelemetryMiddleware()
    client = AsyncFlextApiClient(middleware=[otel], trace=otel.trace)

First in the list, a call with retries or redirects is one span; last, each attempt is one.
The span ends when the response head arrived (``request()`` has then read the body too; a
``stream()`` body is read after the span ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context, trace

from flext_api._async.middleware.chain import AsyncCallNext, R, derive
from flext_api._exceptions import FlextApiError
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._telemetry import (
    ClientInstruments,
    add_transport_event,
    end_client_span,
    inject_context,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["AsyncOpenTelemetryMiddleware"]


class AsyncOpenTelemetryMiddleware:
    """A CLIENT span per call (HTTP semantic conventions), ``traceparent`` sent, metrics kept.

    ``tracer_provider``/``meter_provider`` default to the global ones (``opentelemetry.trace``
    and ``opentelemetry.metrics``). Needs the ``otel`` extra.
    """

    __slots__ = ("_instruments",)

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._instruments = ClientInstruments(tracer_provider, meter_provider)

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        instruments = self._instruments
        span, metric, started = instruments.start(request)
        token = context.attach(trace.set_span_in_context(span))
        try:
            headers = request.headers.copy()
            for name, value in inject_context().items():
                headers[name] = value
            result = await call_next(derive(request, headers=headers))
        except BaseException as exc:
            context.detach(token)
            end_client_span(instruments, span, metric, started, interrupted=exc)
            raise
        context.detach(token)
        match result:
            case Success(response):
                end_client_span(
                    instruments,
                    span,
                    metric,
                    started,
                    status_code=response.status_code,
                    http_version=getattr(response, "http_version", None),
                )
            case Failure(error):
                end_client_span(instruments, span, metric, started, error=error)
        return result

    @staticmethod
    def trace(event: str, data: Mapping[str, Any]) -> None:
        """The client's ``trace=`` callback: transport events on the current span."""
        add_transport_event(event, data)
