"""RequestBookkeepingMiddleware behaves exactly like the five middleware it replaces."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flext_api.server import (
    AccessLineHandler,
    AccessLogMiddleware,
    ErrorMiddleware,
    FlextFastAPI,
    MetricsMiddleware,
    NotFound,
    PrometheusMetrics,
    ReadinessChecks,
    RequestBookkeepingMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    TimingMiddleware,
    configure_access_logging,
    create_fastapi_app,
    health_router,
)
from flext_api.server import metrics as metrics_module
from tests.server.apps import build_app
from tests.server.helpers import Reply, asgi_call

TIMING_HEADERS = {"x-response-time", "server-timing"}


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_logger() -> Iterator[tuple[logging.Logger, ListHandler]]:
    logger = logging.getLogger("test.bookkeeping.access")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)


def app_with(front: list[Middleware]) -> FastAPI:
    """The demo app with ``front`` in place of the factory's bookkeeping and error layers."""
    app = build_app(access_log=False, metrics=False)
    assert isinstance(app, FlextFastAPI)
    replaced: tuple[object, ...] = (RequestBookkeepingMiddleware, ErrorMiddleware)
    rest = [layer for layer in app.server_middleware if layer.cls not in replaced]
    app.server_middleware = [*front, *rest]
    return app


PATH_CSP = {"/docs": "default-src 'self'"}


def separate_stack(logger: logging.Logger, metrics: PrometheusMetrics) -> FastAPI:
    return app_with(
        [
            Middleware(RequestIdMiddleware),
            Middleware(TimingMiddleware, slow_threshold_ms=None),
            Middleware(AccessLogMiddleware, logger=logger),
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(SecurityHeadersMiddleware, path_csp=PATH_CSP),
            Middleware(ErrorMiddleware),
        ]
    )


def fused_stack(logger: logging.Logger, metrics: PrometheusMetrics) -> FastAPI:
    return app_with(
        [
            Middleware(
                RequestBookkeepingMiddleware,
                slow_threshold_ms=None,
                access_logger=logger,
                metrics=metrics,
                path_csp=PATH_CSP,
                handle_errors=True,
            )
        ]
    )


def fused_stack_with_error_layer(logger: logging.Logger, metrics: PrometheusMetrics) -> FastAPI:
    return app_with(
        [
            Middleware(
                RequestBookkeepingMiddleware,
                slow_threshold_ms=None,
                access_logger=logger,
                metrics=metrics,
                path_csp=PATH_CSP,
            ),
            Middleware(ErrorMiddleware),
        ]
    )


