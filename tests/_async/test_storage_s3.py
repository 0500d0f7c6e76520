"""The S3 backend against moto in server mode with authentication on: every request is
signed by us and checked by moto (botocore's signer on the server side).

Written once as async tests; ``tests/_sync/test_storage_s3.py`` is generated from this file,
so every case runs on the blocking backend, on asyncio and on trio.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flext_api import AsyncFlextApiClient, Failure, Success
from flext_api.storage import ByteRange, create_async_storage  # unasync: remove

# unasync: sync-only: from flext_api.storage import ByteRange, create_storage
from flext_api.storage.s3 import AsyncS3Storage
from tests.servers.moto_s3 import MIN_PART_SIZE, MotoS3, run_moto_s3

pytestmark = pytest.mark.anyio  # unasync: remove


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3]:
    with run_moto_s3() as server:
        yield server


def _backend(moto: MotoS3, bucket: str, **options: object) -> AsyncS3Storage:
    settings: dict[str, object] = {
        "endpoint": moto.url,
        "region": moto.region,
        "access_key_id": moto.access_key_id,
        "secret_access_key": moto.secret_access_key,
        **options,
    }
    return AsyncS3Storage(bucket, **settings)  # type: ignore[arg-type]


def _chunks(total: int, size: int) -> Iterator[bytes]:
    """A source of unknown length: ``total`` bytes of a pattern, ``size`` at a time."""
    pattern = bytes(range(256)) * (size // 256 + 1)
    sent = 0
    while sent < total:
        step = min(size, total - sent)
        yield pattern[:step]
        sent += step


def _expected(total: int, size: int) -> bytes:
    return b"".join(_chunks(total, size))


async def test_round_trip_with_metadata_and_awkward_keys(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket, chunk_size=7) as storage:
        for key in ("plain.txt", "dir/with space/ünï+cödé %41~(1).bin", "a/b/c=d&e"):
            body = f"content of {key}".encode()
            stored = await storage.upload_file(
                key, body, content_type="text/x-test", metadata={"owner": "me"}
            )
            assert isinstance(stored, Success), stored
            assert stored.value.size == len(body)
            assert (await storage.download_file(key)).unwrap() == body
            info = (await storage.stat(key)).unwrap()
            assert (info.size, info.content_type) == (len(body), "text/x-test")
            assert dict(info.metadata) == {"owner": "me"}
            assert info.etag == stored.value.etag
            assert info.last_modified is not None
            assert (await storage.exists(key)).unwrap() is True
            assert isinstance(await storage.delete_file(key), Success)
            assert (await storage.exists(key)).unwrap() is False
    # Seen by an independent client: the object is stored decoded, not aws-chunked framed.
    async with _backend(moto, bucket, chunk_size=5) as storage:
        (await storage.upload_file("peer.bin", b"0123456789abc")).unwrap()
    got = moto.boto3_client().get_object(Bucket=bucket, Key="peer.bin")
    assert got["Body"].read() == b"0123456789abc"
    assert "aws-chunked" not in got.get("ContentEncoding", "")


async def test_multipart_upload_of_unknown_length(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    total = 5 * MIN_PART_SIZE + 123
    async with _backend(
        moto, bucket, multipart_threshold=2 * MIN_PART_SIZE, part_size=MIN_PART_SIZE
    ) as storage:
        stored = (await storage.upload_file("big.bin", _chunks(total, 700))).unwrap()
        assert stored.size == total
        assert stored.etag is not None and stored.etag.endswith("-6")
        assert (await storage.download_file("big.bin")).unwrap() == _expected(total, 700)
        # A known size above the threshold is a multipart upload too.
        sized = (await storage.upload_file("sized.bin", b"x" * (3 * MIN_PART_SIZE))).unwrap()
        assert sized.etag is not None and sized.etag.endswith("-3")
        # An empty body of unknown length still makes an (empty) object.
        assert (await storage.upload_file("empty", iter([]))).unwrap().size == 0
        assert (await storage.download_file("empty")).unwrap() == b""


async def test_a_failing_source_aborts_the_multipart_upload(moto: MotoS3) -> None:
    bucket = moto.new_bucket()

    def breaks() -> Iterator[bytes]:
        yield b"a" * (3 * MIN_PART_SIZE)
        raise OSError("disk went away")

    async with _backend(
        moto, bucket, multipart_threshold=MIN_PART_SIZE, part_size=MIN_PART_SIZE
    ) as storage:
        failed = await storage.upload_file("half.bin", breaks())
        assert isinstance(failed, Failure)
        assert failed.error.code == "UPLOAD_FAILED"
        assert "disk went away" in str(failed.error.__cause__)
        assert (await storage.exists("half.bin")).unwrap() is False
    uploads = moto.boto3_client().list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []


async def test_ranges(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket) as storage:
        (await storage.upload_file("r.bin", b"0123456789")).unwrap()
        assert (await storage.download_file("r.bin", byte_range=ByteRange(2, 5))).unwrap() == b"234"
        assert (
            await storage.download_file("r.bin", byte_range=ByteRange.last(3))
        ).unwrap() == b"789"
        async with storage.open_download("r.bin", byte_range=ByteRange(8)) as opened:
            stream = opened.unwrap()
            assert (stream.start, stream.end, stream.info.size) == (8, 10, 10)
            assert await stream.read() == b"89"
        past = await storage.download_file("r.bin", byte_range=ByteRange(10))
        assert isinstance(past, Failure)
        assert past.error.code == "INVALID_RANGE"


async def test_listing_pages_lazily_with_continuation_tokens(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket) as storage:
        for name in ("p/a", "p/b", "p/c", "p/d", "p/e", "q/z"):
            (await storage.upload_file(name, name.encode())).unwrap()
        first = (await storage.list_page("p/", page_size=2)).unwrap()
        assert [item.key for item in first.items] == ["p/a", "p/b"]
        assert first.next_token is not None
        second = (await storage.list_page("p/", page_token=first.next_token, page_size=2)).unwrap()
        assert [item.key for item in second.items] == ["p/c", "p/d"]
        keys = [info.key for info in (await storage.list_files("p/")).unwrap()]
        assert keys == ["p/a", "p/b", "p/c", "p/d", "p/e"]
        assert [i.size for i in (await storage.list_files("q/")).unwrap()] == [3]


async def test_copy_on_the_server(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket) as storage:
        (await storage.upload_file("src.txt", b"hello", metadata={"tag": "v1"})).unwrap()
        copied = (await storage.copy_file("src.txt", "dst/copy.txt")).unwrap()
        assert copied.size == 5
        assert dict(copied.metadata) == {"tag": "v1"}
        assert (await storage.download_file("dst/copy.txt")).unwrap() == b"hello"
        replaced = (
            await storage.copy_file("src.txt", "other.txt", metadata={"tag": "v2"})
        ).unwrap()
        assert dict(replaced.metadata) == {"tag": "v2"}
        refused = await storage.copy_file("src.txt", "other.txt", overwrite=False)
        assert isinstance(refused, Failure)
        assert refused.error.code == "PRECONDITION_FAILED"
        missing = await storage.copy_file("nope.txt", "x.txt")
        assert isinstance(missing, Failure)
        assert missing.error.code == "NOT_FOUND"


async def test_presigned_urls_work_from_a_plain_client(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket) as storage, AsyncFlextApiClient() as plain:
        put = (await storage.presigned_put_url("up/load.txt", expires_in=60)).unwrap()
        assert put.method == "PUT"
        assert "X-Amz-Signature=" in put.url
        get = (await storage.presigned_get_url("up/load.txt", expires_in=60)).unwrap()
        assert get.expires_at > put.expires_at.replace(year=2000)
        sent = (await plain.put(put.url, content=b"via presigned PUT")).unwrap()
        assert sent.status_code == 200
        assert (await plain.get(get.url)).unwrap().content == b"via presigned PUT"
        # The server checks the signature: any change to what was signed is refused.
        for tampered in (
            get.url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"),
            get.url.replace("/up/load.txt", "/up/other.txt"),
        ):
            assert (await plain.get(tampered)).unwrap().status_code == 403
        assert (await plain.delete(get.url)).unwrap().status_code == 403


async def test_a_wrong_signature_is_refused(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket, secret_access_key="not-the-secret") as storage:
        result = await storage.upload_file("k.txt", b"data")
        assert isinstance(result, Failure)
        assert result.error.code == "ACCESS_DENIED"
        assert result.error.vendor_code == "SignatureDoesNotMatch"
        assert result.error.vendor_body is not None
        assert b"SignatureDoesNotMatch" in result.error.vendor_body
        listing = await storage.list_page("")
        assert isinstance(listing, Failure)
        assert listing.error.code == "ACCESS_DENIED"


async def test_errors_keep_the_vendor_body(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    async with _backend(moto, bucket) as storage:
        missing = await storage.download_file("missing.txt")
        assert isinstance(missing, Failure)
        assert missing.error.code == "NOT_FOUND"
        assert missing.error.vendor_code == "NoSuchKey"
        assert missing.error.vendor_body is not None and b"<Error>" in missing.error.vendor_body
        stat = await storage.stat("missing.txt")
        assert isinstance(stat, Failure)
        assert stat.error.code == "NOT_FOUND"
        (await storage.upload_file("once.txt", b"1")).unwrap()
        again = await storage.upload_file("once.txt", b"2", overwrite=False)
        assert isinstance(again, Failure)
        assert again.error.code == "PRECONDITION_FAILED"
        assert (await storage.download_file("once.txt")).unwrap() == b"1"
        changed = await storage.download_file("once.txt", if_match="0" * 32)
        assert isinstance(changed, Failure)
        assert changed.error.code == "PRECONDITION_FAILED"
    async with _backend(moto, "no-such-bucket-here") as storage:
        absent = await storage.list_page("")
        assert isinstance(absent, Failure)
        assert absent.error.code == "NOT_FOUND"
        assert absent.error.vendor_code == "NoSuchBucket"


async def test_registered_as_s3(moto: MotoS3) -> None:
    bucket = moto.new_bucket()
    options = {
        "bucket": bucket,
        "endpoint": moto.url,
        "access_key_id": moto.access_key_id,
        "secret_access_key": moto.secret_access_key,
    }
    storage = create_async_storage("s3", **options)  # unasync: remove
    # unasync: sync-only: storage = create_storage("s3", **options)
    async with storage:
        assert isinstance(storage, AsyncS3Storage)
        assert isinstance(await storage.health_check(), Success)


async def test_the_server_killed_mid_upload() -> None:
    """A fresh moto killed while a multipart upload is in flight: a clean Failure, the
    client's pool still usable afterwards."""
    with run_moto_s3() as victim:
        bucket = victim.new_bucket()
        async with AsyncFlextApiClient(timeout=10) as client:
            storage = _backend(
                victim,
                bucket,
                client=client,
                multipart_threshold=MIN_PART_SIZE,
                part_size=MIN_PART_SIZE,
                part_attempts=2,
                retry_backoff=0.01,
            )

            def kills() -> Iterator[bytes]:
                yield b"a" * (2 * MIN_PART_SIZE)
                victim.kill()
                yield b"b" * (2 * MIN_PART_SIZE)

            result = await storage.upload_file("doomed.bin", kills())
            assert isinstance(result, Failure)
            assert result.error.code == "BACKEND_UNAVAILABLE"
            with run_moto_s3() as revived:
                fresh = revived.new_bucket()
                after = _backend(revived, fresh, client=client)
                (await after.upload_file("ok.txt", b"fine")).unwrap()
                assert (await after.download_file("ok.txt")).unwrap() == b"fine"
                assert (await after.exists("doomed.bin")).unwrap() is False


