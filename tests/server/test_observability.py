"""Request id, timing headers, access log lines, slow-request warnings."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from flext_api.server import (
    AccessLogMiddleware,
    RequestIdLogFilter,
    RequestIdMiddleware,
    TimingMiddleware,
    configure_access_logging,
    current_request_id,
)
from flext_api.server.request_id import accept_request_id
from tests.server.apps import background_seen, build_app
from tests.server.helpers import asgi_call, http_call, serve


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_lines() -> Iterator[ListHandler]:
    logger = logging.getLogger("flext_api.server.access")
    handler = ListHandler()
    handler.addFilter(RequestIdLogFilter())
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@pytest.mark.parametrize(
    "incoming",
    ["0f8e7c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "01HZX3J5Q4", "Root=1-65a0-abc", "a" * 128],
)
def test_reasonable_incoming_ids_are_kept(incoming: str) -> None:
    assert accept_request_id(incoming.encode()) == incoming


@pytest.mark.parametrize(
    "incoming", [b"", b"a" * 129, b"evil\r\nX-Admin: 1", b"caf\xc3\xa9", b"a b"]
)
def test_unreasonable_incoming_ids_are_replaced(incoming: bytes) -> None:
    replaced = accept_request_id(incoming)
    assert replaced != incoming.decode("latin-1")
    assert len(replaced) == 32
    int(replaced, 16)


@pytest.mark.anyio
async def test_request_id_header_contextvar_and_log_record(access_lines: ListHandler) -> None:
    app = build_app()
    reply = await asgi_call(app, "GET", "/background", headers=[("x-request-id", "trace-42")])
    assert reply.status == 200
    assert reply.headers["x-request-id"] == "trace-42"
    assert reply.json() == {"request_id": "trace-42"}
    (record,) = access_lines.records
    assert getattr(record, "request_id", None) == "trace-42"
    assert current_request_id() is None


@pytest.mark.anyio
async def test_generated_id_when_missing_and_custom_header_name() -> None:
    app = build_app(access_log=False, request_id_header="X-Correlation-ID")
    reply = await asgi_call(app, "GET", "/ping", headers=[("x-request-id", "ignored")])
    generated = reply.headers["x-correlation-id"]
    assert len(generated) == 32
    assert generated != "ignored"


def test_log_filter_outside_a_request_sets_none() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    assert RequestIdLogFilter().filter(record)
    assert getattr(record, "request_id", "missing") is None


@pytest.mark.anyio
async def test_access_log_is_one_json_line_with_route_template(access_lines: ListHandler) -> None:
    app = build_app()
    reply = await asgi_call(app, "GET", "/pets/7", headers=[("x-request-id", "log-1")])
    assert reply.status == 200
    (record,) = access_lines.records
    line = json.loads(record.getMessage())
    assert line["method"] == "GET"
    assert line["route"] == "/pets/{pet_id}"
    assert line["path"] == "/pets/7"
    assert line["status"] == 200
    assert line["request_id"] == "log-1"
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float)
    assert "\n" not in record.getMessage()


@pytest.mark.anyio
async def test_health_probes_are_not_logged_and_errors_are(access_lines: ListHandler) -> None:
    app = build_app()
    assert (await asgi_call(app, "GET", "/health")).status == 200
    assert (await asgi_call(app, "GET", "/ready")).status == 200
    assert access_lines.records == []
    assert (await asgi_call(app, "GET", "/boom")).status == 500
    assert (await asgi_call(app, "GET", "/no/such/path")).status == 404
    lines = [json.loads(record.getMessage()) for record in access_lines.records]
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/boom", 500),
        ("<unmatched>", 404),
    ]


@pytest.mark.anyio
async def test_access_log_is_silent_when_info_is_disabled() -> None:
    logger = logging.getLogger("test.access.disabled")
    logger.setLevel(logging.WARNING)
    handler = ListHandler()
    logger.addHandler(handler)
    app = AccessLogMiddleware(build_app(access_log=False), logger=logger)
    assert (await asgi_call(app, "GET", "/ping")).status == 200
    assert handler.records == []


def test_configure_access_logging_keeps_an_existing_setup() -> None:
    logger = logging.getLogger("flext_api.server.access")
    saved = list(logger.handlers), logger.level, logger.propagate
    for existing in saved[0]:
        logger.removeHandler(existing)
    try:
        configure_access_logging()
        assert len(logger.handlers) == 1
        assert logger.propagate is False
        configure_access_logging()
        assert len(logger.handlers) == 1
    finally:
        for added in list(logger.handlers):
            logger.removeHandler(added)
        for existing in saved[0]:
            logger.addHandler(existing)
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


@pytest.mark.anyio
async def test_timing_headers_and_slow_warning(caplog: pytest.LogCaptureFixture) -> None:
    app = build_app(access_log=False, slow_request_ms=20)
    with caplog.at_level(logging.WARNING, "flext_api.server.timing"):
        fast = await asgi_call(app, "GET", "/ping")
        assert caplog.records == []
        slow = await asgi_call(app, "GET", "/slow", headers=[("x-request-id", "slow-1")])
    assert fast.headers["x-response-time"].endswith("ms")
    assert fast.headers["server-timing"].startswith("app;dur=")
    assert float(slow.headers["x-response-time"].removesuffix("ms")) >= 50
    (warning,) = caplog.records
    assert "slow request: GET /slow" in warning.getMessage()
    assert getattr(warning, "request_id", None) == "slow-1"


@pytest.mark.anyio
async def test_parts_pass_non_http_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(str(scope["type"]))

    async def no_receive() -> Message:
        raise AssertionError

    async def no_send(message: Message) -> None:
        raise AssertionError

    for part in (
        RequestIdMiddleware(inner),
        TimingMiddleware(inner, slow_threshold_ms=None),
        AccessLogMiddleware(inner),
    ):
        await part({"type": "lifespan"}, no_receive, no_send)
    assert seen == ["lifespan"] * 3


def test_background_tasks_and_contextvars_survive_the_stack_under_uvicorn() -> None:
    background_seen.clear()
    app: FastAPI = build_app(access_log=False)
    with serve(app) as port:
        reply = http_call(port, "GET", "/background", headers={"X-Request-ID": "bg-1"})
    assert reply.status == 200
    assert reply.headers["x-request-id"] == "bg-1"
    # uvicorn runs the background task before the request cycle ends; serve() joined it.
    assert background_seen == [("bg-1", "set-in-handler")]


def test_refusals_before_routing_name_the_template_of_an_included_router() -> None:
    """A 415 or 413 refused before routing is labelled with the route it would have reached,
    also when that route lives in a router included with a prefix (as generated stubs are)."""
    from fastapi import APIRouter, FastAPI

    from flext_api.server._routes import UNMATCHED, match_route_template

    inner = APIRouter(prefix="/inner")

    @inner.get("/items/{item_id}")
    def item(item_id: int) -> int:
        return item_id

    app = FastAPI()
    app.include_router(inner, prefix="/api")

    def template(path: str, method: str) -> str:
        scope = {"type": "http", "path": path, "method": method, "app": app, "root_path": ""}
        return match_route_template(scope)

    assert template("/api/inner/items/3", "GET") == "/api/inner/items/{item_id}"
    assert template("/api/inner/items/3", "DELETE") == "/api/inner/items/{item_id}"
    assert template("/elsewhere", "GET") == UNMATCHED
