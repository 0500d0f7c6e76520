"""Backends by kind name: ``create_storage("local", root=...)`` without importing every backend.

:data:`STORAGE_KINDS` maps a kind to ``"module:Class"``, the blocking class; the async class is
``Async<Class>`` in the same module (``LocalStorage`` / ``AsyncLocalStorage``). A backend adds
exactly one line here. Modules are imported on first use, so a kind nobody asks for costs
nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from flext_api.storage._async.backend import AsyncStorageBackend
    from flext_api.storage._sync.backend import StorageBackend

__all__ = ["STORAGE_KINDS", "create_async_storage", "create_storage", "storage_class"]

STORAGE_KINDS: Final[Mapping[str, str]] = {
    "local": "flext_api.storage.local:LocalStorage",
    "s3": "flext_api.storage.s3:S3Storage",
    "gcs": "flext_api.storage.gcs:GCSStorage",
    "azure": "flext_api.storage.azure:AzureBlobStorage",
}
"""Kind name -> ``"module:BlockingClass"`` (its ``Async`` twin lives beside it)."""


def storage_class(kind: str, *, asynchronous: bool = False) -> type[Any]:
    """The backend class registered as ``kind`` (``LookupError`` naming the known kinds)."""
    try:
        target = STORAGE_KINDS[kind]
    except KeyError:
        raise LookupError(
            f"no storage backend named {kind!r}; known: {', '.join(sorted(STORAGE_KINDS))}"
        ) from None
    module_name, _, attribute = target.partition(":")
    if asynchronous:
        attribute = f"Async{attribute}"
    module = importlib.import_module(module_name)
    cls: type[Any] = getattr(module, attribute)
    return cls


def create_storage(kind: str, /, **options: Any) -> StorageBackend:
    """A blocking backend of ``kind`` built with ``options`` (its constructor's keywords)."""
    backend: StorageBackend = storage_class(kind)(**options)
    return backend


def create_async_storage(kind: str, /, **options: Any) -> AsyncStorageBackend:
    """An async backend (asyncio and trio) of ``kind`` built with ``options``."""
    backend: AsyncStorageBackend = storage_class(kind, asynchronous=True)(**options)
    return backend
