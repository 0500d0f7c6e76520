"""The guards wrap an app that ``create_fastapi_app`` did not build, as docs/server.md shows.

Generated server stubs mount behind exactly this stack; what a client sees must be the same
error shape as from the factory's app.
"""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from flext_api.server import (
    AccessLogMiddleware,
    ErrorMiddleware,
    MetricsMiddleware,
    PayloadTooLarge,
    PrometheusMetrics,
    RequestBodyGuardMiddleware,
    RequestBookkeepingMiddleware,
    install_error_handlers,
    send_error,
    send_failure,
)
from tests.server.helpers import asgi_call


def guarded_stub() -> RequestBookkeepingMiddleware:
    stub = FastAPI()
    install_error_handlers(stub)

    @stub.post("/things")
    async def create(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app = RequestBodyGuardMiddleware(
        stub, max_body_bytes=10, body_timeout=5.0, allowed_content_types=("application/json",)
    )
    return RequestBookkeepingMiddleware(app, access_log=False, handle_errors=True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "chunks", "status", "code"),
    [
        ([("content-type", "text/plain"), ("content-length", "2")], [b"hi"], 415,
         "UNSUPPORTED_MEDIA_TYPE"),
        ([("content-type", "application/json"), ("content-length", "11")], [b"x" * 11], 413,
         "PAYLOAD_TOO_LARGE"),
        ([("content-type", "application/json"), ("transfer-encoding", "chunked")],
         [b"x" * 6, b"x" * 6], 413, "PAYLOAD_TOO_LARGE"),
        ([("content-type", "application/json"), ("content-length", "2")], [b"{}"], 200, None),
    ],
)  # fmt: skip
async def test_stub_behind_the_guards_refuses_in_the_error_shape(
    headers: list[tuple[str, str]], chunks: list[bytes], status: int, code: str | None
) -> None:
    reply = await asgi_call(
        guarded_stub(),
        "POST",
        "/things",
        headers=[*headers, ("x-request-id", "stub-1")],
        body_chunks=chunks,
    )
    assert reply.status == status
    assert reply.headers["x-request-id"] == "stub-1"
    if code is None:
        assert reply.json() == {"size": 2}
    else:
        assert reply.json()["error_code"] == code
        assert reply.json()["request_id"] == "stub-1"


@pytest.mark.anyio
async def test_send_error_and_send_failure_write_the_shape_from_plain_asgi() -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/a":
            await send_error(send, 409, "THING_EXISTS", "the thing exists", details={"id": 1})
        else:
            await send_failure(send, PayloadTooLarge("too big"), close=True)

    app = RequestBookkeepingMiddleware(plain, access_log=False)
    first = await asgi_call(app, "GET", "/a", headers=[("x-request-id", "plain-1")])
    assert first.status == 409
    assert first.json() == {
        "error_code": "THING_EXISTS",
        "message": "the thing exists",
        "details": {"id": 1},
        "request_id": "plain-1",
    }
    second = await asgi_call(app, "GET", "/b")
    assert second.status == 413
    assert second.headers["connection"] == "close"
    assert second.json()["error_code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.anyio
async def test_separate_layers_record_a_client_abort_as_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub = FastAPI()

    @stub.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": sum([len(chunk) async for chunk in request.stream()])}

    metrics = PrometheusMetrics()
    access = logging.getLogger("test.separate.access")
    access.setLevel(logging.INFO)
    app = MetricsMiddleware(AccessLogMiddleware(ErrorMiddleware(stub), logger=access), metrics)
    incoming: list[Message] = [
        {"type": "http.request", "body": b"x", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/upload", "headers": [],
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1)}  # fmt: skip
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    # No exception reached the server (it would log a traceback); the 500 Starlette's own
    # ServerErrorMiddleware started inside the stub is dropped by the server.
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [500]
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == access.name]
    assert (line["route"], line["status"]) == ("/upload", 499)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    exposition = metrics.exposition()[0].decode()
    assert 'flext_api_requests_total{method="POST",route="/upload",status="499"} 1.0' in exposition
