from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from flext_api._exceptions import (
    ConnectError,
    ConnectTimeout,
    FlextApiError,
    HTTPStatusError,
    InvalidHeader,
    InvalidURL,
    ReadTimeout,
)
from flext_api._result import fail, ok
from flext_api.server import (
    ErrorMiddleware,
    Forbidden,
    NotFound,
    RequestRejected,
    Unauthorized,
    result_response,
    status_for_error,
)
from tests.server.apps import build_app
from tests.server.helpers import asgi_call


class TenantNotFound(FlextApiError):
    code = "TENANT_NOT_FOUND"


class InvalidCoupon(FlextApiError):
    code = "INVALID_COUPON"


class ClaimConflict(FlextApiError):
    code = "CLAIM_CONFLICT"


class SessionUnauthorized(FlextApiError):
    code = "SESSION_UNAUTHORIZED"


class TenantForbidden(FlextApiError):
    code = "TENANT_FORBIDDEN"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidURL("bad url"), 400),
        (InvalidHeader("bad header"), 400),
        (InvalidCoupon("bad coupon"), 400),
        (TenantNotFound("no tenant"), 404),
        (NotFound("no pet"), 404),
        (SessionUnauthorized("no session"), 401),
        (TenantForbidden("not yours"), 403),
        (ClaimConflict("taken"), 409),
        (HTTPStatusError("upstream said 418", status_code=418), 418),
        (ConnectTimeout("slow"), 504),
        (ReadTimeout("slow"), 504),
        (ConnectError("refused"), 502),
        (FlextApiError("anything else"), 500),
        (RequestRejected("gone", status_code=410), 410),
        (Unauthorized("who"), 401),
        (Forbidden("no"), 403),
    ],
)
def test_status_mapping_table(error: FlextApiError, status: int) -> None:
    assert status_for_error(error) == status


@pytest.fixture
def app() -> FastAPI:
    return build_app(access_log=False)


@pytest.mark.anyio
async def test_success_result_is_json_with_status(app: FastAPI) -> None:
    reply = await asgi_call(app, "GET", "/pets/7")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"id": 7, "name": "Rex"}


@pytest.mark.anyio
async def test_pydantic_value_and_custom_status(app: FastAPI) -> None:
    reply = await asgi_call(
        app,
        "POST",
        "/pets",
        headers=[("content-type", "application/json"), ("content-length", "24")],
        body_chunks=[b'{"name": "Rex", "age": 3}'[:24]],
    )
    assert reply.status == 422  # truncated JSON: same error shape, see below
    good = b'{"name": "Rex", "age": 3}'
    reply = await asgi_call(
        app,
        "POST",
        "/pets",
        headers=[("content-type", "application/json"), ("content-length", str(len(good)))],
        body_chunks=[good],
    )
    assert reply.status == 201
    assert reply.json() == {"name": "Rex", "age": 3}


@pytest.mark.anyio
async def test_failure_result_becomes_error_shape_with_request_id(app: FastAPI) -> None:
    reply = await asgi_call(app, "GET", "/pets/404", headers=[("x-request-id", "abc-123")])
    assert reply.status == 404
    assert reply.json() == {
        "error_code": "NOT_FOUND",
        "message": "no pet 404",
        "details": None,
        "request_id": "abc-123",
    }


@pytest.mark.anyio
async def test_upstream_timeout_is_504_without_upstream_host(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "flext_api.server.errors"):
        reply = await asgi_call(app, "GET", "/upstream-timeout")
    assert reply.status == 504
    body = reply.json()
    assert body["error_code"] == "CONNECT_TIMEOUT"
    assert "db.internal" not in reply.body.decode()
    assert body["message"] == "An upstream service timed out"
    assert "db.internal" in caplog.text


@pytest.mark.anyio
async def test_raised_flext_error_is_mapped_and_hidden(app: FastAPI) -> None:
    reply = await asgi_call(app, "GET", "/raise-flext")
    assert reply.status == 500
    assert reply.json()["error_code"] == "FLEXT_API_ERROR"
    assert "secret-host" not in reply.body.decode()


@pytest.mark.anyio
async def test_unhandled_exception_is_500_without_internals(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "flext_api.server.errors"):
        reply = await asgi_call(app, "GET", "/boom", headers=[("x-request-id", "req-boom")])
    assert reply.status == 500
    assert reply.json() == {
        "error_code": "INTERNAL_ERROR",
        "message": "Internal server error",
        "details": None,
        "request_id": "req-boom",
    }
    assert "hunter2" not in reply.body.decode()
    assert reply.headers["x-request-id"] == "req-boom"
    assert "RuntimeError: database password is hunter2" in caplog.text


@pytest.mark.anyio
async def test_validation_error_uses_the_same_shape(app: FastAPI) -> None:
    reply = await asgi_call(app, "GET", "/pets/not-a-number")
    assert reply.status == 422
    body = reply.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert body["details"][0]["loc"] == ["path", "pet_id"]
    assert set(body) == {"error_code", "message", "details", "request_id"}


@pytest.mark.anyio
async def test_router_404_and_405_use_the_same_shape(app: FastAPI) -> None:
    missing = await asgi_call(app, "GET", "/nowhere")
    assert missing.status == 404
    assert missing.json()["error_code"] == "NOT_FOUND"
    wrong = await asgi_call(app, "DELETE", "/ping")
    assert wrong.status == 405
    assert wrong.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert wrong.headers["allow"] == "GET"


@pytest.mark.anyio
async def test_http_exception_5xx_hides_detail() -> None:
    from fastapi import HTTPException

    app = build_app(access_log=False)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail={"not": "a string"})

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise HTTPException(503, detail="db1.internal is down")

    teapot_reply = await asgi_call(app, "GET", "/teapot")
    assert teapot_reply.status == 418
    assert teapot_reply.json()["error_code"] == "HTTP_418"
    down = await asgi_call(app, "GET", "/unavailable")
    assert down.status == 503
    assert down.json()["message"] == "Service unavailable"


@dataclass
class Point:
    x: int
    y: int


def test_result_response_encodes_dataclasses() -> None:
    response = result_response(ok([Point(1, 2)]), status_code=202)
    assert response.status_code == 202
    assert response.body == b'[{"x":1,"y":2}]'
    failed = result_response(fail(RequestRejected("no", details={"why": "because"})))
    assert failed.status_code == 400
    assert b'"details":{"why":"because"}' in failed.body


@pytest.mark.anyio
async def test_error_middleware_alone_and_after_response_started() -> None:
    async def fails_late(scope: object, receive: object, send: object) -> None:
        assert callable(send)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("late")

    async def fails_flext(scope: object, receive: object, send: object) -> None:
        raise Forbidden("not yours", headers={"X-Why": "owner"})

    reply = await asgi_call(ErrorMiddleware(fails_flext), "GET", "/")
    assert reply.status == 403
    assert reply.headers["x-why"] == "owner"
    with pytest.raises(RuntimeError, match="late"):
        await asgi_call(ErrorMiddleware(fails_late), "GET", "/")
