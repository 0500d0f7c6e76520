"""OpenTelemetry on the server side, and one trace across a server handler and its outgoing
call: a caller's CLIENT span, the factory app's SERVER span, the handler's own CLIENT span
and the downstream server's ``traceparent`` all belong to one trace, each the parent of the
next, as the SDK's in-memory exporter records them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import HTTPException
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from flext_api import AsyncFlextApiClient, FlextApiClient
from flext_api.server import FlextApiConfig, FlextFastAPI, create_fastapi_app
from flext_api.server.telemetry import OpenTelemetryASGIMiddleware, ServerTelemetry
from flext_api.telemetry import AsyncOpenTelemetryMiddleware, OpenTelemetryMiddleware
from tests._async.test_telemetry import Telemetry
from tests.server.helpers import serve
from tests.servers.runners import RunningServer


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


def _ids(span: ReadableSpan) -> tuple[int, int]:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id, context.span_id


def _parent(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def test_one_trace_spans_the_caller_the_handler_and_its_outgoing_call(
    otel: Telemetry, uvicorn_h11: RunningServer
) -> None:
    app = create_fastapi_app(
        telemetry=ServerTelemetry(
            tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
        ),
        access_log=False,
    )
    inner = AsyncOpenTelemetryMiddleware(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, Any]:
        async with AsyncFlextApiClient(middleware=[inner], trace=inner.trace) as client:
            seen = (await client.get(f"{uvicorn_h11.url}/headers")).unwrap().json().unwrap()
        return {"order": order_id, "downstream_traceparent": seen["traceparent"]}

    outer = OpenTelemetryMiddleware(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )
    tracer = otel.tracer_provider.get_tracer("test")
    with serve(app) as port, tracer.start_as_current_span("checkout") as root:
        with FlextApiClient(middleware=[outer], trace=outer.trace) as client:
            reply = client.get(
                f"http://127.0.0.1:{port}/orders/7", headers={"X-Request-ID": "req-42"}
            ).unwrap()
        root_ids = (root.get_span_context().trace_id, root.get_span_context().span_id)
    body = reply.json().unwrap()

    by_kind: dict[SpanKind, list[ReadableSpan]] = {}
    for span in otel.finished():
        by_kind.setdefault(span.kind, []).append(span)
    (server,) = by_kind[SpanKind.SERVER]
    outer_call, inner_call = sorted(by_kind[SpanKind.CLIENT], key=lambda s: s.start_time or 0)
    (checkout,) = by_kind[SpanKind.INTERNAL]

    trace_id = root_ids[0]
    assert {_ids(span)[0] for span in (checkout, outer_call, server, inner_call)} == {trace_id}
    assert _parent(outer_call) == root_ids[1]
    assert _parent(server) == _ids(outer_call)[1]
    assert _parent(inner_call) == _ids(server)[1]
    _, sent_trace, sent_span, _ = body["downstream_traceparent"].split("-")
    assert (int(sent_trace, 16), int(sent_span, 16)) == _ids(inner_call)

    assert server.name == "GET /orders/{order_id}"
    attributes = dict(server.attributes or {})
    assert attributes["http.route"] == "/orders/{order_id}"
    assert attributes["url.path"] == "/orders/7"
    assert attributes["flext_api.request_id"] == "req-42"
    assert attributes["http.response.status_code"] == 200
    assert server.status.status_code is StatusCode.UNSET

    points = otel.metric_points("http.server.request.duration")
    assert [(p.count, dict(p.attributes)["http.route"]) for p in points] == [
        (1, "/orders/{order_id}")
    ]


def test_server_errors_mark_the_span_and_probes_are_not_traced(otel: Telemetry) -> None:
    app = create_fastapi_app(
        telemetry=ServerTelemetry(tracer_provider=otel.tracer_provider), access_log=False
    )

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404)

    with serve(app) as port, FlextApiClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/health").unwrap().status_code == 200
        assert client.get("/broken").unwrap().status_code == 500
        assert client.get("/missing").unwrap().status_code == 404

    broken_span, missing_span = otel.finished()
    assert broken_span.name == "GET /broken"
    assert broken_span.status.status_code is StatusCode.ERROR
    assert dict(broken_span.attributes or {})["error.type"] == "RuntimeError"
    assert [event.name for event in broken_span.events] == ["exception"]
    # A 404 is the caller's mistake: recorded, not an error of the server.
    assert missing_span.status.status_code is StatusCode.UNSET
    assert dict(missing_span.attributes or {})["http.response.status_code"] == 404


def _layers(app: FlextFastAPI) -> list[object]:
    return [layer.cls for layer in app.server_middleware]


def test_the_setting_turns_the_layer_on_with_the_global_providers() -> None:
    config = FlextApiConfig.from_env({"FLEXT_API_OTEL": "true"})
    app = create_fastapi_app(config)
    assert isinstance(app, FlextFastAPI)
    assert OpenTelemetryASGIMiddleware in _layers(app)
    plain = create_fastapi_app(FlextApiConfig())
    assert isinstance(plain, FlextFastAPI)
    assert OpenTelemetryASGIMiddleware not in _layers(plain)
