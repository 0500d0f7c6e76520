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


def first_difference(got: Any, expected: Any, path: str = "$") -> str | None:
    """Where two plain values first differ, as ``$.a[0].b: got X, expected Y`` (short)."""
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in sorted(set(got) | set(expected), key=str):
            if key not in got:
                return f"{path}.{key}: missing, expected {_short(expected[key])}"
            if key not in expected:
                return f"{path}.{key}: got {_short(got[key])}, not in the payload"
            found = first_difference(got[key], expected[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(expected, list):
        if len(got) != len(expected):
            return f"{path}: {len(got)} items, expected {len(expected)}"
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if got != expected or (type(got) is not type(expected) and not _numbers(got, expected)):
        return f"{path}: got {_short(got)}, expected {_short(expected)}"
    return None


def _numbers(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
