"""Azure Blob Storage on the project's own HTTP client: Shared Key or SAS, block blobs.

Small uploads are one Put Blob; larger ones (or ones of unknown size) are staged as blocks (Put
Block, each retried on its own) and made visible by one Put Block List: blocks that were never
committed are invisible and the service drops them, so a failed upload leaves nothing under the
key. Requests are signed here (:mod:`flext_api.storage._azure_auth`) and their answers read by
:mod:`flext_api.storage._azure_xml`; this module only sends and receives.

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import quote

from flext_api._async.client import AsyncFlextApiClient
from flext_api._exceptions import FlextApiError, TransportError
from flext_api._models import Response, Timeout
from flext_api._result import Failure, Success
from flext_api._sansio.auth import Secret
from flext_api._synchronization import async_sleep
from flext_api.storage._async.backend import AsyncStorageBackend
from flext_api.storage._async.streams import AsyncObjectStream, AsyncUploadBody, async_iter_parts
from flext_api.storage._azure_auth import (
    SERVICE_VERSION,
    AzureAuthError,
    AzureCredentials,
    blob_sas,
    format_http_date,
    shared_key_authorization,
)
from flext_api.storage._azure_config import AzureConnection, parse_connection_string
from flext_api.storage._azure_xml import (
    META_PREFIX,
    azure_error,
    block_id,
    block_list_xml,
    info_from_headers,
    parse_list_page,
)
from flext_api.storage._errors import (
    StorageError,
    StorageNotFound,
    StoragePreconditionFailed,
    StorageUnavailable,
    StorageUnsupported,
    StorageUploadFailed,
)
from flext_api.storage._types import ByteRange, ListPage, ObjectInfo, PresignedURL

__all__ = ["AsyncAzureBlobStorage"]

_Query = Sequence[tuple[str, str]]
_COPY_POLLS: Final = 60


class AsyncAzureBlobStorage(AsyncStorageBackend):
    """Objects in one Azure Blob Storage container (or an emulator such as Azurite).

    Give the account as a ``connection_string`` (``UseDevelopmentStorage=true`` for the local
    emulator) or as ``endpoint`` (the blob service URL, path-style for an emulator:
    ``http://127.0.0.1:10000/devstoreaccount1``) with ``account_name``/``account_key`` (Shared
    Key) or ``sas_token`` (a SAS with the permissions you use). ``client`` shares an
    existing HTTP client (it is then not closed here); ``part_retries`` is how often one
    block is tried before the upload fails.
    """

    kind = "azure"

    def __init__(
        self,
        container: str,
        *,
        connection_string: str | None = None,
        endpoint: str | None = None,
        account_name: str | None = None,
        account_key: str | Secret | None = None,
        sas_token: str | Secret | None = None,
        client: AsyncFlextApiClient | None = None,
        timeout: Timeout | float | None = 60.0,
        part_retries: int = 3,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not container or "/" in container:
            raise ValueError(f"container {container!r}: name one container, without '/'")
        if part_retries < 1:
            raise ValueError("part_retries must be >= 1")
        self.container = container
        self.part_retries = part_retries
        self._connection = _connection(
            connection_string, endpoint, account_name, account_key, sas_token
        )
        self._owns_client = client is None
        self._client = client or AsyncFlextApiClient(timeout=timeout, cookies=False)
        self._container_url = f"{self._connection.blob_endpoint}/{quote(container, safe='')}"

    # -- requests -----------------------------------------------------------------------------

    def _target(self, key: str | None) -> tuple[str, str]:
        url = self._container_url if key is None else f"{self._container_url}/{_path(key)}"
        path = "/" + url.split("://", 1)[1].split("/", 1)[1]
        return url, path

    def _prepare(
        self,
        method: str,
        key: str | None,
        query: _Query,
        headers: Mapping[str, str],
    ) -> tuple[str, dict[str, str]]:
        url, path = self._target(key)
        signed = {
            "x-ms-date": format_http_date(datetime.now(UTC)),
            "x-ms-version": SERVICE_VERSION,
            "Accept-Encoding": "identity",
            **headers,
        }
        params = list(query)
        if self._connection.credentials is not None:
            signed["Authorization"] = shared_key_authorization(
                self._connection.credentials, method, path, params, signed
            )
        elif self._connection.sas_token is not None:
            params.append(("", self._connection.sas_token.reveal()))
        encoded = "&".join(
            value if not name else f"{name}={quote(value, safe='')}" for name, value in params
        )
        return (f"{url}?{encoded}" if encoded else url), signed

    async def _call(
        self,
        method: str,
        key: str | None,
        *,
        operation: str,
        query: _Query = (),
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncUploadBody | None = None,
        ok: Sequence[int] = (200, 201, 202),
    ) -> Response:
        """One signed request. ``content`` is bytes, or an upload body streamed under its
        known ``size`` (Shared Key signs the length, never the payload)."""
        all_headers = dict(headers or {})
        if isinstance(content, AsyncUploadBody):
            all_headers["Content-Length"] = str(content.size)
        elif content is not None or method in ("PUT", "POST"):
            all_headers["Content-Length"] = str(len(content or b""))
        url, signed = self._prepare(method, key, query, all_headers)
        body = content if content is not None else (b"" if method in ("PUT", "POST") else None)
        result = await self._client.request(method, url, headers=signed, content=body)
        if isinstance(result, Failure):
            raise self._transport_error(result.error, key, operation)
        response = result.value
        if response.status_code not in ok:
            raise azure_error(
                response.status_code,
                _lower(response.headers.items()),
                response.content,
                backend=self.name,
                key=key,
                operation=operation,
                url=url.split("?", 1)[0],
            )
        return response

    def _transport_error(
        self, error: FlextApiError, key: str | None, operation: str
    ) -> FlextApiError:
        # The URL may carry a SAS signature: errors name the resource without its query.
        if error.url is not None:
            error.url = error.url.split("?", 1)[0]
        if isinstance(error, TransportError):
            converted = StorageUnavailable(
                f"{self.name}: {operation} {key!r} could not reach the blob service "
                f"({error.code}: {error}); check the endpoint, then retry",
                backend=self.name,
                key=key,
                url=error.url,
            )
            converted.__cause__ = error
            return converted
        return error

    # -- primitives -----------------------------------------------------------------------------

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
        headers = {"x-ms-blob-content-type": content_type}
        headers.update({f"{META_PREFIX}{name}": value for name, value in metadata.items()})
        if not overwrite:
            headers["If-None-Match"] = "*"
        if size is not None and size <= self.multipart_threshold:
            # One Put Blob, the source streamed to the socket a chunk at a time.
            response = await self._call(
                "PUT",
                key,
                operation="upload",
                headers={**headers, "x-ms-blob-type": "BlockBlob"},
                content=body,
            )
        else:
            if not overwrite:
                await self._refuse_existing(key)
            blocks = await self._stage_blocks(key, body)
            response = await self._call(
                "PUT",
                key,
                operation="upload (commit blocks)",
                query=[("comp", "blocklist")],
                headers={**headers, "Content-Type": "application/xml"},
                content=block_list_xml(blocks),
            )
        answered = info_from_headers(key, _lower(response.headers.items()))
        return ObjectInfo(
            key=key, size=body.sent, etag=answered.etag, last_modified=answered.last_modified
        )

    async def _refuse_existing(self, key: str) -> None:
        """Fail before staging blocks when ``overwrite=False`` meets an existing blob (the
        commit checks again: this only spares the upload)."""
        try:
            await self._head(key)
        except StorageNotFound:
            return
        raise StoragePreconditionFailed(
            f"{self.name}: upload {key!r}: an object exists under the key and overwrite=False; "
            "pass overwrite=True to replace it",
            backend=self.name,
            key=key,
        )

    async def _stage_blocks(self, key: str, body: AsyncUploadBody) -> list[str]:
        upload_id = uuid.uuid4().hex[:16]
        blocks: list[str] = []
        # Closed explicitly: a part that fails abandons the generator, and trio reports an
        # async generator left to the garbage collector. (It is typed as an iterator, which
        # does not promise the close method its generator has.)
        parts_of_body = async_iter_parts(body, self.part_size)
        async with aclosing(parts_of_body) as parts:  # type: ignore[type-var]
            async for part in parts:
                block = block_id(upload_id, len(blocks))
                await self._put_block(key, block, part)
                blocks.append(block)
        return blocks

    async def _put_block(self, key: str, block: str, part: bytes) -> None:
        for attempt in range(1, self.part_retries + 1):
            try:
                await self._call(
                    "PUT",
                    key,
                    operation="upload (block)",
                    query=[("comp", "block"), ("blockid", block)],
                    content=part,
                )
                return
            except StorageUnavailable as exc:
                if attempt == self.part_retries:
                    failed = StorageUploadFailed(
                        f"{self.name}: upload {key!r} failed: a block of {len(part)} bytes "
                        f"failed {attempt} times ({exc.code}: {exc.message}); nothing was "
                        "committed, so nothing new is visible under the key: retry the upload",
                        backend=self.name,
                        key=key,
                        status_code=exc.status_code,
                        vendor_code=exc.vendor_code,
                        vendor_body=exc.vendor_body,
                    )
                    raise failed from exc
                await async_sleep(0.2 * attempt)

    async def _head(self, key: str) -> ObjectInfo:
        response = await self._call("HEAD", key, operation="stat")
        return info_from_headers(key, _lower(response.headers.items()))

    def _open(
        self, key: str, *, byte_range: ByteRange | None, if_match: str | None
    ) -> AbstractAsyncContextManager[AsyncObjectStream]:
        return self._download(key, byte_range, if_match)

    @asynccontextmanager
    async def _download(
        self, key: str, byte_range: ByteRange | None, if_match: str | None
    ) -> AsyncIterator[AsyncObjectStream]:
        headers: dict[str, str] = {}
        if byte_range is not None:
            if byte_range.suffix is not None:
                # x-ms-range takes no suffix form: resolve it against the size first.
                start, end = byte_range.resolve(
                    (await self._head(key)).size, backend=self.name, key=key
                )
                byte_range = ByteRange(start, end)
            headers["x-ms-range"] = byte_range.header_value()
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        url, signed = self._prepare("GET", key, (), headers)
        async with self._client.stream("GET", url, headers=signed) as result:
            if isinstance(result, Failure):
                raise self._transport_error(result.error, key, "download")
            response = result.value
            if response.status_code not in (200, 206):
                read = await response.aread()
                raise azure_error(
                    response.status_code,
                    _lower(response.headers.items()),
                    read.value if isinstance(read, Success) else b"",
                    backend=self.name,
                    key=key,
                    operation="download",
                    url=url.split("?", 1)[0],
                )
            info = info_from_headers(key, _lower(response.headers.items()))
            if byte_range is not None:
                # The service answers 416 to a range past the end; an emulator may answer it
                # with an empty 206 or the whole object: the contract is the same everywhere.
                byte_range.resolve(info.size, backend=self.name, key=key)
            start = byte_range.start if byte_range is not None else 0
            length = int(response.headers.get("content-length") or 0)
            yield AsyncObjectStream(
                info,
                response.aiter_bytes(),
                start=start,
                end=start + length,
                backend=self.name,
            )

    async def _delete(self, key: str) -> None:
        try:
            await self._call("DELETE", key, operation="delete")
        except StorageNotFound:
            return

    async def _list_page(self, prefix: str, page_token: str | None, page_size: int) -> ListPage:
        query = [
            ("restype", "container"),
            ("comp", "list"),
            ("include", "metadata"),
            ("maxresults", str(page_size)),
        ]
        if prefix:
            query.append(("prefix", prefix))
        if page_token:
            query.append(("marker", page_token))
        response = await self._call("GET", None, operation="list", query=query)
        try:
            return parse_list_page(response.content)
        except ValueError as exc:
            raise StorageError(
                f"{self.name}: the listing answer could not be read ({exc})",
                backend=self.name,
                vendor_body=response.content,
            ) from exc

    async def _copy(
        self,
        source: str,
        destination: str,
        *,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
        overwrite: bool,
    ) -> ObjectInfo:
        # The service reads the source through a URL: a short read-only SAS of its own (Shared
        # Key headers cannot travel in a URL), or the token this backend was given.
        if self._connection.credentials is not None:
            token = blob_sas(
                self._connection.credentials,
                self.container,
                source,
                permissions="r",
                expiry=datetime.now(UTC) + timedelta(hours=1),
            )
        else:
            token = self._connection.sas_token.reveal() if self._connection.sas_token else ""
        source_url = f"{self._target(source)[0]}?{token}"
        headers = {"x-ms-copy-source": source_url}
        if metadata is not None:
            headers.update({f"{META_PREFIX}{name}": value for name, value in metadata.items()})
        if not overwrite:
            headers["If-None-Match"] = "*"
        response = await self._call("PUT", destination, operation="copy", headers=headers)
        status = response.headers.get("x-ms-copy-status", "success")
        polls = 0
        while status == "pending" and polls < _COPY_POLLS:
            await async_sleep(0.5)
            head = await self._call("HEAD", destination, operation="copy")
            status = head.headers.get("x-ms-copy-status", "success")
            polls += 1
        if status != "success":
            raise StorageError(
                f"{self.name}: copy {source!r} -> {destination!r} ended as {status!r}; "
                "copy it again",
                backend=self.name,
                key=destination,
            )
        if content_type is not None:
            await self._call(
                "PUT",
                destination,
                operation="copy (content type)",
                query=[("comp", "properties")],
                headers={"x-ms-blob-content-type": content_type},
            )
        return await self._head(destination)

    async def _presign(
        self,
        key: str,
        *,
        method: Literal["GET", "PUT"],
        expires_in: float,
        content_type: str | None,
    ) -> PresignedURL:
        credentials = self._connection.credentials
        if credentials is None:
            raise StorageUnsupported(
                f"{self.name}: SAS URLs are signed with the account key; this backend was "
                "given a SAS token only. Pass the account key (or a connection string with "
                "AccountKey) to presign",
                backend=self.name,
                key=key,
            )
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)
        token = blob_sas(
            credentials,
            self.container,
            key,
            permissions="r" if method == "GET" else "cw",
            expiry=expires_at,
        )
        headers: dict[str, str] = {}
        if method == "PUT":
            headers["x-ms-blob-type"] = "BlockBlob"
            if content_type is not None:
                headers["Content-Type"] = content_type
        return PresignedURL(
            url=f"{self._target(key)[0]}?{token}",
            method=method,
            expires_at=expires_at,
            headers=headers,
        )

    async def _close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- container ------------------------------------------------------------------------------

    async def create_container(self) -> Success[bool] | Failure[StorageError]:
        """Create the container: ``Success(True)``, or ``Success(False)`` when it already
        exists; a failure (``ACCESS_DENIED``, ``BACKEND_UNAVAILABLE``...) as for any call."""
        try:
            await self._call(
                "PUT", None, operation="create container", query=[("restype", "container")]
            )
        except StorageError as exc:
            if exc.status_code == 409 and exc.vendor_code == "ContainerAlreadyExists":
                return Success(False)
            return Failure(exc)
        except FlextApiError as exc:
            return Failure(self._convert(exc, None, "create container"))
        return Success(True)


def _connection(
    connection_string: str | None,
    endpoint: str | None,
    account_name: str | None,
    account_key: str | Secret | None,
    sas_token: str | Secret | None,
) -> AzureConnection:
    try:
        if connection_string is not None:
            if endpoint or account_name or account_key or sas_token:
                raise ValueError("give connection_string= or endpoint= and credentials, not both")
            return parse_connection_string(connection_string)
        if not endpoint:
            raise ValueError("give connection_string= or endpoint= (the blob service URL)")
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {endpoint!r} must be an http(s) URL")
        if (account_key is None) == (sas_token is None):
            raise ValueError("give account_name= and account_key=, or sas_token= (one of them)")
        if account_key is not None:
            if not account_name:
                raise ValueError("account_key= needs account_name=")
            credentials = AzureCredentials(account_name, Secret(account_key))
            return AzureConnection(endpoint.rstrip("/"), credentials=credentials)
        token = Secret(sas_token or "")
        return AzureConnection(endpoint.rstrip("/"), sas_token=Secret(token.reveal().lstrip("?")))
    except AzureAuthError as exc:
        raise ValueError(str(exc)) from None


def _path(key: str) -> str:
    return quote(key, safe="/~")


def _lower(items: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in items}
