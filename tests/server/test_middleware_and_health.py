"""FlextApiMiddleware (tenant context), health, readiness and metrics."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from flext_api._result import FlextResult, fail, ok
from flext_api.server import (
    FlextApiMiddleware,
    Forbidden,
    ReadinessChecks,
    ResponseHead,
    create_fastapi_app,
    redis_ping_check,
)
from flext_api.server.health import CheckFailed
from tests.server.apps import build_app
from tests.server.conftest import RedisServer, free_port
from tests.server.helpers import asgi_call, http_call, serve

tenant_var: ContextVar[str | None] = ContextVar("tenant", default=None)


class TenantMiddleware(FlextApiMiddleware):
    async def process_request(self, request: Any) -> FlextResult[None]:
        tenant = request.headers.get("x-tenant")
        if tenant is None:
            return fail(Forbidden("missing X-Tenant header"))
        tenant_var.set(tenant)
        return ok(None)

    async def process_response(self, request: Any, response: ResponseHead) -> FlextResult[None]:
        if response.status_code == 418:
            return fail(Forbidden("teapots are not for this tenant"))
        response.headers["X-Tenant"] = tenant_var.get() or ""
        if response.status_code == 201:
            response.status_code = 202
        return ok(None)


def tenant_app() -> FastAPI:
    app = build_app(access_log=False)
    app.add_middleware(TenantMiddleware)

    @app.get("/tenant")
    async def tenant() -> dict[str, str | None]:
        return {"tenant": tenant_var.get()}

    @app.get("/teapot", status_code=418)
    async def teapot() -> dict[str, str]:
        return {"i am": "a teapot"}

    @app.get("/created", status_code=201)
    async def created() -> dict[str, bool]:
        return {"created": True}

    return app


@pytest.mark.anyio
async def test_custom_middleware_sets_context_and_headers() -> None:
    app = tenant_app()
    reply = await asgi_call(app, "GET", "/tenant", headers=[("x-tenant", "acme")])
    assert reply.status == 200
    assert reply.json() == {"tenant": "acme"}
    assert reply.headers["x-tenant"] == "acme"
    assert "x-request-id" in reply.headers  # runs inside the server stack
    assert (await asgi_call(app, "GET", "/created", headers=[("x-tenant", "a")])).status == 202


@pytest.mark.anyio
async def test_custom_middleware_failures_short_circuit_into_error_shape() -> None:
    app = tenant_app()
    refused = await asgi_call(app, "GET", "/tenant", headers=[("x-request-id", "t-1")])
    assert refused.status == 403
    assert refused.json() == {
        "error_code": "FORBIDDEN",
        "message": "missing X-Tenant header",
        "details": None,
        "request_id": "t-1",
    }
    replaced = await asgi_call(app, "GET", "/teapot", headers=[("x-tenant", "acme")])
    assert replaced.status == 403
    assert replaced.json()["message"] == "teapots are not for this tenant"
    assert b"a teapot" not in replaced.body


def test_streaming_and_background_tasks_pass_through_custom_middleware() -> None:
    app = tenant_app()
    with serve(app, http="httptools") as port:
        reply = http_call(port, "GET", "/stream", headers={"X-Tenant": "acme"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["x-tenant"] == "acme"
    assert reply.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


@pytest.mark.anyio
async def test_base_middleware_is_transparent() -> None:
    app = build_app(access_log=False)
    app.add_middleware(FlextApiMiddleware)
    reply = await asgi_call(app, "GET", "/ping")
    assert reply.json() == {"pong": "yes"}
    seen: list[str] = []

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await FlextApiMiddleware(lifespan_app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


@pytest.mark.anyio
async def test_health_and_readiness_checks() -> None:
    checks = ReadinessChecks(timeout=0.2)

    async def healthy() -> FlextResult[Any]:
        return ok(True)

    async def down() -> FlextResult[Any]:
        return fail(CheckFailed("queue down"))

    async def hangs() -> FlextResult[Any]:
        await anyio.sleep(5)
        return ok(True)  # pragma: no cover - cancelled by the check timeout

    async def raises() -> FlextResult[Any]:
        raise RuntimeError("boom")

    app = create_fastapi_app(readiness=checks, access_log=False)
    assert (await asgi_call(app, "GET", "/ready")).json() == {"status": "ready", "checks": {}}
    checks.add("db", healthy)
    assert (await asgi_call(app, "GET", "/ready")).status == 200
    for name, check in (("queue", down), ("slow", hangs), ("buggy", raises)):
        checks.add(name, check)
    with anyio.fail_after(2):
        reply = await asgi_call(app, "GET", "/ready")
    assert reply.status == 503
    assert reply.json() == {
        "status": "not_ready",
        "checks": {"buggy": "failed", "db": "ok", "queue": "failed", "slow": "failed"},
    }
    assert b"boom" not in reply.body
    assert (await asgi_call(app, "GET", "/health")).json() == {"status": "ok"}
    with pytest.raises(ValueError, match="already registered"):
        checks.add("db", healthy)


@pytest.mark.anyio
async def test_redis_ping_check(redis_server: RedisServer) -> None:
    up = Redis.from_url(redis_server.url)
    gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert (await redis_ping_check(up)()).is_success
        assert (await redis_ping_check(gone)()).is_failure
    finally:
        await up.aclose()
        await gone.aclose()


def metric_value(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


@pytest.mark.anyio
async def test_metrics_by_route_template_with_one_registry_per_app() -> None:
    first = build_app(access_log=False)
    second = build_app(access_log=False)
    for pet in (1, 2, 404):
        await asgi_call(first, "GET", f"/pets/{pet}")
    await asgi_call(second, "GET", "/ping")
    reply = await asgi_call(first, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.body.decode()
    ok_count = 'flext_api_requests_total{method="GET",route="/pets/{pet_id}",status="200"}'
    assert metric_value(text, ok_count) == 2
    assert (
        metric_value(
            text, 'flext_api_requests_total{method="GET",route="/pets/{pet_id}",status="404"}'
        )
        == 1
    )
    assert (
        metric_value(
            text, 'flext_api_request_duration_seconds_count{method="GET",route="/pets/{pet_id}"}'
        )
        == 3
    )
    assert "/pets/1" not in text
    assert 'route="/ping"' not in text  # that request went to the other app
    assert metric_value(text, "flext_api_requests_in_flight") == 1  # this /metrics request
    other = (await asgi_call(second, "GET", "/metrics")).body.decode()
    assert metric_value(other, 'flext_api_requests_total{method="GET",route="/ping"') == 1


@pytest.mark.anyio
async def test_metrics_can_be_turned_off() -> None:
    app = create_fastapi_app(metrics=False, access_log=False)
    assert (await asgi_call(app, "GET", "/metrics")).status == 404


@pytest.mark.anyio
async def test_cors_preflight_and_exposed_headers() -> None:
    app = build_app(access_log=False, cors_origins=("https://app.example",))
    preflight = await asgi_call(
        app,
        "OPTIONS",
        "/ping",
        headers=[("origin", "https://app.example"), ("access-control-request-method", "GET")],
    )
    assert preflight.status == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    simple = await asgi_call(app, "GET", "/ping", headers=[("origin", "https://app.example")])
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    foreign = await asgi_call(
        app,
        "OPTIONS",
        "/ping",
        headers=[("origin", "https://evil.example"), ("access-control-request-method", "GET")],
    )
    assert foreign.status == 400


def test_redis_url_builds_a_shared_limiter_closed_on_shutdown(redis_server: RedisServer) -> None:
    app = build_app(access_log=False, rate_limit=1, redis_url=redis_server.url.replace("/0", "/2"))
    with serve(app) as port:
        assert http_call(port, "GET", "/ready").json() == {
            "status": "ready",
            "checks": {"redis": "ok"},
        }
        assert http_call(port, "GET", "/ping").status == 200
        assert http_call(port, "GET", "/ping").status == 429
