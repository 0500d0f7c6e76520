"""Diagnostics: what the generator skipped or degraded, where (JSON pointer), and what it did
instead.

A defect in one schema or operation never aborts a run (CODEGEN.md G2): the parser records a
`Diagnostic` and degrades the construct. This module must never raise for a defect itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["warning", "info"]


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One defect: the JSON pointer into the source document, why, and the action taken."""

    pointer: str
    reason: str
    action: str
    severity: Severity = "warning"

    def to_json(self) -> dict[str, str]:
        """The diagnostic as a plain mapping (the shape `--diagnostics json` prints)."""
        return {
            "pointer": self.pointer,
            "reason": self.reason,
            "action": self.action,
            "severity": self.severity,
        }


@dataclass(slots=True)
class Diagnostics:
    """An ordered, de-duplicated collection: reporting the same defect twice keeps one entry."""

    _items: dict[tuple[str, str], Diagnostic] = field(default_factory=dict)

    def report(
        self, pointer: str, reason: str, action: str, severity: Severity = "warning"
    ) -> None:
        """Record a defect once (keyed by pointer and reason)."""
        self._items.setdefault((pointer, reason), Diagnostic(pointer, reason, action, severity))

    def __len__(self) -> int:
        return len(self._items)

    def sorted(self) -> list[Diagnostic]:
        """All diagnostics, sorted by pointer then reason (stable output)."""
        return sorted(self._items.values())

    def to_json(self) -> str:
        """A JSON array of the diagnostics, one object each, sorted."""
        return json.dumps([d.to_json() for d in self.sorted()], indent=2)


def escape_pointer_token(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(pointer: str, *tokens: str | int) -> str:
    """Append reference tokens to a pointer (``#/a`` + ``b/c`` -> ``#/a/b~1c``)."""
    return pointer + "".join("/" + escape_pointer_token(str(t)) for t in tokens)
