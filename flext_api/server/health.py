"""Liveness, readiness and metrics endpoints.

``/health`` answers as long as the event loop does (liveness: it checks nothing else, so a
slow database never gets a healthy process killed). ``/ready`` runs the registered checks
concurrently, each under a timeout, and answers 503 naming the failing ones. ``/metrics``
serves the Prometheus text format. This module must never put a check's exception text in a
response (it is logged) and never let one hanging check stall the probe past its timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flext_api._exceptions import FlextApiError
from flext_api._result import Failure, FlextResult, Success, fail, ok

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from flext_api.server.metrics import PrometheusMetrics

__all__ = [
    "CheckFailed",
    "ReadinessCheck",
    "ReadinessChecks",
    "add_health_routes",
    "health_router",
    "redis_ping_check",
]

logger = logging.getLogger("flext_api.server.health")

ReadinessCheck = Callable[[], Awaitable[FlextResult[Any]]]
"""An async callable that returns ``Success`` when the dependency is usable."""


class CheckFailed(FlextApiError):
    """A readiness check failed, raised or timed out."""

    code = "READINESS_CHECK_FAILED"


class ReadinessChecks:
    """Named readiness checks, each run under ``timeout`` seconds."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        # Set on SIGTERM by a graceful shutdown (flext_api.server.shutdown): /ready answers 503
        # without running the checks, so the orchestrator stops routing here first.
        self.draining = False
        self._checks: dict[str, ReadinessCheck] = {}

    def add(self, name: str, check: ReadinessCheck) -> None:
        """Register ``check`` under ``name`` (a name registered twice is a programming error)."""
        if name in self._checks:
            raise ValueError(f"a readiness check named {name!r} is already registered")
        self._checks[name] = check

    async def _run_one(self, name: str, check: ReadinessCheck) -> FlextResult[Any]:
        try:
            with anyio.fail_after(self.timeout):
                return await check()
        except TimeoutError:
            return fail(CheckFailed(f"readiness check {name!r} timed out after {self.timeout}s"))
        except Exception as exc:
            logger.exception("readiness check %r raised", name)
            return fail(CheckFailed(f"readiness check {name!r} raised {type(exc).__name__}"))

    async def run(self) -> dict[str, FlextResult[Any]]:
        """Run every check concurrently; the result of each, by name."""
        results: dict[str, FlextResult[Any]] = {}

        async def run_into(name: str, check: ReadinessCheck) -> None:
            results[name] = await self._run_one(name, check)

        async with anyio.create_task_group() as group:
            for name, check in self._checks.items():
                group.start_soon(run_into, name, check)
        return results


def redis_ping_check(client: Redis) -> ReadinessCheck:
    """A readiness check that PINGs ``client``."""

    async def ping() -> FlextResult[Any]:
        try:
            await client.ping()
        except Exception as exc:
            logger.warning("redis readiness ping failed: %s", exc)
            return fail(CheckFailed("redis did not answer PING"))
        return ok(True)

    return ping


def health_router(
    checks: ReadinessChecks,
    metrics: PrometheusMetrics | None = None,
    *,
    health_path: str = "/health",
    ready_path: str = "/ready",
    metrics_path: str = "/metrics",
) -> APIRouter:
    """The probe routes (kept out of the OpenAPI schema), on a router of their own."""
    router = APIRouter(include_in_schema=False)
    for path, endpoint in _probe_endpoints(
        checks, metrics, health_path=health_path, ready_path=ready_path, metrics_path=metrics_path
    ):
        router.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    return router


def add_health_routes(
    router: APIRouter,
    checks: ReadinessChecks,
    metrics: PrometheusMetrics | None = None,
    *,
    health_path: str = "/health",
    ready_path: str = "/ready",
    metrics_path: str = "/metrics",
) -> None:
    """Add the probe routes straight to ``router`` (kept out of the OpenAPI schema).

    ``create_fastapi_app`` uses this instead of including :func:`health_router`: an included
    router is matched as a nested group on every request. The routes are plain Starlette
    routes (the endpoints take nothing but the request): the router tries them before the
    application's own routes on every request, and a Starlette route matches in half the time
    of a FastAPI one. They answer exactly what :func:`health_router`'s do.
    """
    for path, endpoint in _probe_endpoints(
        checks, metrics, health_path=health_path, ready_path=ready_path, metrics_path=metrics_path
    ):
        router.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
        probe = router.routes[-1]
        assert isinstance(probe, Route)
        # Starlette lets HEAD into every GET route; the probes answer GET only (HEAD is a 405).
        probe.methods = {"GET"}


ProbeEndpoint = Callable[[Request], Awaitable[Response]]


def _probe_endpoints(
    checks: ReadinessChecks,
    metrics: PrometheusMetrics | None,
    *,
    health_path: str,
    ready_path: str,
    metrics_path: str,
) -> list[tuple[str, ProbeEndpoint]]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        if checks.draining:
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        results = await checks.run()
        report: dict[str, str] = {}
        for name, result in sorted(results.items()):
            match result:
                case Success():
                    report[name] = "ok"
                case Failure(error):
                    logger.warning("not ready: %s", error.message)
                    report[name] = "failed"
        is_ready = all(state == "ok" for state in report.values())
        return JSONResponse(
            {"status": "ready" if is_ready else "not_ready", "checks": report},
            status_code=200 if is_ready else 503,
        )

    endpoints: list[tuple[str, ProbeEndpoint]] = [(health_path, health), (ready_path, ready)]
    if metrics is not None:
        exposed = metrics

        async def metrics_endpoint(request: Request) -> Response:
            body, content_type = exposed.exposition()
            return Response(body, media_type=content_type)

        endpoints.append((metrics_path, metrics_endpoint))
    return endpoints
