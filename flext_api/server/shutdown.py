"""Graceful shutdown for orchestrators: go unready first, keep serving, then stop.

When Kubernetes stops a pod it sends SIGTERM and, at the same moment, starts removing the pod
from its Service's endpoints; that removal takes a few seconds to reach every node. A server
that stops accepting at once drops the requests still routed to it during those seconds. So on
SIGTERM, with ``shutdown_drain_seconds`` set, the app:

1. turns ``/ready`` to 503 (``"status": "draining"``) at once, while ``/health`` and every
   other route keep answering;
2. after the drain period, hands the signal to the server's own handler (uvicorn, hypercorn),
   which stops accepting and lets in-flight requests finish before the process exits.

A second SIGTERM during the drain skips the rest of it. The handler is installed by the app's
lifespan (so only in a process that serves it) and only from the main thread (the only place
Python lets a signal handler be set); the previous handler is restored at shutdown. The timer
is a daemon thread: it works under asyncio and trio alike and never outlives the process.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from flext_api.server.health import ReadinessChecks

__all__ = ["DrainOnSigterm"]

logger = logging.getLogger("flext_api.server.shutdown")

_Handler = Any  # what signal.getsignal returns: a callable, SIG_DFL, SIG_IGN or None


class DrainOnSigterm:
    """SIGTERM handling: :meth:`install` and :meth:`uninstall` (the app's lifespan calls both)."""

    def __init__(self, checks: ReadinessChecks, drain_seconds: float) -> None:
        self.checks = checks
        self.drain_seconds = drain_seconds
        self._previous: _Handler = None
        self._timer: threading.Timer | None = None
        self._installed = False

    def install(self) -> bool:
        """Take over SIGTERM; ``False`` (nothing done) off the main thread or without a drain."""
        if self.drain_seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Put the previous SIGTERM handler back and stop a pending drain timer."""
        if self._timer is not None:
            self._timer.cancel()
        if self._installed and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)
        self._installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.checks.draining:
            # A second SIGTERM: the operator wants out now.
            if self._timer is not None:
                self._timer.cancel()
            self._forward(signum)
            return
        self.checks.draining = True
        logger.warning(
            "SIGTERM: /ready answers 503 for %.1fs, then the server stops accepting "
            "and lets in-flight requests finish",
            self.drain_seconds,
        )
        self._timer = threading.Timer(self.drain_seconds, self._forward, args=(signum,))
        self._timer.daemon = True
        self._timer.start()

    def _forward(self, signum: int) -> None:
        previous = self._previous
        if callable(previous):
            handler: Callable[[int, FrameType | None], Any] = previous
            handler(signum, None)
        elif previous == signal.SIG_DFL:
            # No server handler to hand over to: end the process as SIGTERM would have.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)
