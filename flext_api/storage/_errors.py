"""Object storage failures: one family under :class:`flext_api.FlextApiError`, a stable code each.

A storage call returns these inside a ``Failure``; it never raises them (``unwrap()`` does, and
the lazy listing and download iterators do, as streaming bodies do). Every error carries what a
person needs to act on it: ``backend`` (the backend's name), ``key``, ``status_code`` (the HTTP
status a cloud backend got), ``vendor_code`` (``NoSuchKey``, ``BlobNotFound``...) and
``vendor_body`` (the vendor's error document, at most :data:`MAX_VENDOR_BODY` bytes, with
``vendor_body_truncated`` set when it was cut). A MultiBackend's failures also carry
``outcomes``: what each backend did.

Backends map vendor answers with :func:`storage_error_for_status`; the codes are:

================================  ========================  ====================================
class                             code                      when
================================  ========================  ====================================
:class:`StorageError`             ``STORAGE_ERROR``         anything not named below (a 400...)
:class:`StorageNotFound`          ``NOT_FOUND``             no object under the key (404)
:class:`StorageAccessDenied`      ``ACCESS_DENIED``         bad or missing credentials (401/403)
:class:`StoragePreconditionFailed` ``PRECONDITION_FAILED``  ``if_match``/``overwrite=False``
                                                            refused (412, 409 on create-only)
:class:`StorageUnavailable`       ``BACKEND_UNAVAILABLE``   network, timeout, 5xx: retry later
:class:`StorageThrottled`         ``THROTTLED``             429 / SlowDown: retry more slowly
:class:`StorageInvalidKey`        ``INVALID_KEY``           the key is not portable or escapes
:class:`StorageInvalidRange`      ``INVALID_RANGE``         the range starts past the end (416)
:class:`StorageInvalidMetadata`   ``INVALID_METADATA``      metadata or content type refused
:class:`StorageUploadFailed`      ``UPLOAD_FAILED``         the upload broke; nothing is visible
:class:`StorageChecksumMismatch`  ``CHECKSUM_MISMATCH``     bytes differ from their checksum
:class:`StorageUnsupported`       ``UNSUPPORTED``           this backend cannot do that
:class:`StorageBackendsFailed`    ``ALL_BACKENDS_FAILED``   a MultiBackend found no backend
:class:`StorageQuorumNotMet`      ``QUORUM_NOT_MET``        too few backends took a write
================================  ========================  ====================================

This module must never import a backend or do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from flext_api._exceptions import FlextApiError

if TYPE_CHECKING:
    from flext_api.storage._types import BackendOutcome

__all__ = [
    "MAX_VENDOR_BODY",
    "StorageAccessDenied",
    "StorageBackendsFailed",
    "StorageChecksumMismatch",
    "StorageError",
    "StorageInvalidKey",
    "StorageInvalidMetadata",
    "StorageInvalidRange",
    "StorageNotFound",
    "StoragePreconditionFailed",
    "StorageQuorumNotMet",
    "StorageThrottled",
    "StorageUnavailable",
    "StorageUnsupported",
    "StorageUploadFailed",
    "storage_error_for_status",
]

MAX_VENDOR_BODY: Final = 64 * 1024
"""The most bytes of a vendor's error body an error keeps (the rest is dropped)."""


class StorageError(FlextApiError):
    """Root of the storage failures (``STORAGE_ERROR`` for a vendor answer no code names)."""

    code = "STORAGE_ERROR"

    # Set by a MultiBackend on the failure it returns: how each backend took part.
    outcomes: tuple[BackendOutcome, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        key: str | None = None,
        status_code: int | None = None,
        vendor_code: str | None = None,
        vendor_body: bytes | str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.backend = backend
        self.key = key
        self.status_code = status_code
        self.vendor_code = vendor_code
        body = (
            vendor_body.encode("utf-8", "replace") if isinstance(vendor_body, str) else vendor_body
        )
        self.vendor_body_truncated = body is not None and len(body) > MAX_VENDOR_BODY
        self.vendor_body: bytes | None = None if body is None else bytes(body[:MAX_VENDOR_BODY])

    def __repr__(self) -> str:
        where = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("backend", self.backend),
                ("key", self.key),
                ("status_code", self.status_code),
                ("vendor_code", self.vendor_code),
            )
            if value is not None
        )
        extra = f", {where}" if where else ""
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}{extra})"