async def test_edges_of_the_upload_paths(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = moto.new_bucket()
    with pytest.raises(ValueError, match="part_attempts"):
        _backend(moto, bucket, part_attempts=0)
    async with _backend(
        moto, bucket, chunk_size=10, multipart_threshold=2 * MIN_PART_SIZE, part_size=MIN_PART_SIZE
    ) as storage:
        # A declared size with chunks of any length: regrouped to the signed chunk size.
        odd = [b"abc", b"defghijklmnop", b"q" * 25, b"", b"rs"]
        stored = (await storage.upload_file("odd.bin", iter(odd), size=43)).unwrap()
        assert stored.size == 43
        assert (await storage.download_file("odd.bin")).unwrap() == b"".join(odd)
        # Create-only holds for multipart uploads too (checked when the upload completes).
        big = b"m" * (3 * MIN_PART_SIZE)
        (await storage.upload_file("multi.bin", big)).unwrap()
        refused = await storage.upload_file("multi.bin", b"n" * len(big), overwrite=False)
        assert isinstance(refused, Failure)
        assert refused.error.code == "PRECONDITION_FAILED"
        assert (await storage.download_file("multi.bin")).unwrap() == big
        # Copy create-only to a free key works.
        fresh = (await storage.copy_file("odd.bin", "fresh.bin", overwrite=False)).unwrap()
        assert fresh.size == 43
        # Too many parts for S3's limit: refused, and the upload aborted.
        monkeypatch.setattr("flext_api.storage._async.s3.MAX_PARTS", 2)
        monkeypatch.setattr("flext_api.storage._sync.s3.MAX_PARTS", 2)
        many = await storage.upload_file("many.bin", iter([big]))
        assert isinstance(many, Failure)
        assert "more than 2 parts" in str(many.error)
        assert (await storage.exists("many.bin")).unwrap() is False
    assert moto.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


async def test_an_unreachable_endpoint_is_backend_unavailable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = AsyncS3Storage(
        "bucket",
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id="AKID",
        secret_access_key="secret",
        timeout=5,
    )
    async with storage:
        for result in (
            await storage.upload_file("k", b"data"),
            await storage.download_file("k"),
            await storage.list_page(""),
        ):
            assert isinstance(result, Failure)
            assert result.error.code == "BACKEND_UNAVAILABLE"
