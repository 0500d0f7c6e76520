"""Google Cloud Storage on our own HTTP client: the JSON API, resumable uploads, V4 signed URLs.

:class:`AsyncGCSStorage` (``GCSStorage`` on the blocking side, generated) implements the storage
primitives (:mod:`flext_api.storage._async.backend`) over one bucket:

* uploads up to ``multipart_threshold`` bytes go in one ``multipart/related`` request (the
  resource JSON and the bytes); larger or unsized ones open a resumable session and send
  ``part_size`` chunks (a multiple of 256 KiB). A chunk that fails is retried on its own: the
  session is asked how many bytes it persisted (``Content-Range: bytes */N`` -> ``308`` with
  ``Range``) and the rest of the chunk is sent from there. The object appears only when the
  last chunk completes the session, so a failed upload leaves nothing visible; the session is
  cancelled when it can be;
* downloads read the object's resource, then its bytes (``alt=media``) pinned to that
  generation (``ifGenerationMatch``), so the info and the bytes belong together; ranges are
  resolved against the resource's size and sent as ``Range``;
* copies are server-side (``rewriteTo``, followed until ``done``); listings page with
  ``pageToken``; signed URLs are V4 (:mod:`flext_api.storage._gcs_signing`).

Auth: a service account's JWT bearer grant (:mod:`flext_api.storage._gcs_auth`) through the
client's OAuth2 layer (one token request for all concurrent callers, renewed ``refresh_ahead``
seconds before it expires, one renewal and retry on a 401), or none against an emulator
(``endpoint=`` or ``STORAGE_EMULATOR_HOST``).

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Literal

from flext_api._async.client import AsyncFlextApiClient
from flext_api._async.middleware import AsyncOAuth2Middleware
from flext_api._exceptions import AuthError, FlextApiError, TransportError
from flext_api._models import Request, Response, Timeout
from flext_api._result import Failure, Success
from flext_api.storage._async.backend import (
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    AsyncStorageBackend,
)
from flext_api.storage._async.gcs_upload import AsyncResumableUpload
from flext_api.storage._async.streams import (
    DEFAULT_CHUNK_SIZE,
    AsyncObjectStream,
    AsyncUploadBody,
    async_iter_parts,
    closable,
)
from flext_api.storage._errors import (
    StorageAccessDenied,
    StorageError,
    StoragePreconditionFailed,
    StorageUnavailable,
    StorageUnsupported,
    StorageUploadFailed,
)
from flext_api.storage._gcs_api import (
    DEFAULT_ENDPOINT,
    RESUMABLE_QUANTUM,
    bucket_objects_url,
    decode_json,
    gcs_error,
    list_query,
    multipart_frame,
    object_info,
    object_url,
    parse_list,
    resource_metadata,
    rewrite_url,
    upload_url,
)
from flext_api.storage._gcs_auth import (
    READ_WRITE_SCOPE,
    ServiceAccountCredentials,
    ServiceAccountFlow,
)
from flext_api.storage._gcs_signing import sign_url_v4
from flext_api.storage._types import ByteRange, ListPage, ObjectInfo, PresignedURL

__all__ = ["AsyncGCSStorage"]

EMULATOR_VARIABLE: Final = "STORAGE_EMULATOR_HOST"
CREDENTIALS_VARIABLE: Final = "GOOGLE_APPLICATION_CREDENTIALS"
_DEFAULT_TIMEOUT: Final = Timeout(connect=10.0, read=60.0, write=60.0, pool=30.0)


def _endpoint_and_anonymous(endpoint: str | None) -> tuple[str, bool]:
    """The API root, and whether it is an emulator (anonymous unless credentials are given)."""
    chosen = endpoint or os.environ.get(EMULATOR_VARIABLE)
    if not chosen:
        return DEFAULT_ENDPOINT, False
    if "://" not in chosen:
        chosen = "http://" + chosen
    return chosen.rstrip("/"), True


class AsyncGCSStorage(AsyncStorageBackend):
    """One Google Cloud Storage bucket.

    ``credentials``: a :class:`~flext_api.storage.ServiceAccountCredentials`, or the path of a
    service-account JSON key (read now; an unusable key raises its ``INVALID_CREDENTIALS``
    error); by default the key named by ``GOOGLE_APPLICATION_CREDENTIALS``. ``endpoint``: the
    API root of an emulator or a private endpoint (``STORAGE_EMULATOR_HOST`` by default); with
    one and no credentials, requests are anonymous. ``anonymous=True`` sends no token even with
    credentials (a public bucket, an emulator): they then only sign URLs. ``max_attempts``:
    tries per resumable chunk, ``retry_backoff`` the first pause between them (doubled each
    time). ``refresh_ahead``: seconds before a token's expiry when it is renewed (by the first
    call that finds it due, on ``clock``, monotonic seconds: tests pass a fake one).
    """

    kind: ClassVar[str] = "gcs"

    def __init__(
        self,
        bucket: str,
        *,
        credentials: ServiceAccountCredentials | str | os.PathLike[str] | None = None,
        endpoint: str | None = None,
        anonymous: bool = False,
        scope: str = READ_WRITE_SCOPE,
        refresh_ahead: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        timeout: Timeout | float | None = _DEFAULT_TIMEOUT,
        max_attempts: int = 5,
        retry_backoff: float = 0.25,
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
        if not bucket or "/" in bucket:
            raise ValueError(f"bucket={bucket!r}: name one bucket (no '/')")
        if part_size % RESUMABLE_QUANTUM:
            raise ValueError(
                f"part_size={part_size}: GCS resumable chunks are multiples of 256 KiB "
                f"({RESUMABLE_QUANTUM} bytes)"
            )
        if max_attempts < 1 or retry_backoff < 0:
            raise ValueError("max_attempts must be >= 1 and retry_backoff >= 0")
        self.bucket = bucket
        self.endpoint, emulated = _endpoint_and_anonymous(endpoint)
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        if credentials is None and not emulated:
            key_file = os.environ.get(CREDENTIALS_VARIABLE)
            if not key_file:
                raise ValueError(
                    "GCS needs credentials: pass credentials= (a ServiceAccountCredentials or "
                    f"a JSON key path), set {CREDENTIALS_VARIABLE}, or point endpoint= (or "
                    f"{EMULATOR_VARIABLE}) at an emulator"
                )
            credentials = key_file
        if credentials is not None and not isinstance(credentials, ServiceAccountCredentials):
            credentials = ServiceAccountCredentials.from_file(os.fspath(credentials)).unwrap()
        self.credentials = credentials
        self._token_client: AsyncFlextApiClient | None = None
        auth: AsyncOAuth2Middleware | None = None
        if credentials is not None and not anonymous:
            token_client = AsyncFlextApiClient(timeout=timeout)
            self._token_client = token_client

            async def send_token_request(
                request: Request,
            ) -> Success[Response] | Failure[FlextApiError]:
                return await token_client.request(
                    request.method, request.url, headers=request.headers, content=request.content
                )

            flow = ServiceAccountFlow(credentials, scope=scope, clock=time.time)
            auth = AsyncOAuth2Middleware(flow, send_token_request, skew=refresh_ahead, clock=clock)
        self._client = AsyncFlextApiClient(timeout=timeout, auth=auth)

    def __repr__(self) -> str:
        who = (
            self.credentials.client_email
            if self.credentials is not None and self._token_client is not None
            else "anonymous"
        )
        return f"{type(self).__name__}(name={self.name!r}, bucket={self.bucket!r}, as={who!r})"

    # -- requests ---------------------------------------------------------------------------

    def _failed(self, error: FlextApiError, key: str | None, operation: str) -> FlextApiError:
        """A transport failure stays one (the base class calls it BACKEND_UNAVAILABLE); a token
        the endpoint refused is ACCESS_DENIED, one it could not be asked for (unreachable)
        BACKEND_UNAVAILABLE."""
        if isinstance(error, AuthError) and isinstance(error.__cause__, TransportError):
            unavailable = StorageUnavailable(
                f"{self.name}: {operation} {key!r}: the token endpoint could not be reached "
                f"({error}); retry later",
                backend=self.name,
                key=key,
            )
            unavailable.__cause__ = error
            return unavailable
        if isinstance(error, AuthError):
            denied = StorageAccessDenied(
                f"{self.name}: {operation} {key!r}: no access token ({error}); check the "
                "service account's key and its token endpoint",
                backend=self.name,
                key=key,
            )
            denied.__cause__ = error
            return denied
        return error

    async def _call(
        self,
        method: str,
        url: str,
        *,
        key: str | None,
        operation: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Response:
        result = await self._client.request(
            method, url, params=params, headers=headers, content=content
        )
        if isinstance(result, Failure):
            raise self._failed(result.error, key, operation)
        response = result.value
        if response.status_code not in ok:
            raise gcs_error(
                response.status_code,
                response.content,
                backend=self.name,
                key=key,
                operation=operation,
                url=url,
            )
        return response

    def _json(self, response: Response, key: str | None, operation: str) -> dict[str, Any]:
        data = decode_json(response.content)
        if data is None:
            raise StorageError(
                f"{self.name}: {operation} {key!r} answered {response.status_code} with a body "
                "that is not a JSON object; check endpoint= points at the GCS JSON API",
                backend=self.name,
                key=key,
                status_code=response.status_code,
                vendor_body=response.content,
            )
        return data

    # -- primitives -------------------------------------------------------------------------

    async def _head(self, key: str) -> ObjectInfo:
        url = object_url(self.endpoint, self.bucket, key)
        response = await self._call("GET", url, key=key, operation="stat")
        return object_info(self._json(response, key, "stat"), key)

    async def _delete(self, key: str) -> None:
        url = object_url(self.endpoint, self.bucket, key)
        await self._call("DELETE", url, key=key, operation="delete", ok=(200, 204, 404))

    async def _list_page(self, prefix: str, page_token: str | None, page_size: int) -> ListPage:
        url = bucket_objects_url(self.endpoint, self.bucket)
        response = await self._call(
            "GET",
            url,
            key=prefix or None,
            operation="list",
            params=list_query(prefix, page_token, page_size),
        )
        return parse_list(self._json(response, prefix or None, "list"))

    async def _probe(self) -> None:
        await self._list_page("", None, 1)

    async def _close(self) -> None:
        await self._client.aclose()
        if self._token_client is not None:
            await self._token_client.aclose()

    @asynccontextmanager
    async def _open(
        self, key: str, *, byte_range: ByteRange | None, if_match: str | None
    ) -> AsyncIterator[AsyncObjectStream]:
        info = await self._head(key)
        if if_match is not None and info.etag != if_match:
            raise StoragePreconditionFailed(
                f"{self.name}: {key!r} is at generation {info.etag}, not {if_match}: the "
                "object changed; read it again",
                backend=self.name,
                key=key,
                status_code=412,
            )
        start, end = (
            (0, info.size)
            if byte_range is None
            else byte_range.resolve(info.size, backend=self.name, key=key)
        )
        headers = {"Range": f"bytes={start}-{end - 1}"} if byte_range is not None else {}
        params = {"alt": "media"}
        if info.etag is not None:
            params["ifGenerationMatch"] = info.etag
        url = object_url(self.endpoint, self.bucket, key)
        async with self._client.stream("GET", url, params=params, headers=headers) as result:
            if isinstance(result, Failure):
                raise self._failed(result.error, key, "download")
            response = result.value
            if response.status_code not in (200, 206):
                body = await response.aread()
                raise gcs_error(
                    response.status_code,
                    body.unwrap_or(b""),
                    backend=self.name,
                    key=key,
                    operation="download",
                    url=url,
                )
            chunks = response.aiter_bytes()
            if response.status_code == 200 and byte_range is not None:
                chunks = _slice(chunks, start, end)  # the server sent the whole object
            yield AsyncObjectStream(info, chunks, start=start, end=end, backend=self.name)

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
        resource = resource_metadata(key, content_type, metadata)
        # ifGenerationMatch=0: only if no live object has the name (GCS answers 412 otherwise).
        conditions = {} if overwrite else {"ifGenerationMatch": "0"}
        if size is not None and size <= self.multipart_threshold:
            # One multipart upload, the source streamed between the framing's head and tail.
            head, tail, multipart_type = multipart_frame(
                resource, content_type, secrets.token_hex(16)
            )

            async def framed() -> AsyncIterator[bytes]:
                yield head
                async for chunk in body:
                    yield chunk
                yield tail

            # Closed here whatever happens: a failed request may leave it half-read.
            async with aclosing(closable(framed())) as payload:
                response = await self._call(
                    "POST",
                    upload_url(self.endpoint, self.bucket),
                    key=key,
                    operation="upload",
                    params={"uploadType": "multipart", **conditions},
                    headers={
                        "Content-Type": multipart_type,
                        "Content-Length": str(len(head) + size + len(tail)),
                    },
                    content=payload,
                )
            return object_info(self._json(response, key, "upload"), key)
        return await self._resumable(
            key,
            body,
            size=size,
            resource=resource,
            content_type=content_type,
            conditions=conditions,
        )

    # -- resumable uploads ------------------------------------------------------------------

    async def _resumable(
        self,
        key: str,
        body: AsyncUploadBody,
        *,
        size: int | None,
        resource: Mapping[str, Any],
        content_type: str,
        conditions: Mapping[str, str],
    ) -> ObjectInfo:
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": content_type,
        }
        if size is not None:
            headers["X-Upload-Content-Length"] = str(size)
        started = await self._call(
            "POST",
            upload_url(self.endpoint, self.bucket),
            key=key,
            operation="upload (start a resumable session)",
            params={"uploadType": "resumable", "name": key, **conditions},
            headers=headers,
            content=json.dumps(dict(resource)).encode(),
            ok=(200, 201),
        )
        session = started.headers.get("location")
        if not session:
            raise StorageUploadFailed(
                f"{self.name}: the resumable upload of {key!r} got no session URI (Location); "
                "check endpoint= points at the GCS upload API",
                backend=self.name,
                key=key,
                status_code=started.status_code,
            )
        if session.startswith("/"):
            session = self.endpoint + session
        upload = AsyncResumableUpload(
            self._client,
            session,
            backend=self.name,
            key=key,
            max_attempts=self.max_attempts,
            retry_backoff=self.retry_backoff,
            failed=self._failed,
        )
        try:
            resource = await upload.send(async_iter_parts(body, self.part_size))
        except Exception:
            await upload.cancel()
            raise
        return object_info(resource, key)

    # -- copy and signed URLs ---------------------------------------------------------------

    async def _copy(
        self,
        source: str,
        destination: str,
        *,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
        overwrite: bool,
    ) -> ObjectInfo:
        wanted: ObjectInfo | None = None
        body: dict[str, Any] = {}
        if content_type is not None or metadata is not None:
            original = await self._head(source)
            wanted = ObjectInfo(
                key=destination,
                size=original.size,
                content_type=content_type or original.content_type,
                metadata=dict(original.metadata if metadata is None else metadata),
            )
            body = resource_metadata(destination, wanted.content_type, wanted.metadata)
        params: dict[str, str] = {} if overwrite else {"ifGenerationMatch": "0"}
        url = rewrite_url(self.endpoint, self.bucket, source, destination)
        while True:
            response = await self._call(
                "POST",
                url,
                key=source,
                operation=f"copy to {destination!r}",
                params=params,
                headers={"Content-Type": "application/json"},
                content=json.dumps(body).encode(),
            )
            answer = self._json(response, source, "copy")
            token = answer.get("rewriteToken")
            if answer.get("done") or not isinstance(token, str):
                break
            params = {**params, "rewriteToken": token}  # a large copy goes on in steps
        resource = answer.get("resource")
        info = object_info(resource if isinstance(resource, Mapping) else {}, destination)
        info = ObjectInfo(
            destination, info.size, info.etag, info.last_modified, info.content_type, info.metadata
        )
        if wanted is not None and (
            info.content_type != wanted.content_type or dict(info.metadata) != dict(wanted.metadata)
        ):
            info = await self._patch(destination, info, wanted)
        return info

    async def _patch(self, key: str, current: ObjectInfo, wanted: ObjectInfo) -> ObjectInfo:
        """Set content type and metadata on a copy when the server ignored them in the rewrite
        (emulators do): names no longer wanted are sent as null, which removes them."""
        metadata: dict[str, str | None] = dict.fromkeys(current.metadata)
        metadata.update(wanted.metadata)
        response = await self._call(
            "PATCH",
            object_url(self.endpoint, self.bucket, key),
            key=key,
            operation="copy (set metadata)",
            headers={"Content-Type": "application/json"},
            content=json.dumps({"contentType": wanted.content_type, "metadata": metadata}).encode(),
        )
        return object_info(self._json(response, key, "copy"), key)

    async def _presign(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: float,
        content_type: str | None,
    ) -> PresignedURL:
        if self.credentials is None:
            raise StorageUnsupported(
                f"{self.name}: signing a URL for {key!r} needs service-account credentials; "
                "pass credentials= (an emulator endpoint alone is anonymous)",
                backend=self.name,
                key=key,
            )
        now = datetime.now(UTC)
        seconds = max(1, int(expires_in))
        headers = {"Content-Type": content_type} if content_type else {}
        parts = sign_url_v4(
            self.credentials,
            method=method,
            bucket=self.bucket,
            key=key,
            expires_in=seconds,
            now=now,
            endpoint=self.endpoint,
            headers=headers,
        )
        return PresignedURL(parts.url, method, now + timedelta(seconds=seconds), headers)


async def _slice(chunks: AsyncIterator[bytes], start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes ``start``..``end`` of a whole-object body (a server that ignored ``Range``)."""
    position = 0
    async for chunk in chunks:
        low, high = max(start - position, 0), min(end - position, len(chunk))
        position += len(chunk)
        if low < high:
            yield chunk[low:high]
        if position >= end:
            return
