"""The S3 protocol without I/O (flext_api.storage._s3_protocol): addressing, XML bodies,
error mapping. The same code runs against moto in tests/_async/test_storage_s3.py; here are
the answers moto never gives (namespaced documents, errors inside 200, foreign bodies)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def test_aws_addressing_virtual_host_unless_the_name_is_not_a_label() -> None:
    plain = S3Address.for_bucket("my-bucket", region="eu-west-1")
    assert (plain.origin, plain.bucket_path()) == (
        "https://my-bucket.s3.eu-west-1.amazonaws.com",
        "/",
    )
    assert plain.object_path("a b/ü.txt") == "/a%20b/%C3%BC.txt"
    dotted = S3Address.for_bucket("my.bucket", region="eu-west-1")
    assert dotted.origin == "https://s3.eu-west-1.amazonaws.com"
    assert dotted.object_path("k") == "/my.bucket/k"
    forced = S3Address.for_bucket("my-bucket", region="us-east-1", path_style=True)
    assert forced.bucket_path() == "/my-bucket"


def test_custom_endpoints_use_path_style_unless_told() -> None:
    local = S3Address.for_bucket("data", region="r", endpoint="http://127.0.0.1:9000")
    assert (local.origin, local.object_path("x")) == ("http://127.0.0.1:9000", "/data/x")
    hosted = S3Address.for_bucket(
        "data", region="r", endpoint="https://Storage.Example.com", path_style=False
    )
    assert (hosted.origin, hosted.object_path("x")) == ("https://data.storage.example.com", "/x")
    default = S3Address.for_bucket("d", region="r", endpoint="https://s3.example.com:443")
    assert default.origin == "https://s3.example.com"
    assert S3Address.for_bucket("d", region="r", endpoint="http://h:80/").origin == "http://h"
    with pytest.raises(ValueError, match="give a URL"):
        S3Address.for_bucket("data", region="r", endpoint="127.0.0.1:9000")
    with pytest.raises(ValueError, match="bucket"):
        S3Address.for_bucket("a/b", region="r")


def test_error_bodies() -> None:
    body = (
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
        b"<Message>The specified key does not exist.</Message><RequestId>r1</RequestId></Error>"
    )
    error = parse_error(404, body)
    assert (error.code, error.message, error.request_id, error.body) == (
        "NoSuchKey",
        "The specified key does not exist.",
        "r1",
        body,
    )
    # A HEAD answer has no body; a proxy's page is not S3's XML: named after the status.
    assert parse_error(403, b"").code == "AccessDenied"
    assert parse_error(502, b"<html>bad gateway</html>").code == "HTTP502"
    assert parse_error(500, b"not xml <").code == "InternalError"


def test_error_status_judges_errors_inside_a_200() -> None:
    def inside(code: str) -> int:
        return error_status(S3ErrorBody(200, code, "", None, b""))

    assert inside("SlowDown") == 503
    assert inside("NoSuchUpload") == 404
    assert inside("Anything") == 500
    assert error_status(S3ErrorBody(412, "PreconditionFailed", "", None, b"")) == 412


def test_listing_with_namespace_and_continuation() -> None:
    body = (
        f"<ListBucketResult {NS}><Name>b</Name><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok/+=</NextContinuationToken>"
        "<Contents><Key>a &amp; b</Key><Size>3</Size><ETag>&quot;e1&quot;</ETag>"
        "<LastModified>2026-12-05T04:00:00.000Z</LastModified></Contents>"
        "<Contents><Key>c</Key><Size>0</Size><LastModified>garbage</LastModified></Contents>"
        "</ListBucketResult>"
    ).encode()
    page = parse_list_v2(body)
    assert page is not None
    assert page.next_token == "tok/+="
    first, second = page.entries
    assert (first.key, first.size, first.etag) == ("a & b", 3, "e1")
    assert first.last_modified == datetime(2026, 12, 5, 4, tzinfo=UTC)
    assert (second.etag, second.last_modified) == ("", None)
    last = parse_list_v2(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")
    assert last is not None and (last.entries, last.next_token) == ([], None)
    assert parse_list_v2(b"<Error/>") is None
    assert parse_list_v2(b"{}") is None


def test_multipart_documents() -> None:
    initiated = f"<InitiateMultipartUploadResult {NS}><UploadId>u-1</UploadId>"
    assert (
        parse_initiate_multipart((initiated + "</InitiateMultipartUploadResult>").encode()) == "u-1"
    )
    assert parse_initiate_multipart(b"<Other/>") is None
    assert complete_multipart_body([(1, '"a&b"'), (2, "c")]) == (
        b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a&amp;b"</ETag>'
        b"</Part><Part><PartNumber>2</PartNumber><ETag>c</ETag></Part></CompleteMultipartUpload>"
    )
    done = (
        b"<CompleteMultipartUploadResult><ETag>&quot;x-2&quot;</ETag>"
        b"</CompleteMultipartUploadResult>"
    )
    assert parse_complete_multipart(200, done) == "x-2"
    # S3 may fail the completion after sending 200: the body says so.
    failed = parse_complete_multipart(200, b"<Error><Code>InternalError</Code></Error>")
    assert isinstance(failed, S3ErrorBody) and failed.code == "InternalError"
    odd = parse_complete_multipart(200, b"")
    assert isinstance(odd, S3ErrorBody) and odd.code == "MalformedResponse"


def test_copy_results() -> None:
    assert parse_copy_result(200, b'<CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>') == "e"
    failed = parse_copy_result(200, b"<Error><Code>SlowDown</Code></Error>")
    assert isinstance(failed, S3ErrorBody) and error_status(failed) == 503


def test_object_info_from_headers() -> None:
    headers = [
        ("Content-Length", "4"),
        ("ETag", '"abc"'),
        ("Last-Modified", "Sat, 05 Dec 2026 04:00:00 GMT"),
        ("Content-Type", "text/plain"),
        ("x-amz-meta-Owner", "me"),
    ]
    info, start, end = object_info("k", headers)
    assert (info.size, info.etag, info.content_type, dict(info.metadata)) == (
        4,
        "abc",
        "text/plain",
        {"owner": "me"},
    )
    assert info.last_modified == datetime(2026, 12, 5, 4, tzinfo=UTC)
    assert (start, end) == (0, 4)
    ranged, start, end = object_info(
        "k", [("Content-Length", "2"), ("Content-Range", "bytes 8-9/10")], status=206
    )
    assert (ranged.size, start, end) == (10, 8, 10)
    unknown, start, end = object_info(
        "k",
        [("Content-Length", "2"), ("Content-Range", "bytes 0-1/*"), ("Last-Modified", "?")],
        status=206,
    )
    assert (unknown.size, unknown.last_modified, unknown.etag) == (2, None, None)
