"""RequestBookkeepingMiddleware: request id, timing, access log, metrics, security headers at once.

``create_fastapi_app`` uses it in place of the five separate middleware
(:class:`RequestIdMiddleware` -> :class:`TimingMiddleware` -> :class:`AccessLogMiddleware` ->
:class:`MetricsMiddleware` -> :class:`SecurityHeadersMiddleware`), with the same observable
behaviour: the same response headers in the same order, the same access line, the same
metrics and slow-request warning. With ``handle_errors=True`` it also stands in for an
:class:`ErrorMiddleware` directly inside it. Six layers cost six coroutine frames on the way
in, twelve ``send`` wrapper calls on the way out, three copies of the header list and three
timers per request; this is one of each, which was most of what the stack cost on a trivial
route.

It shares its pieces with the separate middleware (``accept_request_id``, ``timing_headers``,
``write_access_line``, ``PrometheusMetrics.observe``, ``SecurityHeaderSet``), so the two
cannot drift apart. This module must never touch a body, and never run the application in
another task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flext_api.server._disconnect import CLIENT_CLOSED_STATUS, DisconnectWatch, is_client_abort
from flext_api.server._routes import route_template
from flext_api.server.access_log import ACCESS_LOGGER_NAME, write_access_line
from flext_api.server.errors import send_unhandled
from flext_api.server.request_id import accept_request_id, request_id_var
from flext_api.server.security import DEFAULT_CSP, SecurityHeaderSet, add_missing_headers
from flext_api.server.timing import timing_headers, warn_if_slow

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from flext_api.server.metrics import PrometheusMetrics

__all__ = ["RequestBookkeepingMiddleware"]

_INFO = logging.INFO
_perf_counter = time.perf_counter


class RequestBookkeepingMiddleware:
    """The per-request bookkeeping of the server stack, as one pure-ASGI layer.

    ``access_log=False`` turns the access log off, ``metrics=None`` turns metrics off; the
    other arguments mean what they mean on the separate middleware (``access_logger`` defaults
    to ``flext_api.server.access``). ``handle_errors=True`` also does the job of an
    :class:`ErrorMiddleware` directly inside this layer (the factory sets it when no CORS
    layer sits between the two): an exception that escapes the app before the response
    started becomes the JSON error response, which is timed, logged and counted.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = "X-Request-ID",
        slow_threshold_ms: float | None = 1000.0,
        access_log: bool = True,
        access_logger: logging.Logger | None = None,
        access_log_skip_paths: Iterable[str] = ("/health", "/ready"),
        metrics: PrometheusMetrics | None = None,
        content_security_policy: str | None = DEFAULT_CSP,
        path_csp: dict[str, str] | None = None,
        hsts_max_age: int = 31_536_000,
        frame_options: str = "DENY",
        referrer_policy: str = "no-referrer",
        handle_errors: bool = False,
    ) -> None:
        self.app = app
        self.handle_errors = handle_errors
        self.header_name = header_name.lower().encode("latin-1")
        self.slow_threshold = None if slow_threshold_ms is None else slow_threshold_ms / 1000.0
        self.access_logger = (
            None if not access_log else access_logger or logging.getLogger(ACCESS_LOGGER_NAME)
        )
        self.access_log_skip_paths = frozenset(access_log_skip_paths)
        self.metrics = metrics
        self.security_headers = SecurityHeaderSet(
            content_security_policy=content_security_policy,
            path_csp=path_csp,
            hsts_max_age=hsts_max_age,
            frame_options=frame_options,
            referrer_policy=referrer_policy,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_name = self.header_name
        incoming = None
        for name, value in scope["headers"]:
            if name == header_name:
                incoming = value
                break
        request_id = accept_request_id(incoming)
        id_header = (header_name, request_id.encode("latin-1"))
        security = self.security_headers.for_request(scope)
        status = 0  # until the response starts
        watch = DisconnectWatch(receive)

        async def send_bookkept(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                watch.response_started = True
                # The one copy of the header list: the response object may reuse its own.
                headers = list(message.get("headers", ()))
                add_missing_headers(headers, security)
                headers.extend(timing_headers(_perf_counter() - start))
                headers.append(id_header)
                message["headers"] = headers
            await send(message)

        metrics = self.metrics
        token = request_id_var.set(request_id)
        try:
            if metrics is not None:
                metrics.in_flight.inc()
            start = _perf_counter()
            try:
                await self.app(scope, watch, send_bookkept)
            except Exception as exc:
                if is_client_abort(exc, watch):
                    # Nobody is left to answer and nothing failed here: the 499 below says it.
                    watch.closed_early = True
                    return
                if status or not self.handle_errors:
                    raise
                await send_unhandled(send_bookkept, scope, exc)
            finally:
                elapsed = _perf_counter() - start
                if watch.closed_early:
                    # Whatever the app answered after the client left (FastAPI answers 400
                    # to a body cut short) was never delivered.
                    status = CLIENT_CLOSED_STATUS
                status = status or 500  # the server answers 500 for an app that never started
                route = route_template(scope)
                if metrics is not None:
                    metrics.in_flight.dec()
                    metrics.observe(scope["method"], route, status, elapsed)
                logger = self.access_logger
                if (
                    logger is not None
                    and scope["path"] not in self.access_log_skip_paths
                    and logger.isEnabledFor(_INFO)
                ):
                    write_access_line(
                        logger,
                        scope,
                        route=route,
                        status=status,
                        elapsed=elapsed,
                        request_id=request_id,
                    )
                warn_if_slow(scope, elapsed, self.slow_threshold)
        finally:
            request_id_var.reset(token)
