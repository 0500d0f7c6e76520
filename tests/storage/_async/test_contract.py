"""The storage contract: every backend of tests/storage/conftest.py STORAGE_BACKENDS passes it,
on asyncio and trio here and blocking in the generated tests/storage/_sync twin."""

from __future__ import annotations

import gc
import io
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flext_api import AsyncFlextApiClient
from flext_api._result import Failure, Success
from flext_api.storage import (
    AsyncStorageBackend,
    ByteRange,
    ObjectInfo,
    StorageError,
)
from tests.storage.conftest import StorageFactory

pytestmark = pytest.mark.anyio  # unasync: remove

MiB = 1024 * 1024


@pytest.fixture
async def storage(storage_factory: StorageFactory) -> AsyncIterator[AsyncStorageBackend]:
    backend: AsyncStorageBackend = storage_factory.create(AsyncStorageBackend)
    yield backend
    await backend.aclose()


async def chunks(count: int, size: int, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index in range(count):
        if fail_after is not None and index == fail_after:
            raise OSError("the source broke")
        yield bytes([index % 251]) * size


def expect_failure(result: Success[object] | Failure[StorageError], code: str) -> StorageError:
    assert isinstance(result, Failure), result
    assert result.error_code == code, result.error
    assert isinstance(result.error, StorageError)
    return result.error


# -- upload and download ----------------------------------------------------------------------


async def test_bytes_round_trip_with_content_type_and_metadata(
    storage: AsyncStorageBackend,
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    stored = (
        await storage.upload_file(
            "docs/report.bin",
            b"hello, storage",
            content_type="application/x-report; version=2",
            metadata={"owner": "ada", "run_id": "42"},
        )
    ).unwrap()
    assert stored.key == "docs/report.bin" and stored.size == 14 and stored.etag
    info = (await storage.stat("docs/report.bin")).unwrap()
    assert info.size == 14
    assert info.etag == stored.etag
    assert info.content_type == "application/x-report; version=2"
    assert dict(info.metadata) == {"owner": "ada", "run_id": "42"}
    assert info.last_modified is not None and info.last_modified > before
    assert info.last_modified.tzinfo is not None
    assert (await storage.download_file("docs/report.bin")).unwrap() == b"hello, storage"


async def test_content_type_comes_from_the_extension_by_default(
    storage: AsyncStorageBackend,
) -> None:
    await storage.upload_file("page.html", b"<p>hi</p>")
    await storage.upload_file("blob", b"\x00\x01")
    assert (await storage.stat("page.html")).unwrap().content_type == "text/html"
    assert (await storage.stat("blob")).unwrap().content_type == "application/octet-stream"


async def test_upload_sources_path_file_and_iterators(
    storage: AsyncStorageBackend, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"from a path")
    assert (await storage.upload_file("p", source)).unwrap().size == 11
    with source.open("rb") as file:
        file.seek(5)  # from the current position on
        assert (await storage.upload_file("f", file)).unwrap().size == 6
    assert (await storage.upload_file("i", iter([b"it", b"", b"er"]))).unwrap().size == 4
    assert (await storage.upload_file("g", chunks(3, 10))).unwrap().size == 30
    assert (await storage.upload_file("e", b"")).unwrap().size == 0
    assert (await storage.download_file("p")).unwrap() == b"from a path"
    assert (await storage.download_file("f")).unwrap() == b"a path"
    assert (await storage.download_file("i")).unwrap() == b"iter"
    assert (await storage.download_file("g")).unwrap() == bytes([0]) * 10 + bytes([1]) * 10 + bytes(
        [2]
    ) * 10
    assert (await storage.download_file("e")).unwrap() == b""


async def test_upload_refuses_text_and_unknown_sources(storage: AsyncStorageBackend) -> None:
    with pytest.raises(TypeError, match="got a str"):
        await storage.upload_file("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot upload a int"):
        await storage.upload_file("k", 42)  # type: ignore[arg-type]
    assert not (await storage.exists("k")).unwrap()


async def test_download_to_a_path_replaces_it_atomically(
    storage: AsyncStorageBackend, tmp_path: Path
) -> None:
    await storage.upload_file("obj", b"new content", metadata={"v": "2"})
    target = tmp_path / "out" / "file.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    info = (await storage.download_file("obj", target)).unwrap()
    assert isinstance(info, ObjectInfo) and info.size == 11 and info.metadata == {"v": "2"}
    assert target.read_bytes() == b"new content"
    # A failed download leaves the path as it was, and no temporary file beside it.
    expect_failure(await storage.download_file("missing", target), "NOT_FOUND")
    expect_failure(
        await storage.download_file("obj", target, byte_range=ByteRange(99)), "INVALID_RANGE"
    )
    assert target.read_bytes() == b"new content"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


async def test_download_to_a_writable_and_as_a_stream(storage: AsyncStorageBackend) -> None:
    await storage.upload_file("obj", chunks(4, 1000))
    sink = io.BytesIO()
    assert (await storage.download_file("obj", sink)).unwrap().size == 4000
    assert len(sink.getvalue()) == 4000
    async with storage.open_download("obj", byte_range=ByteRange(1500)) as result:
        stream = result.unwrap()
        assert (stream.info.size, stream.start, stream.end, stream.length) == (
            4000,
            1500,
            4000,
            2500,
        )
        received = await stream.read()
    assert received == sink.getvalue()[1500:]
    async with storage.open_download("nope") as missing:
        expect_failure(missing, "NOT_FOUND")


async def test_leaving_a_download_early_releases_it(storage: AsyncStorageBackend) -> None:
    await storage.upload_file("k", b"x" * 300_000)
    for _ in range(3):  # a backend with a connection limit would hang here if it leaked
        async with storage.open_download("k") as result:
            async for chunk in result.unwrap():
                assert chunk
                break
    gc.collect()  # an unfinished chunk generator would warn now (trio) instead of closing
    assert (await storage.download_file("k")).unwrap() == b"x" * 300_000


# -- ranges -----------------------------------------------------------------------------------


async def test_byte_ranges(storage: AsyncStorageBackend) -> None:
    data = bytes(range(100))
    await storage.upload_file("r", data)
    cases = [
        (ByteRange(10, 20), data[10:20]),
        (ByteRange(90), data[90:]),
        (ByteRange(0, 1), data[:1]),
        (ByteRange(95, 500), data[95:]),  # an end past the object is cut to it
        (ByteRange(99, 100), data[99:]),
        (ByteRange.last(7), data[-7:]),
        (ByteRange.last(500), data),
    ]
    for byte_range, expected in cases:
        assert (await storage.download_file("r", byte_range=byte_range)).unwrap() == expected, (
            byte_range
        )


async def test_invalid_ranges(storage: AsyncStorageBackend) -> None:
    await storage.upload_file("r", b"0123456789")
    await storage.upload_file("empty", b"")
    for byte_range in (ByteRange(10), ByteRange(11, 20), ByteRange(1000)):
        error = expect_failure(
            await storage.download_file("r", byte_range=byte_range), "INVALID_RANGE"
        )
        assert error.key == "r" and error.backend == storage.name
    expect_failure(await storage.download_file("empty", byte_range=ByteRange(0)), "INVALID_RANGE")
    expect_failure(await storage.download_file("nope", byte_range=ByteRange(0, 5)), "NOT_FOUND")
    with pytest.raises(ValueError, match="must be past start"):
        ByteRange(5, 2)
    with pytest.raises(ValueError, match=">= 0"):
        ByteRange(-1)
    with pytest.raises(ValueError, match="n > 0"):
        ByteRange.last(0)


# -- delete, exists, stat -----------------------------------------------------------------------


async def test_delete_is_idempotent_and_exists_follows(storage: AsyncStorageBackend) -> None:
    await storage.upload_file("a/b/c.txt", b"x")
    assert (await storage.exists("a/b/c.txt")).unwrap() is True
    assert (await storage.delete_file("a/b/c.txt")).unwrap() is None
    assert (await storage.exists("a/b/c.txt")).unwrap() is False
    expect_failure(await storage.stat("a/b/c.txt"), "NOT_FOUND")
    expect_failure(await storage.download_file("a/b/c.txt"), "NOT_FOUND")
    assert (await storage.delete_file("a/b/c.txt")).is_success
    assert (await storage.list_files()).unwrap() == []


# -- listing ----------------------------------------------------------------------------------


async def test_listing_pages_through_many_objects_in_key_order(
    storage: AsyncStorageBackend,
) -> None:
    keys = sorted([f"many/{i:03d}" for i in range(23)] + ["many.txt", "manx", "other/1"])
    for key in keys:
        await storage.upload_file(key, key.encode())
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = (await storage.list_page("many/", page_token=token, page_size=5)).unwrap()
        assert len(page.items) <= 5
        seen.extend(item.key for item in page.items)
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == [k for k in keys if k.startswith("many/")]
    assert pages in (5, 6)  # 23 objects by 5: the last page may come back empty
    everything = (await storage.list_files(page_size=4)).unwrap()
    assert [i.key for i in everything] == keys
    assert all(i.size == len(i.key) for i in everything)
    limited = (await storage.list_files("many", limit=3)).unwrap()
    assert [i.key for i in limited] == [k for k in keys if k.startswith("many")][:3]
    lazily = [item.key async for item in storage.iter_files("other/", page_size=2)]
    assert lazily == ["other/1"]
    assert (await storage.list_files("nothing/")).unwrap() == []


# -- copy, conditions ---------------------------------------------------------------------------


async def test_copy_keeps_or_replaces_content_type_and_metadata(
    storage: AsyncStorageBackend,
) -> None:
    await storage.upload_file("src.json", b"{}", metadata={"a": "1"})
    kept = (await storage.copy_file("src.json", "copies/kept.json")).unwrap()
    assert kept.key == "copies/kept.json" and kept.size == 2
    info = (await storage.stat("copies/kept.json")).unwrap()
    assert info.content_type == "application/json" and info.metadata == {"a": "1"}
    await storage.copy_file(
        "src.json", "copies/new", content_type="text/plain", metadata={"b": "2"}
    )
    info = (await storage.stat("copies/new")).unwrap()
    assert info.content_type == "text/plain" and info.metadata == {"b": "2"}
    assert (await storage.download_file("copies/new")).unwrap() == b"{}"
    expect_failure(await storage.copy_file("missing", "x"), "NOT_FOUND")
    expect_failure(
        await storage.copy_file("src.json", "copies/new", overwrite=False), "PRECONDITION_FAILED"
    )
    assert (await storage.stat("copies/new")).unwrap().content_type == "text/plain"


async def test_create_only_uploads_and_if_match(storage: AsyncStorageBackend) -> None:
    first = (await storage.upload_file("once", b"v1", overwrite=False)).unwrap()
    expect_failure(await storage.upload_file("once", b"v2", overwrite=False), "PRECONDITION_FAILED")
    assert (await storage.download_file("once")).unwrap() == b"v1"
    assert (await storage.download_file("once", if_match=first.etag)).unwrap() == b"v1"
    second = (await storage.upload_file("once", b"v2-longer")).unwrap()
    assert second.etag != first.etag
    expect_failure(await storage.download_file("once", if_match=first.etag), "PRECONDITION_FAILED")


# -- refusals before any I/O --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "a/../b",
        "/abs",
        "a//b",
        "trailing/",
        "a\\b",
        "nul\x00",
        "new\nline",
        "k" * 1025,
        "./a",
    ],
)
async def test_invalid_keys(storage: AsyncStorageBackend, key: str) -> None:
    error = expect_failure(await storage.upload_file(key, b"x"), "INVALID_KEY")
    assert error.backend == storage.name
    expect_failure(await storage.download_file(key), "INVALID_KEY")
    expect_failure(await storage.stat(key), "INVALID_KEY")
    expect_failure(await storage.delete_file(key), "INVALID_KEY")
    expect_failure(await storage.copy_file("a", key), "INVALID_KEY")
    assert (await storage.list_files()).unwrap() == []


