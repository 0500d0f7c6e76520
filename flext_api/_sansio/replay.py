"""When may a request be sent again? One rule, shared by the pool and the retry policy.

RFC 9110 section 9.2.2 names the idempotent methods: repeating one has the effect of sending it
once, so a request that may or may not have reached the server can be replayed. A request that
carries an ``Idempotency-Key`` header opted in whatever its method: the server deduplicates on
the key (the IETF httpapi idempotency-key draft), so a POST with a key is as safe to resend.

This module decides only; it never sends, sleeps or reads a clock.
"""

from __future__ import annotations

from typing import Final

from flext_api._headers import Headers

__all__ = ["IDEMPOTENCY_KEY", "IDEMPOTENT_METHODS", "Origin", "may_replay"]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
IDEMPOTENCY_KEY: Final = "idempotency-key"

Origin = tuple[str, str, int]
"""Where connections go: ``(scheme, host, port)``, the key of every per-origin table."""


def may_replay(method: str, headers: Headers) -> bool:
    """Whether sending this request twice is as safe as sending it once."""
    return method in IDEMPOTENT_METHODS or IDEMPOTENCY_KEY in headers
