"""The cache's failures: one family under :class:`flext_api.FlextApiError`, a stable code each.

A cache call returns these inside a ``Failure``; it never raises them (``unwrap()`` does).
This module must never import a backend: the HTTP cache middleware and the server import it
to match on codes.
"""

from __future__ import annotations

from flext_api._exceptions import FlextApiError

__all__ = ["CacheDecodeError", "CacheEncodeError", "CacheError", "CacheUnavailable"]


class CacheError(FlextApiError):
    """Root of the cache's failures."""

    code = "CACHE_ERROR"


class CacheUnavailable(CacheError):
    """The backend is down, hung or refused the command. ``fail_open=True`` turns it into a miss."""

    code = "CACHE_UNAVAILABLE"


class CacheEncodeError(CacheError):
    """``set`` was given a value that is neither bytes nor msgspec-encodable."""

    code = "CACHE_ENCODE_ERROR"


class CacheDecodeError(CacheError):
    """``get_value`` found bytes that do not decode to the type asked for."""

    code = "CACHE_DECODE_ERROR"
