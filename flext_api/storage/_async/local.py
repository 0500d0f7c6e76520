"""Objects as files under a root directory (``LocalStorage`` on the blocking side, generated).

Writes are atomic: the bytes go to a temporary file beside the target and are renamed over it
once complete, so a reader sees the old object or the new one, never a part, and a failed upload
leaves nothing. Keys are checked to stay inside the root (``..``, absolute paths and symbolic
links that lead out are ``INVALID_KEY``). Content type and metadata live in a JSON sidecar
beside the file. File I/O blocks the calling thread briefly, a chunk at a time, as the local
disk does for every async library without a thread pool.

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, ClassVar

from flext_api.storage._async.backend import (
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    AsyncStorageBackend,
)
from flext_api.storage._async.streams import DEFAULT_CHUNK_SIZE, AsyncObjectStream, AsyncUploadBody
from flext_api.storage._errors import StoragePreconditionFailed
from flext_api.storage._local_fs import LocalFS, discard
from flext_api.storage._types import ByteRange, ListPage, ObjectInfo

__all__ = ["AsyncLocalStorage"]


class AsyncLocalStorage(AsyncStorageBackend):
    """Objects under ``root`` (created unless ``create=False``)."""

    kind: ClassVar[str] = "local"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str | None = None,
        create: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        super().__init__(
            name=name,
            chunk_size=chunk_size,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
        )
        self._fs = LocalFS(root, name=self.name, create=create)

    @property
    def root(self) -> Path:
        """The root directory (symbolic links resolved)."""
        return self._fs.root

    async def _put(
        self,
        key: str,
        body: AsyncUploadBody,
        *,
        size: int | None,
        content_type: str,
        metadata: Mapping[str, str],
        overwrite: bool,
    ) -> ObjectInfo:
        fs = self._fs
        path = fs.path(key)
        fs.prepare_parent(key, path)
        if path.is_dir():
            raise fs.conflict(key)
        temp = fs.temp_path(path)
        sidecar: Path | None = None
        try:
            written = 0
            with fs.create(temp) as file:
                async for chunk in body:
                    file.write(chunk)
                    written += len(chunk)
                file.flush()
                os.fsync(file.fileno())
            sidecar = fs.write_sidecar(path, written, content_type, metadata)
            if overwrite:
                os.replace(temp, path)
            else:
                try:
                    os.link(temp, path)  # fails, atomically, when the key exists
                except FileExistsError:
                    raise StoragePreconditionFailed(
                        f"{self.name}: {key!r} exists and overwrite=False; delete it first "
                        "or allow overwriting",
                        backend=self.name,
                        key=key,
                    ) from None
                os.unlink(temp)
            os.replace(sidecar, fs.meta_path(path))
            sidecar = None
        except OSError as exc:
            discard(temp, sidecar)
            fs.prune(path.parent)
            if isinstance(exc, IsADirectoryError | NotADirectoryError):
                raise fs.conflict(key) from exc
            raise fs.error(exc, key, "upload") from exc
        except BaseException:
            discard(temp, sidecar)
            fs.prune(path.parent)  # the folders made for it, when they hold nothing else
            raise
        return fs.info(key, path)

    @asynccontextmanager
    async def _open(
        self, key: str, *, byte_range: ByteRange | None, if_match: str | None
    ) -> AsyncIterator[AsyncObjectStream]:
        fs = self._fs
        path = fs.path(key)
        with fs.open_read(key, path) as file:
            info = fs.info(key, path, os.fstat(file.fileno()))
            if if_match is not None and if_match != info.etag:
                raise StoragePreconditionFailed(
                    f"{self.name}: {key!r} changed (etag {info.etag!r}, expected {if_match!r}); "
                    "read it again",
                    backend=self.name,
                    key=key,
                )
            start, end = (
                (0, info.size)
                if byte_range is None
                else byte_range.resolve(info.size, backend=self.name, key=key)
            )
            file.seek(start)
            yield AsyncObjectStream(
                info, self._chunks(file, end - start), start=start, end=end, backend=self.name
            )

    async def _chunks(self, file: IO[bytes], remaining: int) -> AsyncIterator[bytes]:
        while remaining > 0:
            chunk = file.read(min(self.chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    async def _head(self, key: str) -> ObjectInfo:
        return self._fs.info(key, self._fs.path(key))

    async def _delete(self, key: str) -> None:
        self._fs.remove(key, self._fs.path(key))

    async def _list_page(self, prefix: str, page_token: str | None, page_size: int) -> ListPage:
        fs = self._fs
        items: list[ObjectInfo] = []
        walker = fs.walk(prefix, page_token)
        for key, st in walker:
            if len(items) == page_size:
                return ListPage(tuple(items), items[-1].key)
            items.append(fs.info(key, fs.root / key, st))
        return ListPage(tuple(items), None)

    async def _probe(self) -> None:
        self._fs.check_root(None)
        probe = self._fs.temp_path(self._fs.root / "probe")
        try:
            probe.write_bytes(b"")
        except OSError as exc:
            raise self._fs.error(exc, None, "health check") from exc
        finally:
            discard(probe)
