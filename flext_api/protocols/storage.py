"""Object storage in the protocol registry: ``registry.get_protocol("storage")``.

The backends themselves are :mod:`flext_api.storage`; this protocol opens one by kind name
(:data:`flext_api.storage.STORAGE_KINDS`: ``"local"`` and the cloud backends) and closes what
it opened when it is closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flext_api.protocols import BaseProtocol
from flext_api.storage import (
    AsyncStorageBackend,
    StorageBackend,
    create_async_storage,
    create_storage,
)

__all__ = ["StorageProtocol"]


class StorageProtocol(BaseProtocol):
    """``open(kind, **options)`` builds a blocking backend (``open_async`` an async one) with
    ``options`` as its constructor's keywords over the protocol's ``config``; ``close()``
    closes the blocking ones it opened (``aclose()`` the async ones)."""

    name: ClassVar[str] = "storage"

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._opened: list[StorageBackend] = []
        self._opened_async: list[AsyncStorageBackend] = []

    def open(self, kind: str, **options: Any) -> StorageBackend:
        backend = create_storage(kind, **{**self.config, **options})
        self._opened.append(backend)
        return backend

    def open_async(self, kind: str, **options: Any) -> AsyncStorageBackend:
        backend = create_async_storage(kind, **{**self.config, **options})
        self._opened_async.append(backend)
        return backend

    def close(self) -> None:
        opened, self._opened = self._opened, []
        for backend in opened:
            backend.close()
        super().close()

    async def aclose(self) -> None:
        """Close the async backends this protocol opened (and the blocking ones)."""
        opened, self._opened_async = self._opened_async, []
        for backend in opened:
            await backend.aclose()
        self.close()
