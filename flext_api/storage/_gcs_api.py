"""The Google Cloud Storage JSON API without I/O: URLs, object resources, errors, upload bodies.

What the GCS backend sends and how it reads the answers, as pure functions:

* object and upload URLs (an object name is one path segment: ``/`` is escaped as ``%2F``);
* an object resource (JSON) as :class:`~flext_api.storage.ObjectInfo`: the ``etag`` is the
  object's ``generation``, the number GCS preconditions (``ifGenerationMatch``) compare;
* an error answer as a :class:`~flext_api.storage.StorageError`, the vendor's JSON kept and its
  first ``reason`` as ``vendor_code``;
* the ``multipart/related`` body of a small upload (metadata and bytes in one request);
* the ``Range`` header of a resumable session's ``308``: how many bytes it has persisted.

This module must never read a clock or touch a socket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from flext_api.storage._errors import StorageError, storage_error_for_status
from flext_api.storage._types import ListPage, ObjectInfo

__all__ = [
    "DEFAULT_ENDPOINT",
    "RESUMABLE_QUANTUM",
    "bucket_objects_url",
    "decode_json",
    "gcs_error",
    "list_query",
    "multipart_frame",
    "object_info",
    "object_url",
    "parse_list",
    "persisted_bytes",
    "resource_metadata",
    "rewrite_url",
    "upload_url",
]

DEFAULT_ENDPOINT: Final = "https://storage.googleapis.com"
RESUMABLE_QUANTUM: Final = 256 * 1024
"""A resumable upload's chunks, all but the last, are a multiple of this many bytes."""


def _segment(text: str) -> str:
    return quote(text, safe="")


def object_url(endpoint: str, bucket: str, key: str, *, media: bool = False) -> str:
    """The JSON API URL of one object (``media``: its bytes, ``alt=media``)."""
    url = f"{endpoint}/storage/v1/b/{_segment(bucket)}/o/{_segment(key)}"
    return url + "?alt=media" if media else url


def bucket_objects_url(endpoint: str, bucket: str) -> str:
    return f"{endpoint}/storage/v1/b/{_segment(bucket)}/o"


def upload_url(endpoint: str, bucket: str) -> str:
    return f"{endpoint}/upload/storage/v1/b/{_segment(bucket)}/o"


def rewrite_url(endpoint: str, bucket: str, source: str, destination: str) -> str:
    return (
        f"{endpoint}/storage/v1/b/{_segment(bucket)}/o/{_segment(source)}"
        f"/rewriteTo/b/{_segment(bucket)}/o/{_segment(destination)}"
    )


def resource_metadata(
    key: str, content_type: str | None, metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """The object resource sent with an upload or a rewrite."""
    resource: dict[str, Any] = {"name": key}
    if content_type is not None:
        resource["contentType"] = content_type
    if metadata is not None:
        resource["metadata"] = dict(metadata)
    return resource


def multipart_frame(
    resource: Mapping[str, Any], content_type: str, boundary: str
) -> tuple[bytes, bytes, str]:
    """What goes around the object's bytes in a ``multipart/related`` upload: the head (the
    resource JSON, then the media part's header), the tail, and the body's ``Content-Type``.
    The bytes are streamed between head and tail, so ``boundary`` cannot be checked against
    them: the caller draws 128 random bits (a collision chance of 2**-128 per byte offset)."""
    head = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        f"{json.dumps(dict(resource))}\r\n"
        f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, f"multipart/related; boundary={boundary}"


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def object_info(resource: Mapping[str, Any], key: str | None = None) -> ObjectInfo:
    """An object resource as ``ObjectInfo`` (``etag`` = ``generation``)."""
    raw_metadata = resource.get("metadata")
    metadata = (
        {str(k): str(v) for k, v in raw_metadata.items() if v is not None}
        if isinstance(raw_metadata, Mapping)
        else {}
    )
    size = resource.get("size")
    generation = resource.get("generation")
    content_type = resource.get("contentType")
    return ObjectInfo(
        key=str(resource.get("name", key or "")),
        size=int(size) if isinstance(size, str | int) and str(size).isdigit() else 0,
        etag=str(generation) if generation not in (None, "") else None,
        last_modified=_time(resource.get("updated")),
        content_type=content_type if isinstance(content_type, str) and content_type else None,
        metadata=metadata,
    )


def decode_json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def gcs_error(
    status_code: int,
    body: bytes,
    *,
    backend: str,
    key: str | None,
    operation: str,
    url: str | None = None,
) -> StorageError:
    """The storage error for an error answer; the body (GCS's JSON error) is kept as is."""
    vendor_code: str | None = None
    data = decode_json(body)
    error = data.get("error") if data else None
    if isinstance(error, Mapping):
        errors = error.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            reason = errors[0].get("reason")
            vendor_code = reason if isinstance(reason, str) else None
        if vendor_code is None and isinstance(error.get("status"), str):
            vendor_code = error["status"]
    return storage_error_for_status(
        status_code,
        backend=backend,
        key=key,
        operation=operation,
        vendor_code=vendor_code,
        vendor_body=body or None,
        url=url,
    )


def list_query(prefix: str, page_token: str | None, page_size: int) -> dict[str, str]:
    query = {"maxResults": str(page_size), "fields": "items,nextPageToken"}
    if prefix:
        query["prefix"] = prefix
    if page_token:
        query["pageToken"] = page_token
    return query


def parse_list(data: Mapping[str, Any]) -> ListPage:
    """A ``objects.list`` answer as a page (items sorted by key; the API lists in that order)."""
    raw = data.get("items")
    items = (
        [object_info(item) for item in raw if isinstance(item, Mapping)]
        if isinstance(raw, list)
        else []
    )
    token = data.get("nextPageToken")
    return ListPage(
        tuple(sorted(items, key=lambda info: info.key)),
        token if isinstance(token, str) and token else None,
    )


_RANGE: Final = re.compile(r"bytes=0-(\d+)")


def persisted_bytes(range_header: str | None) -> int | None:
    """How many bytes a resumable session holds, from its ``308``'s ``Range`` (absent: none);
    ``None`` when the header is not the ``bytes=0-N`` GCS sends."""
    if not range_header:
        return 0
    match = _RANGE.fullmatch(range_header.strip())
    return int(match.group(1)) + 1 if match else None
