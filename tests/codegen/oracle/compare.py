"""Plain-value comparison shared by the oracles: what the test passed or served against what the
independent validator or the generated client made of it.

Both sides become JSON-like builtins; date-times compare as instants, numbers by value, and
bytes as base64 (how msgspec writes them), so only a real difference in meaning remains.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

import msgspec


def plain(value: Any) -> Any:
    """``value`` as JSON-like builtins, formats normalised."""
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, msgspec.Struct | bytes | bytearray | uuid.UUID):
        return plain(msgspec.to_builtins(value))
    if isinstance(value, datetime.datetime):
        return _instant(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if v is not msgspec.UNSET}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return _maybe_instant(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _instant(value: datetime.datetime) -> Any:
    if value.tzinfo is None:
        return value.isoformat()
    return value.astimezone(datetime.UTC).isoformat()


def _maybe_instant(text: str) -> str:
    # A date-time written with 'Z', '+00:00' or extra fraction digits is the same instant.
    if len(text) >= 20 and text[4:5] == "-" and text[10:11] in ("T", "t"):
        try:
            return str(_instant(datetime.datetime.fromisoformat(text.replace("z", "Z"))))
        except ValueError:
            return text
    return text