def comparable(reply: Reply) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers in order (timing values blanked) and body."""
    headers = [(k, "<t>" if k in TIMING_HEADERS else v) for k, v in reply.raw_headers]
    return reply.status, headers, reply.body


def metric_lines(metrics: PrometheusMetrics) -> list[str]:
    text = metrics.exposition()[0].decode()
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith(
            (
                "flext_api_requests_total{",
                "flext_api_request_duration_seconds_count{",
                "flext_api_requests_in_flight ",
            )
        )
    )


REQUESTS: list[dict[str, Any]] = [
    {"path": "/ping"},
    {"path": "/pets/7"},
    {"path": "/pets/404"},
    {"path": "/boom"},
    {"path": "/no/such/path"},
    {"path": "/health"},
    {"path": "/docs"},
    {"path": "/ping", "scheme": "https"},
    {"path": "/pets", "method": "POST", "headers": [("content-type", "application/json")]},
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "request_options",
    REQUESTS,
    ids=lambda r: f"{r.get('method', 'GET')} {r.get('scheme', 'http')} {r['path']}",
)
async def test_fused_and_separate_stacks_answer_log_and_count_the_same(
    request_options: dict[str, Any], access_logger: tuple[logging.Logger, ListHandler]
) -> None:
    logger, handler = access_logger
    options = {**request_options}
    # The id comes after another header, so both stacks have to look past the first one.
    options["headers"] = [
        ("accept", "*/*"),
        ("x-request-id", "fixed-id"),
        *request_options.get("headers", []),
    ]
    replies = []
    lines = []
    counts = []
    for build in (separate_stack, fused_stack, fused_stack_with_error_layer):
        metrics = PrometheusMetrics()
        handler.records.clear()
        app = build(logger, metrics)
        replies.append(comparable(await asgi_call(app, **options)))
        lines.append(
            [
                {k: v for k, v in json.loads(r.getMessage()).items() if k != "duration_ms"}
                for r in handler.records
            ]
        )
        counts.append(metric_lines(metrics))
    assert replies[0] == replies[1] == replies[2]
    assert lines[0] == lines[1] == lines[2]
    assert counts[0] == counts[1] == counts[2]
    assert counts[1]  # something was counted
    names = [name for name, _ in replies[1][1]]
    assert names[-3:] == ["x-response-time", "server-timing", "x-request-id"]


@pytest.mark.anyio
async def test_access_line_and_records_carry_the_request_id(
    access_logger: tuple[logging.Logger, ListHandler],
) -> None:
    logger, handler = access_logger
    app = fused_stack(logger, PrometheusMetrics())
    reply = await asgi_call(app, "GET", "/pets/3")
    generated = reply.headers["x-request-id"]
    assert len(generated) == 32
    (record,) = handler.records
    assert getattr(record, "request_id", None) == generated
    line = json.loads(record.getMessage())
    assert line["request_id"] == generated
    assert line["route"] == "/pets/{pet_id}"
    assert isinstance(line["duration_ms"], float)


@pytest.mark.anyio
async def test_access_log_off_or_disabled_logger_writes_nothing(
    access_logger: tuple[logging.Logger, ListHandler],
) -> None:
    logger, handler = access_logger
    off = RequestBookkeepingMiddleware(app_with([]), access_log=False, access_logger=logger)
    assert (await asgi_call(off, "GET", "/ping")).status == 200
    logger.setLevel(logging.WARNING)
    quiet = RequestBookkeepingMiddleware(app_with([]), access_logger=logger)
    assert (await asgi_call(quiet, "GET", "/ping")).status == 200
    assert handler.records == []


@pytest.mark.anyio
async def test_default_access_logger_is_flext_api_server_access() -> None:
    logger = logging.getLogger("flext_api.server.access")
    handler = ListHandler()
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        app = RequestBookkeepingMiddleware(app_with([]))
        assert (await asgi_call(app, "GET", "/ping")).status == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    (record,) = handler.records
    assert json.loads(record.getMessage())["route"] == "/ping"


@pytest.mark.anyio
async def test_failure_after_the_response_started_is_logged_counted_and_propagates(
    access_logger: tuple[logging.Logger, ListHandler],
) -> None:
    async def breaks_midway(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 206, "headers": []})
        raise RuntimeError("connection to the upstream dropped")

    logger, handler = access_logger
    metrics = PrometheusMetrics()
    app = RequestBookkeepingMiddleware(breaks_midway, access_logger=logger, metrics=metrics)
    with pytest.raises(RuntimeError):
        await asgi_call(app, "GET", "/partial")
    (record,) = handler.records
    assert json.loads(record.getMessage())["status"] == 206
    assert (
        'flext_api_requests_total{method="GET",route="<unmatched>",status="206"} 1.0'
        in metric_lines(metrics)
    )
    assert "flext_api_requests_in_flight 0.0" in metric_lines(metrics)


@pytest.mark.anyio
async def test_slow_requests_are_warned_about_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = RequestBookkeepingMiddleware(app_with([]), access_log=False, slow_threshold_ms=20)
    with caplog.at_level(logging.WARNING, "flext_api.server.timing"):
        await asgi_call(app, "GET", "/ping")
        assert caplog.records == []
        await asgi_call(app, "GET", "/slow", headers=[("x-request-id", "slow-2")])
    (warning,) = caplog.records
    assert "slow request: GET /slow" in warning.getMessage()
    assert getattr(warning, "request_id", None) == "slow-2"


@pytest.mark.anyio
async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(str(scope["type"]))

    async def no_receive() -> Message:
        raise AssertionError

    async def no_send(message: Message) -> None:
        raise AssertionError

    parts: list[ASGIApp] = [
        RequestBookkeepingMiddleware(inner),
        MetricsMiddleware(inner, metrics=PrometheusMetrics()),
        SecurityHeadersMiddleware(inner),
        ErrorMiddleware(inner),
    ]
    for part in parts:
        await part({"type": "lifespan"}, no_receive, no_send)
    assert seen == ["lifespan"] * len(parts)


@pytest.mark.anyio
async def test_factory_uses_one_bookkeeping_layer() -> None:
    app = create_fastapi_app(access_log=False)
    layers = []
    layer: Any = app.build_middleware_stack()
    while layer is not None:
        layers.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert layers.count("RequestBookkeepingMiddleware") == 1
    for separate in ("RequestIdMiddleware", "TimingMiddleware", "AccessLogMiddleware"):
        assert separate not in layers
    assert "ErrorMiddleware" not in layers  # folded into the bookkeeping layer
    with_cors: Any = create_fastapi_app(access_log=False, cors_origins=("https://a.example",))
    layer = with_cors.build_middleware_stack()
    names = []
    while layer is not None:
        names.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    bookkeeping = names.index("RequestBookkeepingMiddleware")
    assert names[bookkeeping + 1 : bookkeeping + 3] == ["FlextCORSMiddleware", "ErrorMiddleware"]


def test_metrics_observe_counts_several_routes_and_statuses() -> None:
    metrics = PrometheusMetrics()
    calls = [("GET", "/a", 200)] * 3 + [("GET", "/a", 404), ("POST", "/a", 200)]
    calls += [("GET", "/b/{id}", 200)] * 2 + [("GET", "/b/{id}", 500)]
    for method, route, status in calls:
        metrics.observe(method, route, status, 0.002)
    lines = metric_lines(metrics)
    expected = {
        'flext_api_requests_total{method="GET",route="/a",status="200"} 3.0',
        'flext_api_requests_total{method="GET",route="/a",status="404"} 1.0',
        'flext_api_requests_total{method="POST",route="/a",status="200"} 1.0',
        'flext_api_requests_total{method="GET",route="/b/{id}",status="200"} 2.0',
        'flext_api_requests_total{method="GET",route="/b/{id}",status="500"} 1.0',
        'flext_api_request_duration_seconds_count{method="GET",route="/a"} 4.0',
        'flext_api_request_duration_seconds_count{method="POST",route="/a"} 1.0',
        'flext_api_request_duration_seconds_count{method="GET",route="/b/{id}"} 3.0',
    }
    assert expected <= set(lines)


def test_metrics_past_the_cache_bound_are_still_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "_MAX_CACHED_CHILDREN", 1)
    metrics = PrometheusMetrics()
    for _ in range(2):
        for method in ("GET", "POST", "DELETE"):
            metrics.observe(method, "/pot", 418, 0.001)
    lines = metric_lines(metrics)
    for method in ("GET", "POST", "DELETE"):
        counted = f'flext_api_requests_total{{method="{method}",route="/pot",status="418"}} 2.0'
        assert counted in lines
    assert len(metrics._children) == 1


def test_unknown_methods_are_one_label_value() -> None:
    metrics = PrometheusMetrics()
    for method in ("PURGE", "BREW", "get", "GET"):
        metrics.observe(method, "/pot", 418, 0.001)
    lines = [line for line in metric_lines(metrics) if line.startswith("flext_api_requests_total")]
    assert lines == [
        'flext_api_requests_total{method="GET",route="/pot",status="418"} 1.0',
        'flext_api_requests_total{method="OTHER",route="/pot",status="418"} 3.0',
    ]


@pytest.mark.anyio
async def test_probe_routes_stay_out_of_the_openapi_schema() -> None:
    app = build_app(access_log=False)
    schema = (await asgi_call(app, "GET", "/openapi.json")).json()
    assert "/ping" in schema["paths"]
    for probe in ("/health", "/ready", "/metrics"):
        assert probe not in schema["paths"]


@pytest.mark.anyio
async def test_folded_error_handling_answers_before_the_response_started() -> None:
    async def rejects(scope: Scope, receive: Receive, send: Send) -> None:
        raise NotFound("no such tenant")

    async def crashes(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret-host.internal is down")

    metrics = PrometheusMetrics()
    folded = RequestBookkeepingMiddleware(
        rejects, access_log=False, metrics=metrics, handle_errors=True
    )
    reply = await asgi_call(folded, "GET", "/t", headers=[("x-request-id", "err-1")])
    assert reply.status == 404
    assert reply.json()["request_id"] == "err-1"
    assert reply.headers["x-content-type-options"] == "nosniff"
    crashed = await asgi_call(
        RequestBookkeepingMiddleware(crashes, access_log=False, handle_errors=True), "GET", "/"
    )
    assert crashed.status == 500
    assert "secret-host" not in crashed.body.decode()
    assert 'status="404"' in "".join(metric_lines(metrics))
    unfolded = RequestBookkeepingMiddleware(crashes, access_log=False)
    with pytest.raises(RuntimeError):
        await asgi_call(unfolded, "GET", "/")


@pytest.fixture
def default_access_setup() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """The access logger as configure_access_logging leaves it, writing to a StringIO."""
    logger = logging.getLogger("flext_api.server.access")
    saved = list(logger.handlers), logger.level, logger.propagate
    for existing in saved[0]:
        logger.removeHandler(existing)
    configure_access_logging()
    (handler,) = logger.handlers
    assert isinstance(handler, AccessLineHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        yield logger, stream
    finally:
        for added in list(logger.handlers):
            logger.removeHandler(added)
        for existing in saved[0]:
            logger.addHandler(existing)
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


@pytest.mark.anyio
async def test_direct_line_writer_and_record_path_write_the_same_lines(
    default_access_setup: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = default_access_setup
    handler = logger.handlers[0]
    app = RequestBookkeepingMiddleware(app_with([]))
    headers = [("x-request-id", "same-1")]
    assert (await asgi_call(app, "GET", "/pets/5", headers=headers)).status == 200
    # Any observer of records (here a filter) sends the line through the logging machinery.
    seen: list[logging.LogRecord] = []

    def observe(record: logging.LogRecord) -> bool:
        seen.append(record)
        return True

    handler.addFilter(observe)
    assert (await asgi_call(app, "GET", "/pets/5", headers=headers)).status == 200
    direct, through_record = stream.getvalue().splitlines()
    assert len(seen) == 1
    assert getattr(seen[0], "request_id", None) == "same-1"

    def without_duration(line: str) -> dict[str, Any]:
        return {k: v for k, v in json.loads(line).items() if k != "duration_ms"}

    assert without_duration(direct) == without_duration(through_record)
    assert direct.startswith('{"method":"GET","route":"/pets/{pet_id}"')
    assert stream.getvalue().endswith("\n")


@pytest.mark.anyio
@pytest.mark.parametrize("observer", ["second handler", "propagation", "record factory", "level"])
async def test_anything_that_could_see_the_record_gets_one(
    observer: str,
    default_access_setup: tuple[logging.Logger, io.StringIO],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger, stream = default_access_setup
    extra = ListHandler()
    if observer == "second handler":
        logger.addHandler(extra)
    elif observer == "propagation":
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "parent", logging.Logger("test.parent"))
        assert logger.parent is not None
        logger.parent.addHandler(extra)
    elif observer == "record factory":
        factory = logging.getLogRecordFactory()

        def recording_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            extra.records.append(record)
            return record

        logging.setLogRecordFactory(recording_factory)
    else:
        logger.handlers[0].setLevel(logging.WARNING)
    try:
        app = RequestBookkeepingMiddleware(app_with([]))
        assert (await asgi_call(app, "GET", "/ping")).status == 200
    finally:
        logging.setLogRecordFactory(logging.LogRecord)
    if observer == "level":
        assert stream.getvalue() == ""
    else:
        (record,) = extra.records
        assert json.loads(record.getMessage())["route"] == "/ping"


def test_a_failing_stream_is_reported_like_any_handler_error(
    default_access_setup: tuple[logging.Logger, io.StringIO],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger, stream = default_access_setup
    handler = logger.handlers[0]
    assert isinstance(handler, AccessLineHandler)
    stream.close()
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", reported.append)
    handler.write_line('{"x":1}')
    (record,) = reported
    assert record.getMessage() == '{"x":1}'


@pytest.mark.anyio
async def test_probes_answer_get_only() -> None:
    app = build_app(access_log=False)
    assert (await asgi_call(app, "GET", "/health")).json() == {"status": "ok"}
    for method in ("HEAD", "POST"):
        refused = await asgi_call(app, method, "/health")
        assert refused.status == 405
        assert refused.headers["allow"] == "GET"


@pytest.mark.anyio
async def test_separate_request_id_middleware_generates_an_id_when_none_came() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    reply = await asgi_call(RequestIdMiddleware(inner), "GET", "/", headers=[("accept", "*/*")])
    assert len(reply.headers["x-request-id"]) == 32


@pytest.mark.anyio
async def test_health_router_serves_the_probes_on_any_fastapi_app() -> None:
    checks = ReadinessChecks()
    app = FastAPI()
    app.include_router(health_router(checks, PrometheusMetrics(), metrics_path="/m"))
    assert (await asgi_call(app, "GET", "/health")).json() == {"status": "ok"}
    assert (await asgi_call(app, "GET", "/ready")).json() == {"status": "ready", "checks": {}}
    assert (await asgi_call(app, "GET", "/m")).status == 200
    assert (await asgi_call(app, "HEAD", "/health")).status == 405
