"""Values in and out of the cache: bytes as they are, anything else as msgspec JSON.

Encoding happens in ``set``, so a value msgspec cannot encode is a ``CACHE_ENCODE_ERROR``
there, never a surprise at a later ``get``. Never does I/O.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from flext_api.cache._errors import CacheDecodeError, CacheEncodeError

__all__ = ["decode", "encode"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


def encode(key: str, value: object) -> bytes | CacheEncodeError:
    """The bytes to store for ``value``, or the error saying why it cannot be stored."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        error = CacheEncodeError(
            f"cannot cache {type(value).__name__} under {key!r} ({exc}): store bytes, or a "
            "value msgspec can encode (Struct, dict, list, str, int, float, bool, None...)"
        )
        error.__cause__ = exc
        return error


def decode(key: str, data: bytes, type_: type[T]) -> T | CacheDecodeError:
    """``data`` decoded as ``type_``, or the error saying why it does not fit."""
    try:
        return msgspec.json.decode(data, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        error = CacheDecodeError(
            f"the value cached under {key!r} is not a valid {getattr(type_, '__name__', type_)} "
            f"({exc}): it was stored by other code or an older schema; delete the key"
        )
        error.__cause__ = exc
        return error
