"""Response timing: ``X-Response-Time`` and ``Server-Timing`` headers, slow-request warnings.

The headers carry the time until the response headers were sent (what a client can compare
with its own measurement); the slow-request warning uses the time until the last body byte.
This module must never touch the body, and never log anything for a request under the
threshold.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flext_api.server.request_id import request_id_var

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TimingMiddleware"]

logger = logging.getLogger("flext_api.server.timing")


def timing_headers(elapsed: float) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """The two timing headers for ``elapsed`` seconds, in milliseconds with 3 decimals."""
    ms = b"%.3f" % (elapsed * 1000.0)
    return (b"x-response-time", ms + b"ms"), (b"server-timing", b"app;dur=" + ms)


def warn_if_slow(scope: Scope, elapsed: float, threshold: float | None) -> None:
    """Warn on ``flext_api.server.timing`` when ``elapsed`` is over ``threshold`` (seconds)."""
    if threshold is not None and elapsed > threshold:
        logger.warning(
            "slow request: %s %s took %.1f ms (threshold %.1f ms)",
            scope["method"],
            scope["path"],
            elapsed * 1000.0,
            threshold * 1000.0,
            extra={"request_id": request_id_var.get()},
        )


class TimingMiddleware:
    """Add timing headers; warn on ``flext_api.server.timing`` above ``slow_threshold_ms``."""

    def __init__(self, app: ASGIApp, slow_threshold_ms: float | None = 1000.0) -> None:
        self.app = app
        self.slow_threshold = None if slow_threshold_ms is None else slow_threshold_ms / 1000.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    *timing_headers(time.perf_counter() - start),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            warn_if_slow(scope, time.perf_counter() - start, self.slow_threshold)
