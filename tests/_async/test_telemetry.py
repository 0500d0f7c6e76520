"""OpenTelemetry on the client, judged by the SDK's in-memory exporter and metric reader:
one CLIENT span per call with the HTTP semantic conventions' attributes, the ``traceparent``
the server received naming that span, the transport's events on it, and the metrics.
Generated into ``tests/_sync/test_telemetry.py`` for the blocking client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from flext_api import AsyncFlextApiClient, Failure
from flext_api.telemetry import AsyncOpenTelemetryMiddleware, observe_pool
from tests.servers.runners import RunningServer

pytestmark = pytest.mark.anyio  # unasync: remove


class Telemetry:
    """An SDK tracer and meter provider writing to memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metric_points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def middleware(self) -> AsyncOpenTelemetryMiddleware:
        return AsyncOpenTelemetryMiddleware(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


def _events(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]


async def test_a_call_is_one_client_span_whose_context_reaches_the_server(
    uvicorn_h11: RunningServer, otel: Telemetry
) -> None:
    middleware = otel.middleware()
    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url, middleware=[middleware], trace=middleware.trace
    ) as client:
        first = (await client.get("/headers")).unwrap()
        second = (await client.get("/headers?again=1")).unwrap()

    spans = otel.finished()
    assert [span.name for span in spans] == ["GET", "GET"]
    span = spans[0]
    assert span.kind is SpanKind.CLIENT
    context = span.get_span_context()
    assert context is not None
    # The server got the W3C header naming this very span.
    trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    version, sent_trace, sent_span, flags = first.json().unwrap()["traceparent"].split("-")
    assert (version, sent_trace, sent_span) == ("00", trace_id, span_id)
    assert int(flags, 16) & 1  # sampled
    assert (
        second.json().unwrap()["traceparent"].split("-")[1] != trace_id
    )  # a new trace per root call
    attributes = dict(span.attributes or {})
    host, port = uvicorn_h11.url.removeprefix("http://").split(":")
    assert attributes == {
        "http.request.method": "GET",
        "server.address": host,
        "server.port": int(port),
        "url.scheme": "http",
        "url.full": f"{uvicorn_h11.url}/headers",
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert span.status.status_code is StatusCode.UNSET
    # The first call opened the connection, the second reused it.
    assert _events(span) == ["connect.start", "connect.end", "request.sent", "response.headers"]
    assert _events(spans[1]) == ["request.sent", "response.headers"]
    assert span.events[1].attributes is not None and span.events[1].attributes["tls"] is False

    (duration,) = otel.metric_points("http.client.request.duration")
    assert duration.count == 2
    assert dict(duration.attributes)["http.response.status_code"] == 200
    (active,) = otel.metric_points("http.client.active_requests")
    assert active.value == 0


async def test_error_statuses_and_failures_mark_the_span(
    uvicorn_h11: RunningServer, otel: Telemetry
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    middleware = otel.middleware()
    async with AsyncFlextApiClient(middleware=[middleware], trace=middleware.trace) as client:
        assert (await client.get(f"{uvicorn_h11.url}/status/503")).unwrap().status_code == 503
        refused = await client.get(f"{dead}/")
    assert isinstance(refused, Failure)

    server_error, failure = otel.finished()
    assert server_error.status.status_code is StatusCode.ERROR
    assert dict(server_error.attributes or {})["error.type"] == "503"
    assert failure.status.status_code is StatusCode.ERROR
    assert dict(failure.attributes or {})["error.type"] == refused.error_code
    assert "http.response.status_code" not in dict(failure.attributes or {})
    assert _events(failure) == ["connect.start", "connect.failed"]


async def test_a_password_in_the_url_never_reaches_the_span(
    uvicorn_h11: RunningServer, otel: Telemetry
) -> None:
    middleware = otel.middleware()
    secret_url = uvicorn_h11.url.replace("http://", "http://user:hunter2@") + "/json"
    async with AsyncFlextApiClient(middleware=[middleware], trace=middleware.trace) as client:
        (await client.get(secret_url)).unwrap()
    (span,) = otel.finished()
    shown = repr(span.attributes) + repr([event.attributes for event in span.events])
    assert "hunter2" not in shown and "[secure]" in shown


async def test_the_pool_is_observed_as_gauges(uvicorn_h11: RunningServer, otel: Telemetry) -> None:
    async with AsyncFlextApiClient(base_url=uvicorn_h11.url) as client:
        observe_pool(client, meter_provider=otel.meter_provider, name="api")
        (await client.get("/json")).unwrap()
        states = {
            dict(point.attributes)["state"]: point.value
            for point in otel.metric_points("flext_api.pool.connections")
        }
        assert states == {"idle": 1, "in_use": 0, "opening": 0}
        (waiters,) = otel.metric_points("flext_api.pool.waiters")
        assert waiters.value == 0 and dict(waiters.attributes) == {"flext_api.client": "api"}
