"""The S3 REST protocol without I/O: where a request goes (virtual-host or path style), the
XML bodies S3 answers with (listings, multipart uploads, copies, errors) and how its error
codes map onto the storage codes.

Nothing here sends a request. S3 may answer ``200 OK`` with an ``<Error>`` body (a copy or
a multipart completion that failed after the headers were sent): the parsers of those
responses say so, so the I/O shell never takes such a body for a success.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from flext_api.storage._sigv4 import encode_key
from flext_api.storage._types import ObjectInfo

__all__ = [
    "S3Address",
    "S3ErrorBody",
    "S3Listing",
    "S3ObjectEntry",
    "complete_multipart_body",
    "error_status",
    "object_info",
    "parse_complete_multipart",
    "parse_copy_result",
    "parse_error",
    "parse_initiate_multipart",
    "parse_list_v2",
]

_NS_RE: Final = re.compile(r"^\{[^}]*\}")
# A bucket name usable as a DNS label under TLS: no dots (they would break the wildcard
# certificate), lowercase letters, digits and hyphens.
_DNS_BUCKET: Final = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class S3Address:
    """Where one bucket's requests go.

    Without ``endpoint``, AWS: ``https://<bucket>.s3.<region>.amazonaws.com`` (virtual-host
    style) or ``https://s3.<region>.amazonaws.com/<bucket>`` (path style). With ``endpoint``
    (an S3-compatible service or an emulator), path style unless ``path_style=False``.
    """

    scheme: str
    host: str
    base_path: str

    @classmethod
    def for_bucket(
        cls,
        bucket: str,
        *,
        region: str,
        endpoint: str | None = None,
        path_style: bool | None = None,
    ) -> S3Address:
        if not bucket or "/" in bucket:
            raise ValueError(f"bucket={bucket!r}: a bucket name has no '/' and is not empty")
        if endpoint is None:
            scheme, service_host = "https", f"s3.{region}.amazonaws.com"
            path_style = path_style if path_style is not None else not _DNS_BUCKET.match(bucket)
        else:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"endpoint={endpoint!r}: give a URL such as http://127.0.0.1:9000")
            scheme, service_host = parts.scheme, parts.netloc.lower()
            # The Host header (and so the signature) leaves the scheme's default port out.
            default = ":443" if scheme == "https" else ":80"
            service_host = service_host.removesuffix(default)
            path_style = True if path_style is None else path_style
        if path_style:
            return cls(scheme, service_host, f"/{encode_key(bucket)}")
        return cls(scheme, f"{bucket}.{service_host}", "")

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    def bucket_path(self) -> str:
        """The path of bucket-level requests (listing, multipart uploads listing)."""
        return self.base_path or "/"

    def object_path(self, key: str) -> str:
        """The path of one object, encoded once (as S3 canonicalises it)."""
        return f"{self.base_path}/{encode_key(key)}"


# -- XML -----------------------------------------------------------------------------------


def _parse(body: bytes) -> ET.Element | None:
    try:
        # The bodies come from the configured S3 endpoint; expat refuses entity expansion bombs.
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for element in root.iter():
        element.tag = _NS_RE.sub("", element.tag)
    return root


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(tag)
    return None if found is None or found.text is None else found.text


@dataclass(frozen=True, slots=True)
class S3ErrorBody:
    """An S3 ``<Error>`` document (or what was understood of a body that is not one)."""

    status: int
    code: str
    message: str
    request_id: str | None
    body: bytes


def parse_error(status: int, body: bytes) -> S3ErrorBody:
    """The error S3 sent. A body without an ``<Error>`` (a HEAD answer, a proxy's page) is
    named after the status, and kept as it came."""
    root = _parse(body) if body else None
    if root is not None and root.tag == "Error":
        return S3ErrorBody(
            status,
            _text(root, "Code") or f"HTTP{status}",
            _text(root, "Message") or "",
            _text(root, "RequestId"),
            body,
        )
    return S3ErrorBody(status, _STATUS_NAMES.get(status, f"HTTP{status}"), "", None, body)


_STATUS_NAMES: Final = {
    400: "BadRequest",
    403: "AccessDenied",
    404: "NotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    416: "InvalidRange",
    500: "InternalError",
    503: "ServiceUnavailable",
}

# The status an S3 error code stands for, for errors S3 reports inside a 200 answer (a copy
# or a multipart completion that failed after the headers were sent) or under a status that
# does not say what happened.
_CODE_STATUS: Final = {
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NoSuchUpload": 404,
    "AccessDenied": 403,
    "SignatureDoesNotMatch": 403,
    "InvalidAccessKeyId": 403,
    "PreconditionFailed": 412,
    "InvalidRange": 416,
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
}


def error_status(error: S3ErrorBody) -> int:
    """The HTTP status the error is to be judged by: the answer's own when it is an error
    status, else the one S3's code stands for (500 when unknown: S3 failed on its side)."""
    if error.status >= 300:
        return error.status
    return _CODE_STATUS.get(error.code, 500)


@dataclass(frozen=True, slots=True)
class S3ObjectEntry:
    key: str
    size: int
    etag: str
    last_modified: datetime | None


@dataclass(frozen=True, slots=True)
class S3Listing:
    """One page of ``ListObjectsV2``: its objects and the token of the next page (``None``
    on the last)."""

    entries: list[S3ObjectEntry]
    next_token: str | None


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_list_v2(body: bytes) -> S3Listing | None:
    """A ``ListBucketResult`` page, or ``None`` when the body is not one."""
    root = _parse(body)
    if root is None or root.tag != "ListBucketResult":
        return None
    entries = [
        S3ObjectEntry(
            key=_text(item, "Key") or "",
            size=int(_text(item, "Size") or 0),
            etag=(_text(item, "ETag") or "").strip('"'),
            last_modified=_timestamp(_text(item, "LastModified")),
        )
        for item in root.iterfind("Contents")
    ]
    truncated = (_text(root, "IsTruncated") or "false").lower() == "true"
    token = _text(root, "NextContinuationToken") if truncated else None
    return S3Listing(entries, token)


def parse_initiate_multipart(body: bytes) -> str | None:
    """The ``UploadId`` of an ``InitiateMultipartUploadResult``."""
    root = _parse(body)
    if root is None or root.tag != "InitiateMultipartUploadResult":
        return None
    return _text(root, "UploadId")


def complete_multipart_body(parts: Sequence[tuple[int, str]]) -> bytes:
    """The ``CompleteMultipartUpload`` document for ``(part number, ETag)`` pairs in order."""
    items = "".join(
        f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
        for number, etag in parts
    )
    return f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()


def _result_etag(body: bytes, status: int, tag: str) -> str | S3ErrorBody:
    root = _parse(body)
    if root is not None and root.tag == tag:
        return (_text(root, "ETag") or "").strip('"')
    if root is not None and root.tag == "Error":
        return parse_error(status, body)
    return S3ErrorBody(status, "MalformedResponse", f"expected <{tag}>", None, body)


def parse_complete_multipart(status: int, body: bytes) -> str | S3ErrorBody:
    """The new object's ETag, or the error S3 reported (possibly under ``200 OK``)."""
    return _result_etag(body, status, "CompleteMultipartUploadResult")


def parse_copy_result(status: int, body: bytes) -> str | S3ErrorBody:
    """The copy's ETag, or the error S3 reported (possibly under ``200 OK``)."""
    return _result_etag(body, status, "CopyObjectResult")


def object_info(
    key: str, headers: Iterable[tuple[str, str]], *, status: int = 200
) -> tuple[ObjectInfo, int, int]:
    """The object's info from a ``HEAD``/``GET`` answer's headers, and the ``(start, end)`` of
    the bytes the answer carries (``end`` exclusive): the whole object unless ``206``."""
    fields: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            metadata[lower.removeprefix("x-amz-meta-")] = value
        else:
            fields[lower] = value
    length = int(fields.get("content-length", "0") or 0)
    start, end, size = 0, length, length
    match = _CONTENT_RANGE.match(fields.get("content-range", "")) if status == 206 else None
    if match is not None:
        start, end = int(match[1]), int(match[2]) + 1
        size = int(match[3]) if match[3] != "*" else end
    modified = fields.get("last-modified")
    try:
        when = parsedate_to_datetime(modified) if modified else None
    except (TypeError, ValueError):
        when = None
    info = ObjectInfo(
        key=key,
        size=size,
        etag=fields.get("etag", "").strip('"') or None,
        last_modified=when,
        content_type=fields.get("content-type"),
        metadata=metadata,
    )
    return info, start, end


_CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
