"""Object storage: one API over the local filesystem and cloud object stores, blocking or async.

:class:`StorageBackend` (blocking) and :class:`AsyncStorageBackend` (asyncio and trio) share
one API; every call returns a ``FlextResult`` whose failure is a :class:`StorageError` with a
stable ``code`` (``NOT_FOUND``, ``ACCESS_DENIED``, ``PRECONDITION_FAILED``,
``BACKEND_UNAVAILABLE``...). Backends implement a handful of primitives documented in
:mod:`flext_api.storage._async.backend`; :data:`STORAGE_KINDS` finds them by name.
"""

from __future__ import annotations

from flext_api.storage._async.backend import AsyncStorageBackend, Writable
from flext_api.storage._async.multi import AsyncMultiBackend
from flext_api.storage._async.streams import AsyncObjectStream, AsyncUploadBody, async_iter_parts
from flext_api.storage._errors import (
    MAX_VENDOR_BODY,
    StorageAccessDenied,
    StorageBackendsFailed,
    StorageChecksumMismatch,
    StorageError,
    StorageInvalidKey,
    StorageInvalidMetadata,
    StorageInvalidRange,
    StorageNotFound,
    StoragePreconditionFailed,
    StorageQuorumNotMet,
    StorageThrottled,
    StorageUnavailable,
    StorageUnsupported,
    StorageUploadFailed,
    storage_error_for_status,
)
from flext_api.storage._health import BackendHealth
from flext_api.storage._kinds import STORAGE_KINDS, create_async_storage, create_storage
from flext_api.storage._sync.backend import StorageBackend
from flext_api.storage._sync.multi import MultiBackend
from flext_api.storage._sync.streams import ObjectStream, UploadBody, iter_parts
from flext_api.storage._types import (
    BackendOutcome,
    ByteRange,
    ListPage,
    MultiOutcome,
    ObjectInfo,
    PresignedURL,
)
from flext_api.storage.local import AsyncLocalStorage, LocalStorage

__all__ = [
    "MAX_VENDOR_BODY",
    "STORAGE_KINDS",
    "AsyncLocalStorage",
    "AsyncMultiBackend",
    "AsyncObjectStream",
    "AsyncStorageBackend",
    "AsyncUploadBody",
    "BackendHealth",
    "BackendOutcome",
    "ByteRange",
    "ListPage",
    "LocalStorage",
    "MultiBackend",
    "MultiOutcome",
    "ObjectInfo",
    "ObjectStream",
    "PresignedURL",
    "StorageAccessDenied",
    "StorageBackend",
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
    "UploadBody",
    "Writable",
    "async_iter_parts",
    "create_async_storage",
    "create_storage",
    "iter_parts",
    "storage_error_for_status",
]
