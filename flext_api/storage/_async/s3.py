"""Amazon S3 (and S3-compatible services) on our own HTTP client, signed with SigV4.

Uploads up to ``multipart_threshold`` bytes of known size go in one ``PUT`` whose body is
streamed with the chunked signature (each chunk hashed as it is sent: one pass, no buffer of
the object); larger or unknown-size uploads are multipart uploads of ``part_size`` parts,
``max_concurrency`` at a time, each signed with its own SHA-256 and sent as the source's
chunks (never joined), retried on its own, and the upload aborted on any failure so nothing
half-written is ever visible. Listings page lazily with continuation tokens; copies
happen on the server; presigned URLs are computed locally.

The pure parts (signing, addressing, XML) live in :mod:`flext_api.storage._sigv4` and
:mod:`flext_api.storage._s3_protocol`; this module only sends requests. It must never import
an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import ClassVar, Literal

from flext_api._async.client import AsyncFlextApiClient
from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._exceptions import FlextApiError, TransportError
from flext_api._models import Response
from flext_api._result import Failure
from flext_api._sansio.auth import Secret
from flext_api._synchronization import async_sleep
from flext_api.storage._async.backend import (
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    AsyncStorageBackend,
)
from flext_api.storage._async.streams import (
    DEFAULT_CHUNK_SIZE,
    AsyncObjectStream,
    AsyncUploadBody,
    closable,
)
from flext_api.storage._aws_credentials import resolve_credentials
from flext_api.storage._errors import (
    StorageError,
    StorageNotFound,
    StoragePreconditionFailed,
    storage_error_for_status,
)
from flext_api.storage._parallel import (
    AsyncPartPool,
    off_loop,  # unasync: remove
)
from flext_api.storage._s3_protocol import (
    S3Address,
    S3ErrorBody,
    complete_multipart_body,
    error_status,
    object_info,
    parse_complete_multipart,
    parse_copy_result,
    parse_error,
    parse_initiate_multipart,
    parse_list_v2,
)
from flext_api.storage._sigv4 import (
    EMPTY_SHA256,
    STREAMING_PAYLOAD,
    AwsCredentials,
    ChunkSigner,
    SignedRequest,
    canonical_query,
    chunked_length,
    encode_key,
    payload_sha256,
    presign_url_query,
    sign_headers,
)
from flext_api.storage._types import ByteRange, ListPage, ObjectInfo, PresignedURL

__all__ = ["AsyncS3Storage"]

# S3 refuses parts under 5 MiB (but the last) and more than 10,000 parts.
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
# unasync: begin-async-only
# A body at least this large is hashed on a worker thread (the hop costs tens of microseconds;
# hashing 1 MiB, about a millisecond).
_HASH_OFF_LOOP = 1024 * 1024
# unasync: end-async-only
_QUERY = Sequence[tuple[str, str]]


class AsyncS3Storage(AsyncStorageBackend):
    """One S3 bucket. ``region`` signs the requests (and names the AWS endpoint);
    ``endpoint`` (``http://127.0.0.1:9000``) targets an S3-compatible service with path-style
    URLs unless ``path_style=False``; on AWS, virtual-host style unless the bucket name is not
    a DNS label or ``path_style=True``.

    Credentials: ``access_key_id``/``secret_access_key`` (and ``session_token``), else
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, else ``profile``
    (or ``AWS_PROFILE``, ``default``) of the shared credentials file; none found raises
    ``LookupError`` here, naming what to set. ``client``: an :class:`AsyncFlextApiClient` to
    send through (its pool, proxies, TLS settings); the backend opens its own otherwise and
    closes only that one. ``part_attempts``: how many times one part is sent before the upload
    fails (and is aborted). ``max_concurrency``: parts in flight at once (each on its own
    connection; memory is about ``max_concurrency + 1`` parts).
    """

    kind: ClassVar[str] = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        region: str = "us-east-1",
        endpoint: str | None = None,
        path_style: bool | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | Secret | None = None,
        session_token: str | Secret | None = None,
        profile: str | None = None,
        client: AsyncFlextApiClient | None = None,
        timeout: float = 60.0,
        part_attempts: int = 3,
        retry_backoff: float = 0.25,
        max_concurrency: int = 4,
        name: str | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        super().__init__(
            name=name,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
            chunk_size=chunk_size,
        )
        if part_attempts < 1 or max_concurrency < 1:
            raise ValueError("part_attempts and max_concurrency must be >= 1")
        self.max_concurrency = max_concurrency
        self.bucket = bucket
        self.region = region
        self.part_attempts = part_attempts
        self.retry_backoff = retry_backoff
        self._address = S3Address.for_bucket(
            bucket, region=region, endpoint=endpoint, path_style=path_style
        )
        self._credentials: AwsCredentials = resolve_credentials(
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=session_token,
            profile=profile,
        )
        self._owns_client = client is None
        self._client = (
            client if client is not None else AsyncFlextApiClient(timeout=timeout, cookies=False)
        )

    # -- sending ----------------------------------------------------------------------------

    def _signed(
        self,
        method: str,
        path: str,
        *,
        query: _QUERY = (),
        headers: Mapping[str, str] | None = None,
        payload_hash: str = EMPTY_SHA256,
    ) -> tuple[str, dict[str, str], SignedRequest]:
        """The URL, the headers to send and the signature of one request."""
        signed = sign_headers(
            self._credentials,
            method=method,
            host=self._address.host,
            path=path,
            query=query,
            headers=headers,
            payload_hash=payload_hash,
            region=self.region,
            now=datetime.now(UTC),
        )
        url = self._address.origin + path
        if query:
            url += "?" + canonical_query(query)
        sent = {**(headers or {}), **signed.headers}
        # Object bytes as stored: never let the transport undo a stored Content-Encoding.
        sent.setdefault("accept-encoding", "identity")
        return url, sent, signed

    def _error(
        self, error: S3ErrorBody, *, key: str | None, operation: str, url: str | None
    ) -> StorageError:
        return storage_error_for_status(
            error_status(error),
            backend=self.name,
            key=key,
            operation=f"{operation} (s3://{self.bucket})",
            vendor_code=error.code,
            vendor_body=error.body or None,
            url=url,
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        operation: str,
        query: _QUERY = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | Sequence[bytes] = b"",
        ok: Sequence[int] = (200, 204, 206),
    ) -> Response:
        """One signed request whose body is in memory (bytes, or the chunks of a part: sent
        one by one under their total Content-Length, never joined); an error answer raises,
        mapped."""
        content: bytes | Iterator[bytes] | None
        if isinstance(body, bytes):
            size = len(body)
            content = body or None
        else:
            size = sum(map(len, body))
            headers = {**(headers or {}), "content-length": str(size)}
            content = iter(body)
        # unasync: begin-async-only
        if size >= _HASH_OFF_LOOP:
            # A part hashes on a worker thread: the loop keeps sending the other parts, and
            # the parts in flight hash on several cores (as the blocking twin's threads do).
            payload_hash = await off_loop(payload_sha256, body)
        else:
            payload_hash = payload_sha256(body)
        # unasync: end-async-only
        # unasync: sync-only: payload_hash = payload_sha256(body)
        url, sent, _ = self._signed(
            method, path, query=query, headers=headers, payload_hash=payload_hash
        )
        result = await self._client.request(method, url, headers=sent, content=content)
        if isinstance(result, Failure):
            raise result.error
        response = result.value
        if response.status_code not in ok:
            raise self._error(
                parse_error(response.status_code, response.content),
                key=key,
                operation=operation,
                url=url,
            )
        return response

    # -- uploads ----------------------------------------------------------------------------

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
        headers = {"content-type": content_type}
        headers.update({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        if not overwrite:
            headers["if-none-match"] = "*"
        if size is not None and size <= self.multipart_threshold:
            etag = await self._put_streamed(key, body, size, headers)
        else:
            etag = await self._put_multipart(key, body, headers)
        return ObjectInfo(
            key=key,
            size=body.sent,
            etag=etag,
            content_type=content_type,
            metadata=dict(metadata),
        )

    async def _put_streamed(
        self, key: str, body: AsyncUploadBody, size: int, headers: dict[str, str]
    ) -> str:
        """One ``PUT``, its body framed as ``aws-chunked`` with a signature per chunk."""
        chunk_size = self.chunk_size
        framed = {
            **headers,
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(size),
            "content-length": str(chunked_length(size, chunk_size)),
        }
        path = self._address.object_path(key)
        url, sent, signed = self._signed(
            "PUT", path, headers=framed, payload_hash=STREAMING_PAYLOAD
        )
        signer = ChunkSigner(self._credentials, signed, region=self.region)

        async def frames() -> AsyncIterator[bytes]:
            async with aclosing(closable(_regroup(body, chunk_size))) as chunks:
                async for chunk in chunks:
                    yield signer.header(chunk)
                    yield chunk
                    yield b"\r\n"
            yield signer.final()

        # Closed here whatever happens: a failed request may leave it half-read.
        async with aclosing(closable(frames())) as framed_body:
            result = await self._client.request("PUT", url, headers=sent, content=framed_body)
        if isinstance(result, Failure):
            raise result.error
        response = result.value
        if response.status_code != 200:
            raise self._error(
                parse_error(response.status_code, response.content),
                key=key,
                operation="upload",
                url=url,
            )
        return (response.headers.get("etag") or "").strip('"')

    async def _put_multipart(self, key: str, body: AsyncUploadBody, headers: dict[str, str]) -> str:
        path = self._address.object_path(key)
        condition = headers.pop("if-none-match", None)
        response = await self._request(
            "POST",
            path,
            key=key,
            operation="start multipart upload",
            query=[("uploads", "")],
            headers=headers,
        )
        upload_id = parse_initiate_multipart(response.content)
        if not upload_id:
            raise self._error(
                S3ErrorBody(500, "MalformedResponse", "no UploadId", None, response.content),
                key=key,
                operation="start multipart upload",
                url=None,
            )
        try:
            return await self._send_parts(key, upload_id, body, condition)
        except BaseException:
            await self._abort(key, upload_id)
            raise

    async def _send_parts(
        self, key: str, upload_id: str, body: AsyncUploadBody, condition: str | None
    ) -> str:
        path = self._address.object_path(key)
        etags: dict[int, str] = {}
        on_aws = self._address.host.endswith(".amazonaws.com")
        part_size = max(self.part_size, MIN_PART_SIZE) if on_aws else self.part_size
        count = 0
        async with AsyncPartPool(self.max_concurrency) as pool:
            async with aclosing(closable(_cut_parts(body, part_size))) as cut:
                async for part in cut:
                    if count == MAX_PARTS:
                        raise StorageError(
                            f"{self.name}: {key!r} needs more than {MAX_PARTS} parts of "
                            f"{part_size} bytes: raise part_size",
                            backend=self.name,
                            key=key,
                        )
                    count += 1
                    await pool.submit(partial(self._store_part, key, upload_id, count, part, etags))
            if not count:
                count = 1
                await pool.submit(partial(self._store_part, key, upload_id, 1, [], etags))
        parts = [(number, etags[number]) for number in range(1, count + 1)]
        headers = {"content-type": "application/xml"}
        if condition is not None:
            headers["if-none-match"] = condition
        done = await self._request(
            "POST",
            path,
            key=key,
            operation="complete multipart upload",
            query=[("uploadId", upload_id)],
            headers=headers,
            body=complete_multipart_body(parts),
        )
        outcome = parse_complete_multipart(done.status_code, done.content)
        if isinstance(outcome, S3ErrorBody):
            raise self._error(outcome, key=key, operation="complete multipart upload", url=None)
        return outcome

    async def _store_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        part: Sequence[bytes],
        etags: dict[int, str],
    ) -> None:
        etags[number] = await self._upload_part(key, upload_id, number, part)

    async def _upload_part(
        self, key: str, upload_id: str, number: int, part: Sequence[bytes]
    ) -> str:
        """Send one part, again on a transport failure or a 5xx, up to ``part_attempts``."""
        path = self._address.object_path(key)
        query = [("partNumber", str(number)), ("uploadId", upload_id)]
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._request(
                    "PUT",
                    path,
                    key=key,
                    operation=f"upload part {number}",
                    query=query,
                    body=part,
                    ok=(200,),
                )
            except (TransportError, StorageError) as exc:
                retryable = isinstance(exc, TransportError) or (
                    exc.status_code is not None and exc.status_code >= 500
                )
                if not retryable or attempt >= self.part_attempts:
                    raise
                await async_sleep(self.retry_backoff * 2 ** (attempt - 1))
                continue
            return (response.headers.get("etag") or "").strip('"')

    async def _abort(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload (its parts are never visible as an object);
        best effort: S3's lifecycle rules clean up what an unreachable endpoint kept."""
        with contextlib.suppress(FlextApiError):
            await self._request(
                "DELETE",
                self._address.object_path(key),
                key=key,
                operation="abort multipart upload",
                query=[("uploadId", upload_id)],
            )

    # -- downloads, metadata, listing -------------------------------------------------------

    @asynccontextmanager
    async def _open(
        self, key: str, *, byte_range: ByteRange | None, if_match: str | None
    ) -> AsyncIterator[AsyncObjectStream]:
        headers: dict[str, str] = {}
        if byte_range is not None:
            headers["range"] = byte_range.header_value()
        if if_match is not None:
            headers["if-match"] = f'"{if_match}"'
        url, sent, _ = self._signed("GET", self._address.object_path(key), headers=headers)
        async with self._client.stream("GET", url, headers=sent) as result:
            if isinstance(result, Failure):
                raise result.error
            response: AsyncStreamingResponse = result.value
            if response.status_code not in (200, 206):
                content = await response.aread()
                raw = content.value if not isinstance(content, Failure) else b""
                raise self._error(
                    parse_error(response.status_code, raw), key=key, operation="download", url=url
                )
            info, start, end = object_info(
                key, response.headers.items(), status=response.status_code
            )
            yield AsyncObjectStream(
                info, response.aiter_bytes(), start=start, end=end, backend=self.name
            )

    async def _head(self, key: str) -> ObjectInfo:
        response = await self._request(
            "HEAD", self._address.object_path(key), key=key, operation="stat", ok=(200,)
        )
        info, _, _ = object_info(key, response.headers.items())
        return info

    async def _delete(self, key: str) -> None:
        await self._request(
            "DELETE", self._address.object_path(key), key=key, operation="delete", ok=(200, 204)
        )

    async def _list_page(self, prefix: str, page_token: str | None, page_size: int) -> ListPage:
        query = [("list-type", "2"), ("max-keys", str(page_size))]
        if prefix:
            query.append(("prefix", prefix))
        if page_token is not None:
            query.append(("continuation-token", page_token))
        response = await self._request(
            "GET", self._address.bucket_path(), key=None, operation="list", query=query, ok=(200,)
        )
        listing = parse_list_v2(response.content)
        if listing is None:
            raise self._error(
                S3ErrorBody(500, "MalformedResponse", "", None, response.content),
                key=None,
                operation="list",
                url=None,
            )
        items = tuple(
            ObjectInfo(
                key=entry.key, size=entry.size, etag=entry.etag, last_modified=entry.last_modified
            )
            for entry in listing.entries
        )
        return ListPage(items, listing.next_token)

    # -- server-side operations -------------------------------------------------------------

    async def _copy(
        self,
        source: str,
        destination: str,
        *,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
        overwrite: bool,
    ) -> ObjectInfo:
        original = await self._head(source)
        if not overwrite:
            # S3's CopyObject takes no create-only condition: look first (a race with another
            # writer can still slip in between; upload_file's overwrite=False has none).
            try:
                await self._head(destination)
            except StorageNotFound:
                pass
            else:
                raise StoragePreconditionFailed(
                    f"{self.name}: {destination!r} exists and overwrite=False: delete it "
                    "first or copy with overwrite=True",
                    backend=self.name,
                    key=destination,
                )
        headers = {"x-amz-copy-source": f"/{self.bucket}/{encode_key(source)}"}
        if content_type is None and metadata is None:
            headers["x-amz-metadata-directive"] = "COPY"
        else:
            headers["x-amz-metadata-directive"] = "REPLACE"
            headers["content-type"] = (
                content_type or original.content_type or ("application/octet-stream")
            )
            kept = dict(original.metadata) if metadata is None else dict(metadata)
            headers.update({f"x-amz-meta-{name}": value for name, value in kept.items()})
        response = await self._request(
            "PUT",
            self._address.object_path(destination),
            key=destination,
            operation="copy",
            headers=headers,
            ok=(200,),
        )
        outcome = parse_copy_result(response.status_code, response.content)
        if isinstance(outcome, S3ErrorBody):
            raise self._error(outcome, key=destination, operation="copy", url=None)
        return await self._head(destination)

    async def _presign(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: float,
        content_type: str | None,
    ) -> PresignedURL:
        now = datetime.now(UTC)
        seconds = math.ceil(expires_in)
        path = self._address.object_path(key)
        headers = {"content-type": content_type} if method == "PUT" and content_type else {}
        query = presign_url_query(
            self._credentials,
            method=method,
            host=self._address.host,
            path=path,
            headers=headers,
            expires=seconds,
            region=self.region,
            now=now,
        )
        return PresignedURL(
            url=f"{self._address.origin}{path}?{query}",
            method=method,
            expires_at=now + timedelta(seconds=seconds),
            headers=headers,
        )

    async def _close(self) -> None:
        if self._owns_client:
            await self._client.aclose()


async def _regroup(chunks: AsyncUploadBody, size: int) -> AsyncIterator[bytes]:
    """The body in chunks of exactly ``size`` bytes (the last shorter), as the chunked
    signature's announced length assumes; chunks already of that size pass without a copy."""
    pending = bytearray()
    async for chunk in chunks:
        if not pending and len(chunk) == size:
            yield chunk
            continue
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


async def _cut_parts(chunks: AsyncUploadBody, size: int) -> AsyncIterator[list[bytes]]:
    """The body as parts of exactly ``size`` bytes (the last shorter), each a list of the
    source's chunks: a chunk is sliced only where it straddles two parts, never joined, so
    a part costs no copy of its own on the way to the socket."""
    part: list[bytes] = []
    held = 0
    async for piece in chunks:
        rest = piece
        while held + len(rest) >= size:
            cut = size - held
            part.append(rest[:cut] if cut < len(rest) else rest)
            yield part
            part, held, rest = [], 0, rest[cut:]
        if rest:
            part.append(rest)
            held += len(rest)
    if part:
        yield part
