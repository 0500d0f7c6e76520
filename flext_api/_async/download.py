"""Downloads that survive a dropped connection: resume with ``Range`` and ``If-Range``.

``async_download(client, url, dest)`` (blocking twin: ``download``) streams a resource into a
file. When the connection fails mid-body, it asks for the rest (``Range: bytes=N-``) under the
first response's validator (``If-Range``: its strong ETag, else its Last-Modified), and:

- ``206`` whose ``Content-Range`` starts at N, for the same total: the rest is appended;
- ``200``: the resource changed (or the server ignores ranges): the file starts over from
  the new answer, never a splice of two versions;
- anything else (a ``Content-Range`` at another offset, a ``416``...): a ``Failure``
  (``DOWNLOAD_RESUME_FAILED``) naming what the server answered.

Without a validator there is nothing to prove the rest belongs to the same version, so the
first failure is final. The body is asked for as ``identity`` (a range of a compressed
representation would not decode on its own). A path destination is written to a temporary
file beside it and renamed into place only when the whole body arrived.
"""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING

from flext_api._downloads import (
    DownloadResult,
    DownloadResumeError,
    Sink,
    continues,
    header_pairs,
    refused,
)
from flext_api._downloads import validator as first_validator
from flext_api._exceptions import FlextApiError
from flext_api._result import Failure, Success

if TYPE_CHECKING:
    from flext_api._async.client import AsyncFlextApiClient
    from flext_api._headers import HeaderTypes

__all__ = ["async_download"]  # unasync: remove
# unasync: sync-only: __all__ = ["download"]


async def async_download(
    client: AsyncFlextApiClient,
    url: str,
    dest: str | os.PathLike[str] | IO[bytes],
    *,
    headers: HeaderTypes | None = None,
    max_resumes: int = 5,
) -> Success[DownloadResult] | Failure[FlextApiError]:
    """Stream ``url`` into ``dest`` (a path, or a binary file open for writing), resuming
    after a dropped connection up to ``max_resumes`` times. A 4xx/5xx answer writes nothing
    and is a ``Failure`` (``HTTP_STATUS``)."""
    sink = Sink(dest)
    try:
        result = await _run(client, url, sink, headers, max_resumes)
    except BaseException:
        sink.abandon()
        raise
    if isinstance(result, Success):
        sink.finish()
    else:
        sink.abandon()
    return result


async def _run(
    client: AsyncFlextApiClient,
    url: str,
    sink: Sink,
    headers: HeaderTypes | None,
    max_resumes: int,
) -> Success[DownloadResult] | Failure[FlextApiError]:
    written = resumes = restarts = 0
    validator: str | None = None
    total: int | None = None
    etag = last_modified = None
    while True:
        asked: dict[str, str] = {"Accept-Encoding": "identity"}
        if written:
            assert validator is not None
            asked |= {"Range": f"bytes={written}-", "If-Range": validator}
        request_headers = [*header_pairs(headers), *asked.items()]
        async with client.stream("GET", url, headers=request_headers) as outcome:
            if isinstance(outcome, Failure):
                error: FlextApiError = outcome.error
            else:
                response = outcome.value
                status = response.status_code
                if status >= 400 or status not in (200, 206) or (status == 206 and not written):
                    return Failure(refused(status, url, written))
                if status == 200:
                    if written:
                        # The validator no longer matches (or ranges are ignored): start over.
                        if not sink.restart():
                            return Failure(
                                DownloadResumeError(
                                    f"GET {url}: the resource changed during the download and "
                                    "the destination cannot be rewound; download it again",
                                    url=url,
                                )
                            )
                        restarts += 1
                        written = 0
                    validator = first_validator(response.headers)
                    etag = response.headers.get("etag")
                    last_modified = response.headers.get("last-modified")
                    length = response.headers.get("content-length")
                    total = int(length) if length and length.isdigit() else None
                else:
                    problem = continues(response.headers.get("content-range"), written, total)
                    if problem is not None:
                        return Failure(DownloadResumeError(f"GET {url}: {problem}", url=url))
                try:
                    async for chunk in response.aiter_raw():
                        sink.file.write(chunk)
                        written += len(chunk)
                except FlextApiError as exc:
                    error = exc
                else:
                    return Success(DownloadResult(written, resumes, restarts, etag, last_modified))
        if validator is None or not written or resumes >= max_resumes:
            return Failure(error)
        resumes += 1
