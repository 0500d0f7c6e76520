"""Azure Blob's XML and its answers, without I/O: listings, block lists, errors, blob headers.

The backend (:mod:`flext_api.storage._async.azure`) sends and receives; everything it decides
from a status line, headers or an XML body is here, so it is tested on bytes alone. This module
must never import the transport or do I/O.

Errors keep the service's words: the ``x-ms-error-code`` header (or the ``<Code>`` of the XML
body) becomes ``vendor_code``, the body itself ``vendor_body``.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final
from xml.sax.saxutils import escape

from flext_api.storage._errors import (
    StorageError,
    StoragePreconditionFailed,
    storage_error_for_status,
)
from flext_api.storage._types import ListPage, ObjectInfo

__all__ = [
    "META_PREFIX",
    "azure_error",
    "block_id",
    "block_list_xml",
    "info_from_headers",
    "parse_list_page",
    "unquote_etag",
]

META_PREFIX: Final = "x-ms-meta-"

# 409 answers that mean "a condition on the destination did not hold", not a generic conflict.
_PRECONDITION_CODES: Final = frozenset(
    {"BlobAlreadyExists", "ConditionNotMet", "TargetConditionNotMet"}
)


def unquote_etag(value: str | None) -> str | None:
    """An ETag without its quotes (``ObjectInfo.etag`` form); ``None`` stays ``None``."""
    if value is None:
        return None
    return value.strip().strip('"') or None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _size_from(headers: Mapping[str, str]) -> int:
    content_range = headers.get("content-range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = headers.get("content-length", "0").strip()
    return int(length) if length.isdigit() else 0


def info_from_headers(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """The whole object's info from a Get Blob / Get Blob Properties answer (lower-case header
    names; ``Content-Range``'s total wins over ``Content-Length`` on a ranged answer)."""
    metadata = {
        name[len(META_PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(META_PREFIX)
    }
    return ObjectInfo(
        key=key,
        size=_size_from(headers),
        etag=unquote_etag(headers.get("etag")),
        last_modified=_http_date(headers.get("last-modified")),
        content_type=headers.get("content-type"),
        metadata=dict(sorted(metadata.items())),
    )


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """``(Code, Message)`` of an XML error document, ``(None, None)`` when it is not one."""
    if not body.lstrip().startswith((b"<", b"\xef\xbb\xbf<")):
        return None, None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None, None
    code = root.findtext("Code")
    message = root.findtext("Message")
    return (code.strip() if code else None), (message.strip() if message else None)


def azure_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    backend: str,
    key: str | None,
    operation: str,
    url: str | None = None,
) -> StorageError:
    """The :class:`StorageError` for an error answer: the status decides the code (a 409 that
    says ``BlobAlreadyExists``/``ConditionNotMet`` is ``PRECONDITION_FAILED``), the service's
    error code and body are kept, and its first message line is quoted."""
    xml_code, message = _error_fields(body)
    vendor_code = headers.get("x-ms-error-code") or xml_code
    error = storage_error_for_status(
        status,
        backend=backend,
        key=key,
        operation=operation,
        vendor_code=vendor_code,
        vendor_body=body or None,
        url=url,
    )
    if status == 409 and vendor_code in _PRECONDITION_CODES:
        error = StoragePreconditionFailed(
            f"{backend}: {operation} {key!r} answered 409 ({vendor_code}): the object exists; "
            "pass overwrite=True to replace it",
            backend=backend,
            key=key,
            status_code=status,
            vendor_code=vendor_code,
            vendor_body=body or None,
            url=url,
        )
    if message:
        error.message = f"{error.message} [{message.splitlines()[0][:300]}]"
        error.args = (error.message,)
    return error


def block_id(upload_id: str, index: int) -> str:
    """The base64 id of block ``index`` of one upload. Every id of a blob has the same length
    (the service requires it), and ``upload_id`` keeps two uploads' uncommitted blocks apart."""
    return base64.b64encode(f"{upload_id}-{index:06d}".encode("ascii")).decode("ascii")


def block_list_xml(block_ids: Sequence[str]) -> bytes:
    """The Put Block List body committing ``block_ids`` (staged, uncommitted) in order."""
    items = "".join(f"<Latest>{escape(block)}</Latest>" for block in block_ids)
    return f'<?xml version="1.0" encoding="utf-8"?><BlockList>{items}</BlockList>'.encode()


def _blob_info(blob: ET.Element) -> ObjectInfo | None:
    name = blob.findtext("Name")
    if name is None:
        return None
    properties = blob.find("Properties")
    fields: dict[str, str] = {}
    if properties is not None:
        fields = {child.tag.lower(): (child.text or "") for child in properties}
    metadata_node = blob.find("Metadata")
    metadata: dict[str, str] = {}
    if metadata_node is not None:
        metadata = {child.tag.lower(): (child.text or "") for child in metadata_node}
    length = fields.get("content-length", "0")
    return ObjectInfo(
        key=name,
        size=int(length) if length.isdigit() else 0,
        etag=unquote_etag(fields.get("etag")),
        last_modified=_http_date(fields.get("last-modified")),
        content_type=fields.get("content-type") or None,
        metadata=dict(sorted(metadata.items())),
    )


def parse_list_page(body: bytes) -> ListPage:
    """A List Blobs answer as a page; ``next_token`` is the service's ``NextMarker``.

    Raises ``ValueError`` when the body is not a listing (the caller reports the service's
    answer as a ``STORAGE_ERROR`` with the body kept)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"the listing is not XML: {exc}") from exc
    if root.tag != "EnumerationResults":
        raise ValueError(f"the listing's root element is <{root.tag}>, not <EnumerationResults>")
    blobs = root.find("Blobs")
    items: Iterable[ET.Element] = blobs.findall("Blob") if blobs is not None else ()
    infos = tuple(info for info in map(_blob_info, items) if info is not None)
    marker = (root.findtext("NextMarker") or "").strip()
    return ListPage(items=infos, next_token=marker or None)
