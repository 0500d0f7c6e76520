"""The GCS JSON API helpers without I/O: URLs, resources, error answers, upload bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser

import pytest

from flext_api.storage._gcs_api import (
    gcs_error,
    list_query,
    multipart_frame,
    object_info,
    object_url,
    parse_list,
    persisted_bytes,
    resource_metadata,
    rewrite_url,
    upload_url,
)


def test_an_object_name_is_one_path_segment() -> None:
    assert object_url("https://h", "b", "a/b c+d?.txt") == (
        "https://h/storage/v1/b/b/o/a%2Fb%20c%2Bd%3F.txt"
    )
    assert object_url("https://h", "b", "k", media=True).endswith("/o/k?alt=media")
    assert upload_url("http://e:1", "b") == "http://e:1/upload/storage/v1/b/b/o"
    assert rewrite_url("https://h", "b", "x/1", "y/2") == (
        "https://h/storage/v1/b/b/o/x%2F1/rewriteTo/b/b/o/y%2F2"
    )


def test_object_info_reads_a_resource() -> None:
    info = object_info(
        {
            "name": "k",
            "size": "12",
            "generation": "1712",
            "updated": "2026-12-05T04:30:15.250Z",
            "contentType": "text/plain",
            "metadata": {"a": "1", "gone": None},
        }
    )
    assert (info.key, info.size, info.etag, info.content_type) == ("k", 12, "1712", "text/plain")
    assert info.last_modified == datetime(2026, 12, 5, 4, 30, 15, 250000, tzinfo=UTC)
    assert dict(info.metadata) == {"a": "1"}
    bare = object_info({}, "fallback")
    assert (bare.key, bare.size, bare.etag, bare.last_modified, bare.content_type) == (
        "fallback",
        0,
        None,
        None,
        None,
    )
    assert object_info({"name": "k", "updated": "yesterday"}).last_modified is None


def test_error_answers_keep_the_vendor_json() -> None:
    body = json.dumps(
        {"error": {"code": 403, "message": "no", "errors": [{"reason": "forbidden"}]}}
    ).encode()
    error = gcs_error(403, body, backend="gcs", key="k", operation="stat")
    assert (error.code, error.vendor_code, error.vendor_body) == (
        "ACCESS_DENIED",
        "forbidden",
        body,
    )
    by_status = gcs_error(
        429,
        b'{"error": {"status": "RESOURCE_EXHAUSTED"}}',
        backend="gcs",
        key=None,
        operation="list",
    )
    assert (by_status.code, by_status.vendor_code) == ("THROTTLED", "RESOURCE_EXHAUSTED")
    plain = gcs_error(502, b"<html>bad gateway</html>", backend="gcs", key="k", operation="stat")
    assert (plain.code, plain.vendor_code) == ("BACKEND_UNAVAILABLE", None)
    empty = gcs_error(404, b"", backend="gcs", key="k", operation="stat")
    assert (empty.code, empty.vendor_body) == ("NOT_FOUND", None)


def test_the_multipart_body_parses_as_mime() -> None:
    data = bytes(range(256)) + b"\r\n--x\r\n"
    resource = resource_metadata("k", "application/x-test", {"a": "1"})
    head, tail, content_type = multipart_frame(resource, "application/x-test", "b0undary")
    body = head + data + tail
    assert content_type == "multipart/related; boundary=b0undary"
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = message.get_payload()
    assert isinstance(parts, list) and len(parts) == 2
    meta, media = parts
    assert isinstance(meta, Message) and isinstance(media, Message)
    assert json.loads(str(meta.get_payload())) == {
        "name": "k",
        "contentType": "application/x-test",
        "metadata": {"a": "1"},
    }
    assert media.get_content_type() == "application/x-test"
    assert media.get_payload(decode=True) == data
    assert resource_metadata("k", None, None) == {"name": "k"}


@pytest.mark.parametrize(
    ("header", "held"),
    [(None, 0), ("", 0), ("bytes=0-0", 1), ("bytes=0-262143", 262144), ("bytes=5-9", None)],
)
def test_persisted_bytes_from_a_308(header: str | None, held: int | None) -> None:
    assert persisted_bytes(header) == held


def test_list_query_and_pages() -> None:
    assert list_query("", None, 10) == {"maxResults": "10", "fields": "items,nextPageToken"}
    assert list_query("p/", "t", 2) == {
        "maxResults": "2",
        "fields": "items,nextPageToken",
        "prefix": "p/",
        "pageToken": "t",
    }
    page = parse_list({"items": [{"name": "b"}, {"name": "a"}, "junk"], "nextPageToken": "n"})
    assert [item.key for item in page.items] == ["a", "b"]
    assert page.next_token == "n"
    assert parse_list({}).items == () and parse_list({"nextPageToken": ""}).next_token is None
