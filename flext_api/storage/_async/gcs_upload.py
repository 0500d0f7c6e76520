"""One GCS resumable upload session: chunks sent in order, each retried and resumed on its own.

A session (the URI a ``uploadType=resumable`` start answers with) takes the object's bytes as
``PUT`` requests with ``Content-Range: bytes FIRST-LAST/TOTAL`` (``TOTAL`` is ``*`` until the
last chunk). It answers ``308`` with ``Range: bytes=0-N`` while incomplete and ``200``/``201``
with the object resource once the last byte is in; only then is the object visible.

When a chunk fails (the connection drops, a 5xx, a 429), the session is asked what it holds
(``Content-Range: bytes */TOTAL``) after a pause, and the chunk goes again from that byte: a
server that kept half of it gets only the other half. What the session reports must fall
inside the chunk being sent; earlier parts are no longer held, so anything else fails the
upload rather than resend what is gone.

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any, Final

from flext_api._async.client import AsyncFlextApiClient
from flext_api._exceptions import FlextApiError, TransportError
from flext_api._models import Response
from flext_api._synchronization import async_sleep
from flext_api.storage._errors import StorageError, StorageUploadFailed
from flext_api.storage._gcs_api import decode_json, gcs_error, persisted_bytes

__all__ = ["AsyncResumableUpload"]

# Statuses after which a chunk is worth sending again (Google's retry guidance).
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


class AsyncResumableUpload:
    """Sends the parts of one object to one resumable session (``send``), or gives it up
    (``cancel``). ``failed`` turns a non-transport client error (no token...) into what the
    backend raises."""

    __slots__ = (
        "_client",
        "_failed",
        "backend",
        "key",
        "max_attempts",
        "retry_backoff",
        "session",
    )

    def __init__(
        self,
        client: AsyncFlextApiClient,
        session: str,
        *,
        backend: str,
        key: str,
        max_attempts: int,
        retry_backoff: float,
        failed: Callable[[FlextApiError, str | None, str], FlextApiError],
    ) -> None:
        self._client = client
        self.session = session
        self.backend = backend
        self.key = key
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self._failed = failed

    async def send(self, parts: AsyncIterable[bytes]) -> dict[str, Any]:
        """Send every part; the object resource of the completed upload."""
        # One part of look-ahead: the chunk that ends the body must carry the total size.
        iterator = aiter(parts)
        offset = 0
        current: bytes = await anext(iterator, b"")
        while True:
            following = await anext(iterator, None)
            total = offset + len(current) if following is None else None
            resource = await self._send_chunk(current, offset, total)
            if following is None:
                if resource is None:
                    raise self._upload_failed(
                        "the session did not complete after its last chunk; upload again"
                    )
                return resource
            offset += len(current)
            current = following

    async def cancel(self) -> None:
        """Best effort: an unfinished session is never visible, and expires on its own."""
        await self._client.request("DELETE", self.session)

    def _upload_failed(self, why: str, **details: Any) -> StorageUploadFailed:
        return StorageUploadFailed(
            f"{self.backend}: the resumable upload of {self.key!r}: {why}",
            backend=self.backend,
            key=self.key,
            **details,
        )

    def _json(self, response: Response) -> dict[str, Any]:
        data = decode_json(response.content)
        if data is None:
            raise self._upload_failed(
                f"the completed session answered {response.status_code} without a JSON object "
                "resource; check endpoint= points at the GCS upload API",
                vendor_body=response.content,
            )
        return data

    def _error(self, response: Response, operation: str) -> StorageError:
        return gcs_error(
            response.status_code,
            response.content,
            backend=self.backend,
            key=self.key,
            operation=operation,
            url=self.session,
        )

    async def _send_chunk(
        self, chunk: bytes, offset: int, total: int | None
    ) -> dict[str, Any] | None:
        """Send ``chunk`` (bytes ``offset``.. of the object) until the session holds it all.

        Returns the object resource when this chunk completed the upload, else ``None``. A
        ``308`` that kept only some of the bytes is progress: the rest goes at once. A failure
        (no answer, a retryable status, a ``308`` that kept nothing new) costs one of
        ``max_attempts``: after a pause the session is asked what it holds, and sending
        resumes from there.
        """
        end = offset + len(chunk)
        size_text = "*" if total is None else str(total)
        position = offset
        failures = 0
        last_error: FlextApiError | None = None
        ask = False
        while True:
            if ask:
                failures += 1
                if failures >= self.max_attempts:
                    break
                await async_sleep(self.retry_backoff * 2 ** (failures - 1))
                status = await self._status(size_text)
                if isinstance(status, dict):
                    return status
                if isinstance(status, FlextApiError):
                    last_error = status
                    continue
                if not offset <= status <= end:
                    raise self._upload_failed(
                        f"the session holds {status} bytes, outside the chunk being sent "
                        f"({offset}-{end}); nothing was stored, upload again"
                    )
                position = status
                if position == end and total is None:
                    return None
                ask = False
            piece = chunk[position - offset :]
            content_range = (
                f"bytes {position}-{end - 1}/{size_text}" if piece else f"bytes */{size_text}"
            )
            result = await self._client.request(
                "PUT", self.session, headers={"Content-Range": content_range}, content=piece
            )
            ask = True
            if not result.is_success:
                if not isinstance(result.error, TransportError):
                    raise self._failed(result.error, self.key, "upload")
                last_error = result.error
                continue
            response = result.value
            if response.status_code in (200, 201):
                return self._json(response)
            if response.status_code == 308:
                held = persisted_bytes(response.headers.get("range"))
                if held is not None and position < held <= end:
                    if held == end and total is None:
                        return None
                    position, ask = held, False  # part of it was kept: send the rest now
                    continue
                last_error = self._upload_failed(f"the session kept {held} of {end} bytes")
                continue
            error = self._error(response, "upload")
            if response.status_code not in RETRY_STATUSES:
                raise error
            last_error = error
        failure = self._upload_failed(
            f"failed {self.max_attempts} times at byte {position} ({last_error}); nothing was "
            "stored, upload again later"
        )
        raise failure from last_error

    async def _status(self, size_text: str) -> int | dict[str, Any] | FlextApiError:
        """How many bytes the session holds (or the finished object's resource, or what went
        wrong asking, when it is worth asking again)."""
        result = await self._client.request(
            "PUT", self.session, headers={"Content-Range": f"bytes */{size_text}"}, content=b""
        )
        if not result.is_success:
            if not isinstance(result.error, TransportError):
                raise self._failed(result.error, self.key, "upload")
            return result.error
        response = result.value
        if response.status_code in (200, 201):
            return self._json(response)
        if response.status_code == 308:
            held = persisted_bytes(response.headers.get("range"))
            if held is not None:
                return held
        error = self._error(response, "upload (session status)")
        if response.status_code in RETRY_STATUSES:
            return error
        failure = self._upload_failed(
            f"the session is gone ({response.status_code}); nothing was stored, upload again",
            status_code=response.status_code,
            vendor_body=response.content,
        )
        raise failure from error
