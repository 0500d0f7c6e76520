"""The GCS backend against gcp-storage-emulator (a child process on 127.0.0.1) and, for auth,
against the loopback token endpoint of tests/storage_gcs/token_server.py. Generated into
tests/_sync/test_gcs_storage.py for the blocking backend."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flext_api import AsyncFlextApiClient
from flext_api._result import Failure
from flext_api.storage import ByteRange
from flext_api.storage import create_async_storage as create_storage  # unasync: remove
from flext_api.storage.gcs import AsyncGCSStorage, ServiceAccountCredentials
from tests.concurrency import agather as gather  # unasync: remove
from tests.storage_gcs import keys
from tests.storage_gcs.emulator import BUCKET, Emulator, run_emulator
from tests.storage_gcs.token_server import TokenServer, run_token_server

# unasync: sync-only: from flext_api.storage import create_storage
# unasync: sync-only: from tests.concurrency import gather

pytestmark = pytest.mark.anyio  # unasync: remove

PART = 256 * 1024


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with run_emulator(tmp_path_factory.mktemp("gcs")) as running:
        yield running


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    # One module-wide emulator serves every test on every runtime: keys never collide.
    return f"{request.node.name}-{time.monotonic_ns()}/"


def _storage(emulator: Emulator, **options: object) -> AsyncGCSStorage:
    settings: dict[str, object] = {
        "endpoint": emulator.url,
        "multipart_threshold": 64 * 1024,
        "part_size": PART,
        "retry_backoff": 0.05,
    }
    settings.update(options)
    return AsyncGCSStorage(BUCKET, **settings)  # type: ignore[arg-type]


def _data(size: int) -> bytes:
    # Every byte value, CR/LF pairs and the boundary-like "--" included.
    return (bytes(range(256)) + b"\r\n--\r\n") * (size // 262) + b"x" * (size % 262)


async def test_small_and_resumable_uploads_round_trip(emulator: Emulator, prefix: str) -> None:
    async with _storage(emulator) as storage:
        small, large = _data(5000), _data(3 * PART - 1234)
        put = await storage.upload_file(
            prefix + "small.bin", small, content_type="application/x-test", metadata={"team": "ops"}
        )
        assert put.unwrap().size == len(small)
        assert (await storage.upload_file(prefix + "large.bin", large)).unwrap().size == len(large)
        chunks = [large[i : i + 100_000] for i in range(0, len(large), 100_000)]
        unsized = await storage.upload_file(prefix + "stream.bin", iter(chunks))
        assert unsized.unwrap().size == len(large)
        assert (await storage.download_file(prefix + "small.bin")).unwrap() == small
        assert (await storage.download_file(prefix + "large.bin")).unwrap() == large
        assert (await storage.download_file(prefix + "stream.bin")).unwrap() == large
        info = (await storage.stat(prefix + "small.bin")).unwrap()
        assert (info.size, info.content_type, dict(info.metadata)) == (
            len(small),
            "application/x-test",
            {"team": "ops"},
        )
        assert info.etag is not None and info.last_modified is not None
        empty = await storage.upload_file(prefix + "empty", b"")
        assert empty.unwrap().size == 0
        assert (await storage.download_file(prefix + "empty")).unwrap() == b""


async def test_a_file_source_and_a_file_destination(
    emulator: Emulator, prefix: str, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(_data(2 * PART + 17))
    async with _storage(emulator) as storage:
        assert (await storage.upload_file(prefix + "f", source)).is_success
        info = (await storage.download_file(prefix + "f", target)).unwrap()
    assert target.read_bytes() == source.read_bytes()
    assert info.size == source.stat().st_size


async def test_byte_ranges(emulator: Emulator, prefix: str) -> None:
    data = _data(1000)
    async with _storage(emulator) as storage:
        await storage.upload_file(prefix + "r", data)
        for byte_range, expected in [
            (ByteRange(10, 20), data[10:20]),
            (ByteRange(990), data[990:]),
            (ByteRange(995, 5000), data[995:]),
            (ByteRange.last(7), data[-7:]),
        ]:
            got = await storage.download_file(prefix + "r", byte_range=byte_range)
            assert got.unwrap() == expected, byte_range
        past = await storage.download_file(prefix + "r", byte_range=ByteRange(1000))
        assert isinstance(past, Failure) and past.error.code == "INVALID_RANGE"
        async with storage.open_download(prefix + "r", byte_range=ByteRange(100, 150)) as opened:
            stream = opened.unwrap()
            assert (stream.start, stream.end, stream.info.size) == (100, 150, 1000)


async def test_missing_objects_and_idempotent_delete(emulator: Emulator, prefix: str) -> None:
    async with _storage(emulator) as storage:
        for result in (
            await storage.stat(prefix + "missing"),
            await storage.download_file(prefix + "missing"),
        ):
            assert isinstance(result, Failure)
            assert result.error.code == "NOT_FOUND"
            assert "check the key" in result.error.message
        assert (await storage.exists(prefix + "missing")).unwrap() is False
        await storage.upload_file(prefix + "d", b"bye")
        assert (await storage.exists(prefix + "d")).unwrap() is True
        assert (await storage.delete_file(prefix + "d")).is_success
        assert (await storage.delete_file(prefix + "d")).is_success
        assert (await storage.exists(prefix + "d")).unwrap() is False


async def test_if_match_is_the_generation(emulator: Emulator, prefix: str) -> None:
    async with _storage(emulator) as storage:
        first = (await storage.upload_file(prefix + "g", b"one")).unwrap()
        ok = await storage.download_file(prefix + "g", if_match=first.etag)
        assert ok.unwrap() == b"one"
        await storage.upload_file(prefix + "g", b"two")
        stale = await storage.download_file(prefix + "g", if_match=first.etag)
        assert isinstance(stale, Failure) and stale.error.code == "PRECONDITION_FAILED"


async def test_list_by_prefix_in_key_order(emulator: Emulator, prefix: str) -> None:
    async with _storage(emulator) as storage:
        names = ["b", "a/1", "a/2", "c"]
        for name in names:
            await storage.upload_file(prefix + name, name.encode())
        await storage.upload_file(prefix.rstrip("/") + "-other", b"not under the prefix")
        listed = (await storage.list_files(prefix)).unwrap()
        assert [item.key for item in listed] == [prefix + n for n in sorted(names)]
        assert [item.size for item in listed] == [len(n) for n in sorted(names)]
        under_a = [item.key async for item in storage.iter_files(prefix + "a/", page_size=1)]
        assert under_a == [prefix + "a/1", prefix + "a/2"]


async def test_server_side_copy(emulator: Emulator, prefix: str) -> None:
    async with _storage(emulator) as storage:
        await storage.upload_file(
            prefix + "src", b"payload", content_type="text/plain", metadata={"a": "1"}
        )
        kept = (await storage.copy_file(prefix + "src", prefix + "same")).unwrap()
        assert (kept.key, kept.size) == (prefix + "same", 7)
        same = (await storage.stat(prefix + "same")).unwrap()
        assert (same.content_type, dict(same.metadata)) == ("text/plain", {"a": "1"})
        changed = await storage.copy_file(
            prefix + "src", prefix + "new", content_type="application/json", metadata={"b": "2"}
        )
        assert changed.unwrap().key == prefix + "new"
        new = (await storage.stat(prefix + "new")).unwrap()
        assert (new.content_type, dict(new.metadata)) == ("application/json", {"b": "2"})
        assert (await storage.download_file(prefix + "new")).unwrap() == b"payload"
        missing = await storage.copy_file(prefix + "nope", prefix + "x")
        assert isinstance(missing, Failure) and missing.error.code == "NOT_FOUND"


async def test_signed_urls_fetch_and_store_through_the_emulator(
    emulator: Emulator, prefix: str
) -> None:
    credentials = ServiceAccountCredentials.from_info(keys.key_info()).unwrap()
    signing = _storage(emulator, credentials=credentials, anonymous=True)
    async with signing as signer, _storage(emulator) as storage:
        # anonymous=True: the key signs URLs, requests carry no token (none is fetched).
        assert (await signer.upload_file(prefix + "direct", b"d")).is_success
        assert "anonymous" in repr(signer)
        put = (await signer.presigned_put_url(prefix + "s", content_type="text/plain")).unwrap()
        assert put.headers == {"Content-Type": "text/plain"}
        assert "X-Goog-Signature=" in put.url and put.url.startswith(emulator.url)
        async with AsyncFlextApiClient() as client:
            stored = await client.put(put.url, headers=dict(put.headers), content=b"via url")
            assert stored.unwrap().status_code == 200
            assert (await storage.download_file(prefix + "s")).unwrap() == b"via url"
            get = (await signer.presigned_get_url(prefix + "s", expires_in=60)).unwrap()
            fetched = await client.get(get.url)
            assert fetched.unwrap().content == b"via url"
        anonymous = await storage.presigned_get_url(prefix + "s")
        assert isinstance(anonymous, Failure) and anonymous.error.code == "UNSUPPORTED"


async def test_registered_as_gcs_kind_and_emulator_from_the_environment(
    emulator: Emulator, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url.removeprefix("http://"))
    async with create_storage("gcs", bucket=BUCKET) as storage:
        assert isinstance(storage, AsyncGCSStorage)
        assert storage.endpoint == emulator.url and storage.credentials is None
        assert (await storage.upload_file(prefix + "env", b"e")).is_success
        assert (await storage.health_check()).is_success


async def test_unreachable_endpoint_is_backend_unavailable() -> None:
    async with AsyncGCSStorage(BUCKET, endpoint="http://127.0.0.1:1") as storage:
        result = await storage.stat("k")
    assert isinstance(result, Failure)
    assert result.error.code == "BACKEND_UNAVAILABLE"


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ValueError, match="GCS needs credentials"):
        AsyncGCSStorage(BUCKET)
    with pytest.raises(ValueError, match="multiples of 256 KiB"):
        AsyncGCSStorage(BUCKET, endpoint="http://127.0.0.1:1", part_size=1000)
    with pytest.raises(ValueError, match="one bucket"):
        AsyncGCSStorage("a/b", endpoint="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="max_attempts"):
        AsyncGCSStorage(BUCKET, endpoint="http://127.0.0.1:1", max_attempts=0)
    key_file = keys.write_key_file(tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", os.fspath(key_file))
    storage = AsyncGCSStorage(BUCKET)
    assert storage.credentials is not None
    assert storage.credentials.client_email == keys.EMAIL
    assert storage.endpoint == "https://storage.googleapis.com"
    assert "uploader@" in repr(storage) and "PRIVATE" not in repr(storage)


# -- auth end to end: the JWT grant against a loopback token endpoint ------------------------


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    with run_token_server() as server:
        yield server


async def test_service_account_token_end_to_end(token_server: TokenServer) -> None:
    info = keys.key_info(token_server.url + "/token")
    credentials = ServiceAccountCredentials.from_info(info).unwrap()
    async with AsyncGCSStorage("b", endpoint=token_server.url, credentials=credentials) as storage:
        assert (await storage.stat("k")).unwrap().key == "k"
        assert (await storage.stat("k")).is_success
        assert token_server.calls == 1
        token_server.revoke()  # a 401: one renewal, then the retry succeeds
        assert (await storage.stat("k")).is_success
        assert token_server.calls == 2
        assert token_server.resource_requests == ["Bearer tok-1"] * 3 + ["Bearer tok-2"]


async def test_concurrent_calls_on_one_backend_share_one_token_request(
    token_server: TokenServer,
) -> None:
    async with _front(token_server) as storage:

        async def stat() -> bool:
            return (await storage.stat("k")).is_success

        assert await gather([stat] * 20) == [True] * 20
    assert token_server.calls == 1


async def test_the_token_is_renewed_ahead_of_its_expiry(token_server: TokenServer) -> None:
    now = [0.0]
    async with _front(token_server, refresh_ahead=300.0, clock=lambda: now[0]) as storage:
        assert (await storage.stat("k")).is_success
        now[0] = 3299.0  # the token (3600 s) has more than 300 s left: kept
        assert (await storage.stat("k")).is_success
        assert token_server.calls == 1
        now[0] = 3301.0  # within 300 s of its expiry: renewed before it runs out
        assert (await storage.stat("k")).is_success
        assert token_server.calls == 2
    assert token_server.resource_requests == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


async def test_a_refused_token_is_access_denied_with_the_vendor_body(
    token_server: TokenServer, tmp_path: Path
) -> None:
    info = keys.key_info(token_server.url + "/wrong-audience")
    credentials = ServiceAccountCredentials.from_info(info).unwrap()
    # The token request goes to token_uri itself: a path the server answers with 401 JSON.
    async with AsyncGCSStorage("b", endpoint=token_server.url, credentials=credentials) as storage:
        result = await storage.stat("k")
    assert isinstance(result, Failure)
    assert result.error.code == "ACCESS_DENIED"
    assert "no access token" in result.error.message


async def test_an_unreachable_token_endpoint_is_backend_unavailable(
    token_server: TokenServer,
) -> None:
    credentials = ServiceAccountCredentials.from_info(keys.key_info("http://127.0.0.1:1/token"))
    async with AsyncGCSStorage(
        "b", endpoint=token_server.url, credentials=credentials.unwrap()
    ) as storage:
        result = await storage.stat("k")
    assert isinstance(result, Failure)
    assert result.error.code == "BACKEND_UNAVAILABLE"
    assert "token endpoint could not be reached" in result.error.message
    assert token_server.resource_requests == []  # nothing was sent without a token


# -- faults: the emulator dies in the middle of a resumable upload ---------------------------


def _killing_source(
    emulator: Emulator, data: bytes, *, restart_after: float | None
) -> Iterator[bytes]:
    """Yields ``data`` in 64 KiB chunks; once two parts are out, kills the emulator (and starts
    it again from its data directory after ``restart_after`` seconds, from another thread)."""
    step = 64 * 1024
    for index in range(0, len(data), step):
        if index == 2 * PART + step:  # part 2 is with the server, part 3 is being read
            emulator.kill()
            if restart_after is not None:
                timer = threading.Timer(restart_after, emulator.start)
                timer.start()
        yield data[index : index + step]


@pytest.fixture
def own_emulator(tmp_path: Path) -> Iterator[Emulator]:
    with run_emulator(tmp_path / "data") as running:
        yield running


async def test_resumable_upload_resumes_after_the_emulator_restarts(
    own_emulator: Emulator,
) -> None:
    data = _data(4 * PART + 999)
    async with _storage(own_emulator, retry_backoff=0.2, max_attempts=10) as storage:
        result = await storage.upload_file(
            "resumed.bin",
            _killing_source(own_emulator, data, restart_after=0.3),
            size=len(data),
        )
        assert result.unwrap().size == len(data)
        assert own_emulator.starts == 2  # it was down, and came back during the upload
        assert (await storage.download_file("resumed.bin")).unwrap() == data


async def test_resumable_upload_fails_cleanly_when_the_emulator_stays_down(
    own_emulator: Emulator,
) -> None:
    data = _data(4 * PART)
    async with _storage(own_emulator, retry_backoff=0.01, max_attempts=3) as storage:
        result = await storage.upload_file(
            "lost.bin", _killing_source(own_emulator, data, restart_after=None)
        )
        assert isinstance(result, Failure)
        assert result.error.code == "UPLOAD_FAILED"
        assert "upload again" in result.error.message
        own_emulator.start()  # same data directory: whatever the server kept is back
        missing = await storage.stat("lost.bin")
        assert isinstance(missing, Failure) and missing.error.code == "NOT_FOUND"
        assert (await storage.list_files()).unwrap() == []
        # The same backend (and its pool) works again.
        assert (await storage.upload_file("after.bin", data)).is_success
        assert (await storage.download_file("after.bin")).unwrap() == data


# -- what the emulator cannot show: a scripted GCS front (tests/storage_gcs/token_server.py) --


def _front(server: TokenServer, **options: object) -> AsyncGCSStorage:
    credentials = ServiceAccountCredentials.from_info(keys.key_info(server.url + "/token"))
    settings: dict[str, object] = {
        "endpoint": server.url,
        "credentials": credentials.unwrap(),
        "part_size": PART,
        "retry_backoff": 0.01,
    }
    settings.update(options)
    return AsyncGCSStorage("b", **settings)  # type: ignore[arg-type]


async def test_listing_follows_page_tokens_lazily(token_server: TokenServer) -> None:
    async with _front(token_server) as storage:
        page = (await storage.list_page(page_size=2)).unwrap()
        assert [item.key for item in page.items] == ["k0", "k1"]
        assert page.next_token == "p2"
        assert token_server.page_tokens == [None]  # one page asked, one page fetched
        keys_seen = [item.key async for item in storage.iter_files(page_size=2)]
        assert keys_seen == ["k0", "k1", "k2", "k3", "k4"]
        assert token_server.page_tokens == [None, None, "p2", "p4"]


async def test_create_only_is_precondition_failed_with_the_vendor_error(
    token_server: TokenServer,
) -> None:
    async with _front(token_server) as storage:
        result = await storage.upload_file("k", b"data", overwrite=False)
    assert isinstance(result, Failure)
    assert result.error.code == "PRECONDITION_FAILED"
    assert result.error.vendor_code == "conditionNotMet"
    assert result.error.vendor_body is not None and b"pre-conditions" in result.error.vendor_body


async def test_a_failed_chunk_resumes_from_the_bytes_the_session_kept(
    token_server: TokenServer,
) -> None:
    data = _data(3 * PART + 5)
    token_server.faults = 2  # twice, the session keeps half a chunk and answers 503
    async with _front(token_server, multipart_threshold=0) as storage:
        result = await storage.upload_file("up", data)
    assert result.unwrap().size == len(data)
    assert bytes(token_server.session) == data
    half = PART + PART // 2
    assert "bytes */*" in token_server.session_ranges  # the session was asked what it kept
    assert f"bytes {half}-{2 * PART - 1}/*" in token_server.session_ranges  # only the rest went


async def test_a_308_that_kept_part_of_a_chunk_gets_the_rest_at_once(
    token_server: TokenServer,
) -> None:
    data = _data(3 * PART)
    token_server.short_accepts = 1
    async with _front(token_server, multipart_threshold=0, retry_backoff=60.0) as storage:
        result = await storage.upload_file("up", data)  # no pause, no status query
    assert result.unwrap().size == len(data)
    assert bytes(token_server.session) == data
    half = PART + PART // 2
    assert f"bytes {half}-{2 * PART - 1}/*" in token_server.session_ranges
    assert not any(r.startswith("bytes */") for r in token_server.session_ranges)


async def test_status_queries_are_retried_too(token_server: TokenServer) -> None:
    data = _data(2 * PART + 1)
    token_server.faults, token_server.status_faults = 1, 2
    async with _front(token_server, multipart_threshold=0) as storage:
        result = await storage.upload_file("up", data)
    assert result.unwrap().size == len(data)
    assert bytes(token_server.session) == data
    assert token_server.session_ranges.count("bytes */*") == 3  # two refused, one answered


async def test_a_lost_session_fails_cleanly_and_is_cancelled(token_server: TokenServer) -> None:
    token_server.session_gone = True
    async with _front(token_server, multipart_threshold=0) as storage:
        result = await storage.upload_file("up", _data(2 * PART))
    assert isinstance(result, Failure)
    assert result.error.code == "UPLOAD_FAILED"
    assert "session is gone (410)" in result.error.message
    assert token_server.cancelled == 1


async def test_what_odd_servers_answer(token_server: TokenServer) -> None:
    async with _front(token_server) as storage:
        # Range ignored (a whole-object 200): the backend cuts the asked bytes out itself.
        cut = await storage.download_file("whole", byte_range=ByteRange(2, 5))
        assert cut.unwrap() == b"234"
        stale = await storage.download_file("stale")
        assert isinstance(stale, Failure) and stale.error.code == "PRECONDITION_FAILED"
        garbled = await storage.stat("garbled")
        assert isinstance(garbled, Failure) and garbled.error.code == "STORAGE_ERROR"
        assert "not a JSON object" in garbled.error.message
        copied = (await storage.copy_file("whole", "copy")).unwrap()
        assert (copied.key, copied.etag) == ("copy", "9")
        assert token_server.rewrite_tokens == [None, "t1"]  # followed until done
