"""The Azure Blob backend against Azurite (npm) on 127.0.0.1: Shared Key and SAS checked by the
emulator, block uploads, ranges, listings, copies, SAS URLs, errors with the service's own
words, and a kill mid-upload. Generated into tests/_sync/test_azure_storage.py; this file runs
on asyncio and trio."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flext_api import (
    AsyncFlextApiClient,
    AsyncRequestInterceptor,
    ConnectError,
    Failure,
    FlextApiError,
    Request,
    Success,
)
from flext_api._sansio.auth import Secret
from flext_api.storage import (
    ByteRange,
    StorageAccessDenied,
    StorageNotFound,
    StorageUnavailable,
)
from flext_api.storage.azure import (
    AZURITE_ACCOUNT_KEY,
    AZURITE_ACCOUNT_NAME,
    AsyncAzureBlobStorage,
    AzureCredentials,
    account_sas,
    blob_sas,
)
from tests.servers.azurite import Azurite, azurite_available, free_port, running_azurite

pytestmark = pytest.mark.anyio  # unasync: remove

SMALL = 64 * 1024
PART = 40 * 1024
WRONG_KEY = base64.b64encode(b"not the emulator's key, but base64 all the same").decode()


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    missing = azurite_available()
    if missing is not None:
        pytest.fail(missing)
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


def _container() -> str:
    return f"c{uuid.uuid4().hex[:16]}"


def _pattern(size: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


async def _backend(azurite: Azurite, **options: object) -> AsyncAzureBlobStorage:
    storage = AsyncAzureBlobStorage(
        _container(),
        connection_string=azurite.connection_string,
        multipart_threshold=SMALL,
        part_size=PART,
        **options,  # type: ignore[arg-type]
    )
    assert (await storage.create_container()).unwrap() is True
    assert (await storage.create_container()).unwrap() is False
    return storage


async def test_round_trip_metadata_ranges_and_listing(azurite: Azurite) -> None:
    async with await _backend(azurite) as storage:
        key = "reports/2026 q1/données+x%y.csv"  # spaces, non-ASCII, '+' and '%' are signed
        stored = (
            await storage.upload_file(key, b"a,b\n1,2\n", metadata={"owner": "ana", "key_1": "v"})
        ).unwrap()
        assert stored.size == 8 and stored.etag
        info = (await storage.stat(key)).unwrap()
        assert info.content_type == "text/csv"
        assert dict(info.metadata) == {"key_1": "v", "owner": "ana"}
        assert info.etag == stored.etag and info.last_modified is not None
        assert (await storage.download_file(key)).unwrap() == b"a,b\n1,2\n"
        part = await storage.download_file(key, byte_range=ByteRange(2, 5))
        assert part.unwrap() == b"b\n1"
        assert (await storage.download_file(key, byte_range=ByteRange.last(3))).unwrap() == b",2\n"
        for start in (8, 100):  # at the end (Azurite answers an empty 206) and past it (416)
            past = await storage.download_file(key, byte_range=ByteRange(start))
            assert isinstance(past, Failure) and past.error.code == "INVALID_RANGE"

        for n in range(5):
            (await storage.upload_file(f"logs/{n}.txt", b"x" * n, metadata={"n": str(n)})).unwrap()
        page = (await storage.list_page("logs/", page_size=2)).unwrap()
        assert [item.key for item in page.items] == ["logs/0.txt", "logs/1.txt"]
        assert page.next_token is not None
        listed = [item async for item in storage.iter_files("logs/", page_size=2)]
        assert [(i.key, i.size, i.metadata["n"]) for i in listed] == [
            (f"logs/{n}.txt", n, str(n)) for n in range(5)
        ]
        assert listed[0].content_type == "text/plain"

        assert (await storage.delete_file(key)).unwrap() is None
        assert (await storage.exists(key)).unwrap() is False
        assert (await storage.delete_file(key)).unwrap() is None  # idempotent


async def test_block_upload_is_staged_and_committed(azurite: Azurite, tmp_path: Path) -> None:
    data = _pattern(3 * PART + 123)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    async with await _backend(azurite) as storage:
        from_file = (await storage.upload_file("big/file.bin", source)).unwrap()
        assert from_file.size == len(data)
        unknown_size = iter([data[: PART // 2], data[PART // 2 :]])
        from_stream = (await storage.upload_file("big/stream.bin", unknown_size)).unwrap()
        assert from_stream.size == len(data)
        for key in ("big/file.bin", "big/stream.bin"):
            assert (await storage.download_file(key)).unwrap() == data
            blocks = await storage._call(
                "GET",
                key,
                operation="block list",
                query=[("comp", "blocklist"), ("blocklisttype", "committed")],
            )
            assert blocks.content.count(b"<Block>") == 4
        info = (await storage.stat("big/file.bin")).unwrap()
        assert info.content_type == "application/octet-stream"
        assert info.size == len(data)


async def test_overwrite_false_and_if_match(azurite: Azurite) -> None:
    async with await _backend(azurite) as storage:
        first = (await storage.upload_file("k.bin", b"one")).unwrap()
        again = await storage.upload_file("k.bin", b"two", overwrite=False)
        assert isinstance(again, Failure) and again.error.code == "PRECONDITION_FAILED"
        big = await storage.upload_file("k.bin", _pattern(SMALL + 1), overwrite=False)
        assert isinstance(big, Failure) and big.error.code == "PRECONDITION_FAILED"
        created = await storage.upload_file("new.bin", _pattern(SMALL + 1), overwrite=False)
        assert isinstance(created, Success)
        assert (await storage.download_file("k.bin", if_match=first.etag)).unwrap() == b"one"
        stale = await storage.download_file("k.bin", if_match="0x8D000000000000")
        assert isinstance(stale, Failure) and stale.error.code == "PRECONDITION_FAILED"
        assert stale.error.vendor_code == "ConditionNotMet"


async def test_errors_keep_the_service_answer(azurite: Azurite) -> None:
    async with await _backend(azurite) as storage:
        missing = await storage.download_file("nope.txt")
        assert isinstance(missing, Failure)
        assert isinstance(missing.error, StorageNotFound)
        assert missing.error.vendor_code == "BlobNotFound"
        assert missing.error.vendor_body and b"BlobNotFound" in missing.error.vendor_body
        stat = await storage.stat("nope.txt")
        assert isinstance(stat, Failure) and stat.error.code == "NOT_FOUND"
        container = storage.container
    wrong = AsyncAzureBlobStorage(
        container,
        endpoint=azurite.endpoint,
        account_name=AZURITE_ACCOUNT_NAME,
        account_key=WRONG_KEY,
    )
    async with wrong:
        refused = await wrong.upload_file("x.txt", b"x")
        assert isinstance(refused, Failure)
        assert isinstance(refused.error, StorageAccessDenied)
        assert refused.error.code == "ACCESS_DENIED"
        assert refused.error.vendor_code == "AuthorizationFailure"  # Azurite's word for it
        assert AZURITE_ACCOUNT_KEY not in repr(wrong) and WRONG_KEY not in str(refused.error)
        health = await wrong.health_check()
        assert isinstance(health, Failure) and health.error.code == "ACCESS_DENIED"
        denied = await wrong.create_container()
        assert isinstance(denied, Failure) and denied.error.code == "ACCESS_DENIED"


async def test_copy_replaces_metadata_and_content_type(azurite: Azurite) -> None:
    async with await _backend(azurite) as storage:
        (await storage.upload_file("src.txt", b"copy me", metadata={"a": "1"})).unwrap()
        kept = (await storage.copy_file("src.txt", "dst/kept.txt")).unwrap()
        assert kept.size == 7 and dict(kept.metadata) == {"a": "1"}
        changed = (
            await storage.copy_file(
                "src.txt", "dst/new.json", content_type="application/json", metadata={"b": "2"}
            )
        ).unwrap()
        assert changed.content_type == "application/json"
        assert dict(changed.metadata) == {"b": "2"}
        assert (await storage.download_file("dst/new.json")).unwrap() == b"copy me"
        missing = await storage.copy_file("absent.txt", "dst/x.txt")
        assert isinstance(missing, Failure) and missing.error.code == "NOT_FOUND"
        exists = await storage.copy_file("src.txt", "dst/kept.txt", overwrite=False)
        assert isinstance(exists, Failure) and exists.error.code == "PRECONDITION_FAILED"


async def test_sas_urls_for_put_and_get(azurite: Azurite) -> None:
    async with await _backend(azurite) as storage, AsyncFlextApiClient() as http:
        put = (await storage.presigned_put_url("shared/a.txt", content_type="text/plain")).unwrap()
        assert put.method == "PUT" and "sig=" in put.url
        sent = (await http.put(put.url, headers=dict(put.headers), content=b"via sas")).unwrap()
        assert sent.status_code == 201
        get = (await storage.presigned_get_url("shared/a.txt", expires_in=60)).unwrap()
        got = (await http.get(get.url)).unwrap()
        assert got.status_code == 200 and got.content == b"via sas"
        assert got.headers.get("content-type") == "text/plain"
        refused = (await http.put(get.url, headers=dict(put.headers), content=b"x")).unwrap()
        assert refused.status_code == 403  # a read SAS does not write
        tampered = (await http.get(get.url.replace("shared/a.txt", "shared/b.txt"))).unwrap()
        assert tampered.status_code == 403
        blob_url = get.url.split("?")[0]
        for minutes, status in ((5, 200), (-5, 403)):  # the same token, valid then expired
            token = blob_sas(
                AzureCredentials(AZURITE_ACCOUNT_NAME, Secret(AZURITE_ACCOUNT_KEY)),
                storage.container,
                "shared/a.txt",
                permissions="r",
                expiry=datetime.now(UTC) + timedelta(minutes=minutes),
            )
            assert (await http.get(f"{blob_url}?{token}")).unwrap().status_code == status


async def test_backend_on_an_account_sas(azurite: Azurite) -> None:
    async with await _backend(azurite) as owner:
        token = account_sas(
            AzureCredentials(AZURITE_ACCOUNT_NAME, Secret(AZURITE_ACCOUNT_KEY)),
            permissions="rwdlc",
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )
        storage = AsyncAzureBlobStorage(
            owner.container, endpoint=azurite.endpoint, sas_token="?" + token
        )
        async with storage:
            (await storage.upload_file("sas/x.bin", _pattern(SMALL + 5))).unwrap()
            assert (await storage.download_file("sas/x.bin")).unwrap() == _pattern(SMALL + 5)
            assert [i.key for i in (await storage.list_files("sas/")).unwrap()] == ["sas/x.bin"]
            copied = (await storage.copy_file("sas/x.bin", "sas/y.bin")).unwrap()
            assert copied.size == SMALL + 5
            presign = await storage.presigned_get_url("sas/x.bin")
            assert isinstance(presign, Failure) and presign.error.code == "UNSUPPORTED"


async def test_kill_mid_upload_leaves_nothing_and_the_pool_recovers(tmp_path: Path) -> None:
    missing = azurite_available()
    if missing is not None:
        pytest.fail(missing)
    with running_azurite(tmp_path / "data") as server:
        storage = AsyncAzureBlobStorage(
            _container(),
            connection_string=server.connection_string,
            multipart_threshold=SMALL,
            part_size=PART,
            part_retries=2,
        )
        async with storage:
            (await storage.create_container()).unwrap()
            (await storage.upload_file("victim.bin", b"old")).unwrap()

            def killing_source() -> Iterator[bytes]:
                for n in range(6):
                    if n == 3:
                        server.kill(graceful=True)
                    yield _pattern(PART)

            failed = await storage.upload_file("victim.bin", killing_source())
            assert isinstance(failed, Failure)
            assert failed.error.code == "UPLOAD_FAILED"
            assert "nothing new is visible" in failed.error.message
            server.start()  # same port, same data directory
            assert (await storage.download_file("victim.bin")).unwrap() == b"old"
            staged = await storage._call(
                "GET",
                "victim.bin",
                operation="block list",
                query=[("comp", "blocklist"), ("blocklisttype", "all")],
            )
            # Blocks of the broken upload were staged (the kill came mid-upload) and never
            # committed: the blob is still the old one.
            assert staged.content.count(b"<Block>") == 3, staged.content
            again = await storage.upload_file("victim.bin", _pattern(3 * PART))
            assert isinstance(again, Success)
            assert (await storage.download_file("victim.bin")).unwrap() == _pattern(3 * PART)


async def test_a_failed_block_is_retried_alone(azurite: Azurite) -> None:
    sent: list[str] = []

    def flaky(request: Request) -> Failure[FlextApiError] | None:
        query = request.url.query
        if "comp=block&" in query:
            sent.append(query)
            if len(sent) == 2:  # the second block's first attempt never reaches the service
                return Failure(ConnectError("injected: connection refused"))
        return None

    async with AsyncFlextApiClient(
        middleware=[AsyncRequestInterceptor(flaky)], cookies=False
    ) as http:
        storage = await _backend(azurite, client=http)
        async with storage:
            data = _pattern(3 * PART)
            (await storage.upload_file("retried.bin", data)).unwrap()
            assert (await storage.download_file("retried.bin")).unwrap() == data
            assert (await storage.health_check()).unwrap() is None
        # Blocks 0, 1 (refused), 1 again, 2: only the failed block was sent twice.
        assert len(sent) == 4 and sent[1] == sent[2] and len(set(sent)) == 3
        # The shared client is the caller's: still open after the backend closed.
        assert (await http.get(azurite.endpoint + "?comp=list")).unwrap().status_code == 403


async def test_unreachable_service_is_backend_unavailable() -> None:
    storage = AsyncAzureBlobStorage(
        "c",
        endpoint=f"http://127.0.0.1:{free_port()}/acct",
        sas_token="sv=1&sig=SECRET",
        multipart_threshold=SMALL,
        part_size=PART,
    )
    async with storage:
        stat = await storage.stat("a.txt")
        assert isinstance(stat, Failure) and stat.error.code == "BACKEND_UNAVAILABLE"
        assert stat.error.url is not None and "SECRET" not in stat.error.url
        assert "SECRET" not in str(stat.error)
        download = await storage.download_file("a.txt")
        assert isinstance(download, Failure) and download.error.code == "BACKEND_UNAVAILABLE"
        small = await storage.upload_file("a.txt", b"small")
        assert isinstance(small, Failure) and small.error.code == "BACKEND_UNAVAILABLE"
        blocks = await storage.upload_file("a.txt", _pattern(SMALL + 1))
        assert isinstance(blocks, Failure) and blocks.error.code == "UPLOAD_FAILED"
        assert isinstance(blocks.error.__cause__, StorageUnavailable)
        health = await storage.health_check()
        assert isinstance(health, Failure) and health.error.code == "BACKEND_UNAVAILABLE"