async def test_invalid_metadata_and_content_types(storage: AsyncStorageBackend) -> None:
    for metadata in (
        {"Upper": "x"},
        {"has-dash": "x"},
        {"ok": "caf\u00e9"},
        {"ok": "a\nb"},
        {"big": "x" * 3000},
    ):
        expect_failure(await storage.upload_file("k", b"x", metadata=metadata), "INVALID_METADATA")
    for content_type in ("text", "text/plain\r\nX-Evil: 1", "a b/c"):
        expect_failure(
            await storage.upload_file("k", b"x", content_type=content_type), "INVALID_METADATA"
        )
    expect_failure(await storage.copy_file("k", "j", metadata={"Bad": "1"}), "INVALID_METADATA")
    assert not (await storage.exists("k")).unwrap()


# -- streaming and atomic visibility --------------------------------------------------------------


async def test_large_streamed_upload_and_download_stay_within_a_memory_bound(
    storage_factory: StorageFactory,
) -> None:
    part = max(storage_factory.min_part_size, 1 * MiB)
    backend: AsyncStorageBackend = storage_factory.create(
        AsyncStorageBackend, multipart_threshold=2 * part, part_size=part, chunk_size=256 * 1024
    )
    async with backend as storage:
        total = 48 * MiB
        tracemalloc.start()
        try:
            stored = (
                await storage.upload_file("big", chunks(total // (256 * 1024), 256 * 1024))
            ).unwrap()
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            received = 0
            async with storage.open_download("big") as result:
                async for chunk in result.unwrap():
                    received += len(chunk)
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert stored.size == total and received == total
    bound = 3 * part + 8 * MiB
    assert upload_peak < bound, (upload_peak, bound)
    assert download_peak < bound, (download_peak, bound)


async def test_a_single_request_upload_streams_its_source(
    storage_factory: StorageFactory,
) -> None:
    """An upload of known size below the multipart threshold is one request, its body sent a
    chunk at a time: the client never holds the object (12 MiB) whole."""
    backend: AsyncStorageBackend = storage_factory.create(
        AsyncStorageBackend, multipart_threshold=16 * MiB, chunk_size=256 * 1024
    )
    async with backend as storage:
        total = 12 * MiB
        tracemalloc.start()
        try:
            stored = (await storage.upload_file("one", chunks(48, 256 * 1024), size=total)).unwrap()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stored.size == total
        info = (await storage.stat("one")).unwrap()
        assert info.size == total
        tail = (await storage.download_file("one", byte_range=ByteRange(total - 3))).unwrap()
        assert tail == bytes([47]) * 3
    assert peak < 4 * MiB, peak


async def test_a_failed_upload_leaves_nothing_visible(storage_factory: StorageFactory) -> None:
    part = max(storage_factory.min_part_size, 64 * 1024)
    backend: AsyncStorageBackend = storage_factory.create(
        AsyncStorageBackend, multipart_threshold=part, part_size=part, chunk_size=part // 2
    )
    async with backend as storage:
        # The source breaks after a few parts: no object, nothing half-written in a listing.
        error = expect_failure(
            await storage.upload_file("broken", chunks(10, part // 2, fail_after=5)),
            "UPLOAD_FAILED",
        )
        assert isinstance(error.__cause__, OSError)
        assert not (await storage.exists("broken")).unwrap()
        # Over an existing object: the old version stays whole.
        await storage.upload_file("kept", b"version 1")
        expect_failure(
            await storage.upload_file("kept", chunks(10, part // 2, fail_after=3)), "UPLOAD_FAILED"
        )
        # A source shorter or longer than its declared size fails the same way.
        expect_failure(await storage.upload_file("kept", iter([b"abc"]), size=10), "UPLOAD_FAILED")
        expect_failure(
            await storage.upload_file("kept", iter([b"abc"] * 5), size=4), "UPLOAD_FAILED"
        )
        assert (await storage.download_file("kept")).unwrap() == b"version 1"
        assert [i.key for i in (await storage.list_files()).unwrap()] == ["kept"]


# -- presigned URLs, health ----------------------------------------------------------------------


async def test_presigned_urls(
    storage_factory: StorageFactory, storage: AsyncStorageBackend
) -> None:
    await storage.upload_file("shared.txt", b"for anyone with the link")
    if not storage_factory.presign:
        error = expect_failure(await storage.presigned_get_url("shared.txt"), "UNSUPPORTED")
        assert "cannot presign" in str(error)
        expect_failure(await storage.presigned_put_url("up.txt"), "UNSUPPORTED")
        return
    get = (await storage.presigned_get_url("shared.txt", expires_in=300)).unwrap()
    assert get.method == "GET" and get.expires_at > datetime.now(UTC)
    put = (
        await storage.presigned_put_url("up.txt", expires_in=300, content_type="text/plain")
    ).unwrap()
    async with AsyncFlextApiClient() as client:
        fetched = (await client.get(get.url, headers=dict(get.headers))).unwrap()
        assert fetched.status_code == 200 and fetched.content == b"for anyone with the link"
        sent = (
            await client.put(put.url, headers=dict(put.headers), content=b"via the link")
        ).unwrap()
        assert sent.status_code in (200, 201), sent.content
    assert (await storage.download_file("up.txt")).unwrap() == b"via the link"


async def test_presign_refuses_impossible_expiries(storage: AsyncStorageBackend) -> None:
    for expires_in in (0, -1, 8 * 24 * 3600):
        with pytest.raises(ValueError, match="expires_in"):
            await storage.presigned_get_url("k", expires_in=expires_in)


async def test_health_check(storage: AsyncStorageBackend) -> None:
    assert (await storage.health_check()).is_success
