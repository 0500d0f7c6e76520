"""The base class's own work, on a minimal in-memory backend: the default copy, probe and
presign, transport errors turned into storage errors, upload bodies and the parts helper."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from flext_api._exceptions import ConnectError, InvalidURL, ReadError
from flext_api._result import Failure
from flext_api.storage import (
    AsyncObjectStream,
    AsyncStorageBackend,
    AsyncUploadBody,
    ByteRange,
    ListPage,
    ObjectInfo,
    StorageError,
    StorageNotFound,
    async_iter_parts,
)

pytestmark = pytest.mark.anyio  # unasync: remove


class AsyncMemory(AsyncStorageBackend):
    """Objects in a dict; `broken` makes every primitive raise that transport error."""

    kind = "memory"

    def __init__(self, *, part_size: int = 4) -> None:
        super().__init__(part_size=part_size)
        self.objects: dict[str, tuple[bytes, ObjectInfo]] = {}
        self.broken: Exception | None = None
        self.cut_body = False
        self.closed = False
        self.parts: list[int] = []
        self.pages_fetched = 0

    def _check(self) -> None:
        if self.broken is not None:
            raise self.broken

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
        self._check()
        data = b""
        async for part in async_iter_parts(body, self.part_size):
            self.parts.append(len(part))
            data += part
        info = ObjectInfo(key, len(data), "e", None, content_type, dict(metadata))
        self.objects[key] = (data, info)
        return info

    @asynccontextmanager
    async def _open(
        self, key: str, *, byte_range: ByteRange | None, if_match: str | None
    ) -> AsyncIterator[AsyncObjectStream]:
        self._check()
        if key not in self.objects:
            raise StorageNotFound("missing", key=key)
        data, info = self.objects[key]
        yield AsyncObjectStream(info, self._body(data), backend=self.name)

    async def _body(self, data: bytes) -> AsyncIterator[bytes]:
        yield data[:1]
        if self.cut_body:
            raise ReadError("connection reset mid-body")
        yield data[1:]

    async def _head(self, key: str) -> ObjectInfo:
        self._check()
        if key not in self.objects:
            raise StorageNotFound("missing", key=key)
        return self.objects[key][1]

    async def _delete(self, key: str) -> None:
        self._check()
        self.objects.pop(key, None)

    async def _list_page(self, prefix: str, page_token: str | None, page_size: int) -> ListPage:
        self._check()
        self.pages_fetched += 1
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > (page_token or ""))
        items = tuple(self.objects[k][1] for k in keys[:page_size])
        return ListPage(items, items[-1].key if len(keys) > page_size else None)

    async def _close(self) -> None:
        self.closed = True


@pytest.fixture
async def memory() -> AsyncIterator[AsyncMemory]:
    async with AsyncMemory(part_size=4) as backend:
        yield backend
    assert backend.closed


async def test_transport_errors_become_storage_errors(memory: AsyncMemory, tmp_path: Path) -> None:
    await memory.upload_file("k", b"abc")
    memory.broken = ConnectError("refused")
    for result in (
        await memory.upload_file("k", b"x"),
        await memory.download_file("k"),
        await memory.stat("k"),
        await memory.exists("k"),
        await memory.delete_file("k"),
        await memory.list_files(),
        await memory.copy_file("k", "j"),
        await memory.health_check(),
    ):
        assert isinstance(result, Failure)
        assert result.error_code == "BACKEND_UNAVAILABLE", result
        assert result.error.backend == "memory"
        assert isinstance(result.error.__cause__, ConnectError)
        assert "retry later" in str(result.error)
    memory.broken = InvalidURL("bad endpoint")
    other = await memory.stat("k")
    assert isinstance(other, Failure) and other.error_code == "STORAGE_ERROR"
    assert "see the chained cause" in str(other.error)


async def test_a_body_cut_mid_download(memory: AsyncMemory, tmp_path: Path) -> None:
    await memory.upload_file("k", b"abcdef")
    memory.cut_body = True
    result = await memory.download_file("k")
    assert isinstance(result, Failure) and result.error_code == "BACKEND_UNAVAILABLE"
    assert "failed mid-body" in str(result.error)
    target = tmp_path / "out"
    assert isinstance(await memory.download_file("k", target), Failure)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
    async with memory.open_download("k") as opened:
        stream = opened.unwrap()
        assert await stream.__anext__() == b"a"
        with pytest.raises(StorageError, match="mid-body"):
            await stream.read()


async def test_default_copy_streams_and_presign_is_unsupported(memory: AsyncMemory) -> None:
    await memory.upload_file("src", b"0123456789", metadata={"a": "1"})
    memory.parts.clear()
    copied = (await memory.copy_file("src", "dst")).unwrap()
    assert copied.size == 10 and copied.metadata == {"a": "1"}
    assert memory.parts == [4, 4, 2]  # regrouped into part_size parts
    assert (await memory.download_file("dst")).unwrap() == b"0123456789"
    result = await memory.presigned_put_url("dst", content_type="text/plain")
    assert isinstance(result, Failure) and result.error_code == "UNSUPPORTED"
    assert "the memory backend cannot presign" in str(result.error)
    bad = await memory.presigned_put_url("dst", content_type="nonsense")
    assert isinstance(bad, Failure) and bad.error_code == "INVALID_METADATA"


async def test_download_destinations(memory: AsyncMemory, tmp_path: Path) -> None:
    await memory.upload_file("k", b"payload")
    written = await memory.download_file("k", tmp_path / "missing-dir" / "file")
    assert isinstance(written, Failure) and written.error_code == "STORAGE_ERROR"
    assert "writing 'k' to" in str(written.error)
    as_str = (await memory.download_file("k", str(tmp_path / "s"))).unwrap()
    assert as_str.size == 7 and (tmp_path / "s").read_bytes() == b"payload"
    # unasync: begin-async-only

    class AsyncSink:
        def __init__(self) -> None:
            self.data = b""

        async def write(self, data: bytes) -> None:
            self.data += data

    sink = AsyncSink()
    await memory.download_file("k", sink)
    assert sink.data == b"payload"
    # unasync: end-async-only


async def test_upload_bodies(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        AsyncUploadBody(b"", chunk_size=0)
    with pytest.raises(ValueError, match="size must be"):
        AsyncUploadBody(b"", size=-1)
    with pytest.raises(StorageError, match="cannot read the upload source"):
        AsyncUploadBody(tmp_path / "absent")
    text = tmp_path / "t.txt"
    text.write_text("text")
    with text.open() as handle, pytest.raises(TypeError, match="binary mode"):
        async for _ in AsyncUploadBody(handle):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="upload chunks are bytes"):
        async for _ in AsyncUploadBody(iter(["text"])):  # type: ignore[arg-type]
            pass

    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            return 0

    assert AsyncUploadBody(Pipe()).size is None
    body = AsyncUploadBody(bytearray(b"abcdefgh"), chunk_size=3)
    assert [bytes(chunk) async for chunk in body] == [b"abc", b"def", b"gh"]
    assert body.sent == 8
    parts = [
        len(part) async for part in async_iter_parts(AsyncUploadBody(b"x" * 10, chunk_size=3), 4)
    ]
    assert parts == [4, 4, 2]
    with pytest.raises(ValueError, match="part_size"):
        await async_iter_parts(AsyncUploadBody(b""), 0).__anext__()


async def test_argument_checks(memory: AsyncMemory) -> None:
    with pytest.raises(ValueError, match="part_size and chunk_size"):
        AsyncMemory(part_size=0)
    with pytest.raises(ValueError, match="page_size"):
        await memory.list_page(page_size=0)
    assert repr(memory) == "AsyncMemory(name='memory')"
    await memory.upload_file("a", b"1")
    await memory.upload_file("b", b"2")
    assert [i.key for i in (await memory.list_files(limit=1)).unwrap()] == ["a"]


async def test_iter_files_fetches_a_page_only_when_needed(memory: AsyncMemory) -> None:
    for i in range(7):
        await memory.upload_file(f"k{i}", b"x")
    memory.pages_fetched = 0
    listing = memory.iter_files(page_size=3)
    assert (await listing.__anext__()).key == "k0"
    assert memory.pages_fetched == 1
    rest = [item.key async for item in listing]
    assert rest == [f"k{i}" for i in range(1, 7)] and memory.pages_fetched == 3
    memory.broken = ConnectError("refused")
    with pytest.raises(StorageError, match="retry later"):
        await memory.iter_files().__anext__()
