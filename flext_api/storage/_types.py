"""The values storage calls return and take: object info, byte ranges, list pages, presigned URLs,
per-backend outcomes. Plain frozen data that pickles; no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

from flext_api.storage._errors import StorageError, StorageInvalidRange

__all__ = [
    "BackendOutcome",
    "ByteRange",
    "ListPage",
    "MultiOutcome",
    "ObjectInfo",
    "PresignedURL",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a backend knows about one stored object.

    ``size`` is the whole object's size in bytes; ``etag`` is the backend's opaque version tag
    without surrounding quotes (compare it, never parse it); ``last_modified`` is timezone-aware
    UTC. In a listing, ``content_type`` may be ``None`` and ``metadata`` empty when the backend
    does not list them (S3): ``stat`` the key for the full picture.
    """

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A part of an object, as Python slices it: bytes ``start`` up to (not including) ``end``
    (``None``: to the end). ``ByteRange.last(n)`` is the final ``n`` bytes.

    An impossible range (negative start, ``end <= start``) raises ``ValueError`` here; a range
    that starts at or past the end of the object is an ``INVALID_RANGE`` failure of the
    download; an ``end`` past the end is cut to it, as HTTP does.
    """

    start: int = 0
    end: int | None = None
    suffix: int | None = None

    def __post_init__(self) -> None:
        if self.suffix is not None:
            if self.suffix <= 0 or self.start or self.end is not None:
                raise ValueError("ByteRange.last(n) takes n > 0 and no start/end")
            return
        if self.start < 0:
            raise ValueError(f"ByteRange start must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"ByteRange end ({self.end}) must be past start ({self.start})")

    @classmethod
    def last(cls, length: int) -> ByteRange:
        """The final ``length`` bytes (the whole object when it is shorter)."""
        return cls(suffix=length)

    def header_value(self) -> str:
        """The HTTP ``Range`` header value: ``bytes=0-99``, ``bytes=100-``, ``bytes=-50``."""
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        if self.end is None:
            return f"bytes={self.start}-"
        return f"bytes={self.start}-{self.end - 1}"

    def resolve(
        self, size: int, *, backend: str | None = None, key: str | None = None
    ) -> tuple[int, int]:
        """``(start, end)`` within an object of ``size`` bytes, ``end`` exclusive; raises
        :class:`StorageInvalidRange` when the range starts at or past the end."""
        if self.suffix is not None:
            if size == 0:
                raise self._invalid(size, backend, key)
            return max(0, size - self.suffix), size
        if self.start >= size:
            raise self._invalid(size, backend, key)
        end = size if self.end is None else min(self.end, size)
        return self.start, end

    def _invalid(self, size: int, backend: str | None, key: str | None) -> StorageError:
        return StorageInvalidRange(
            f"{backend or 'storage'}: range {self.header_value()} of {key!r} starts at or past "
            f"the end of the object ({size} bytes): ask for a range inside it",
            backend=backend,
            key=key,
            status_code=416,
        )


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing: ``items`` in key order and the token of the next page (``None``
    on the last page). Pass ``next_token`` back as ``page_token``; it is opaque."""

    items: tuple[ObjectInfo, ...]
    next_token: str | None = None


@dataclass(frozen=True, slots=True)
class PresignedURL:
    """A URL that grants ``method`` on one object until ``expires_at`` (UTC) without other
    credentials. A client must send ``headers`` with the request (a signed content type...)."""

    url: str
    method: Literal["GET", "PUT"]
    expires_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BackendOutcome:
    """What one backend of a MultiBackend did for one call: ``ok``, the ``error`` it failed
    with, or ``skipped`` (marked down, or not needed) with the reason in ``note``."""

    backend: str
    ok: bool
    error: StorageError | None = None
    skipped: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class MultiOutcome(Generic[T]):
    """A MultiBackend call's value and how each backend took part (in the order they were
    tried). ``backend`` names the one whose answer ``value`` is."""

    value: T
    backend: str
    outcomes: tuple[BackendOutcome, ...]

    @property
    def succeeded(self) -> tuple[str, ...]:
        """The backends that did it."""
        return tuple(o.backend for o in self.outcomes if o.ok)

    @property
    def failed(self) -> tuple[str, ...]:
        """The backends that were tried and failed."""
        return tuple(o.backend for o in self.outcomes if not o.ok and not o.skipped)