class StorageNotFound(StorageError):
    """No object under the key (or the bucket/container does not exist)."""

    code = "NOT_FOUND"


class StorageAccessDenied(StorageError):
    """The credentials are missing, wrong, expired or lack the permission asked for."""

    code = "ACCESS_DENIED"


class StoragePreconditionFailed(StorageError):
    """A condition did not hold: ``if_match`` named another version, or ``overwrite=False``
    found an object already there."""

    code = "PRECONDITION_FAILED"


class StorageUnavailable(StorageError):
    """The backend could not be reached or failed on its side (network, timeout, 5xx); the same
    call may work later."""

    code = "BACKEND_UNAVAILABLE"


class StorageThrottled(StorageUnavailable):
    """The backend asked us to slow down (429, ``SlowDown``, ``ServerBusy``)."""

    code = "THROTTLED"


class StorageInvalidKey(StorageError):
    """The key is empty, too long, holds control characters or empty/``.``/``..`` segments, or
    leads out of a local root; no backend was asked."""

    code = "INVALID_KEY"


class StorageInvalidRange(StorageError):
    """The byte range starts at or past the end of the object."""

    code = "INVALID_RANGE"


class StorageInvalidMetadata(StorageError):
    """A metadata name or value, or the content type, cannot be stored portably."""

    code = "INVALID_METADATA"


class StorageUploadFailed(StorageError):
    """The upload did not complete (the source failed, a part kept failing); nothing of it is
    visible under the key."""

    code = "UPLOAD_FAILED"


class StorageChecksumMismatch(StorageError):
    """The bytes received do not match the checksum sent with them."""

    code = "CHECKSUM_MISMATCH"


class StorageUnsupported(StorageError):
    """This backend cannot do what was asked (a presigned URL from the local backend...)."""

    code = "UNSUPPORTED"


class StorageBackendsFailed(StorageError):
    """Every backend of a MultiBackend that was tried failed; ``outcomes`` says how each did."""

    code = "ALL_BACKENDS_FAILED"

    def __init__(
        self, message: str, *, outcomes: Sequence[BackendOutcome] = (), key: str | None = None
    ) -> None:
        super().__init__(message, backend="multi", key=key)
        self.outcomes = tuple(outcomes)


class StorageQuorumNotMet(StorageBackendsFailed):
    """A write reached fewer backends than the quorum asks; ``outcomes`` says how each did."""

    code = "QUORUM_NOT_MET"


_BY_STATUS: Final[dict[int, type[StorageError]]] = {
    304: StoragePreconditionFailed,
    401: StorageAccessDenied,
    403: StorageAccessDenied,
    404: StorageNotFound,
    412: StoragePreconditionFailed,
    416: StorageInvalidRange,
    429: StorageThrottled,
    503: StorageThrottled,
}

_ADVICE: Final[dict[type[StorageError], str]] = {
    StorageNotFound: "check the key (and that the bucket/container exists)",
    StorageAccessDenied: "check the credentials and their permissions on this bucket/container",
    StoragePreconditionFailed: "the object changed or exists: read it again, then retry",
    StorageInvalidRange: "ask for a range that starts before the end of the object",
    StorageThrottled: "the backend asks for fewer requests: retry later, more slowly",
    StorageUnavailable: "the backend failed on its side: retry later",
    StorageError: "see vendor_body for the backend's explanation",
}


def storage_error_for_status(
    status_code: int,
    *,
    backend: str,
    key: str | None,
    operation: str,
    vendor_code: str | None = None,
    vendor_body: bytes | str | None = None,
    url: str | None = None,
) -> StorageError:
    """The error for a vendor's HTTP error answer: 404 ``NOT_FOUND``, 401/403 ``ACCESS_DENIED``,
    304/412 ``PRECONDITION_FAILED``, 416 ``INVALID_RANGE``, 429/503 ``THROTTLED``, other 5xx
    ``BACKEND_UNAVAILABLE``, anything else ``STORAGE_ERROR``. ``operation`` (``"upload"``,
    ``"GET object"``...) starts the message."""
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = StorageUnavailable if status_code >= 500 else StorageError
    what = f"{operation} {key!r}" if key is not None else operation
    vendor = f" ({vendor_code})" if vendor_code else ""
    return cls(
        f"{backend}: {what} answered {status_code}{vendor}: {_ADVICE[cls]}",
        backend=backend,
        key=key,
        status_code=status_code,
        vendor_code=vendor_code,
        vendor_body=vendor_body,
        url=url,
    )
