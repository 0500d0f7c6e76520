"""Azure Blob answers read without I/O: errors, blob headers, listings, block lists; and the
backend's configuration checks (refused before any request)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from flext_api.storage import (
    STORAGE_KINDS,
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
    StoragePreconditionFailed,
    StorageUnavailable,
)
from flext_api.storage._azure_xml import (
    azure_error,
    block_id,
    block_list_xml,
    info_from_headers,
    parse_list_page,
    unquote_etag,
)
from flext_api.storage._kinds import storage_class
from flext_api.storage.azure import (
    AZURITE_ACCOUNT_KEY,
    AsyncAzureBlobStorage,
    AzureBlobStorage,
)

NOT_FOUND_XML = (
    b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
    b"<Message>The specified blob does not exist.\nRequestId:1</Message></Error>"
)


def test_error_keeps_code_message_and_body() -> None:
    error = azure_error(404, {}, NOT_FOUND_XML, backend="azure", key="a.txt", operation="stat")
    assert isinstance(error, StorageNotFound)
    assert error.vendor_code == "BlobNotFound"
    assert error.vendor_body == NOT_FOUND_XML
    assert error.message.endswith("[The specified blob does not exist.]")
    assert str(error) == error.message


def test_error_header_code_wins_and_bodies_may_be_absent_or_foreign() -> None:
    head = azure_error(
        403, {"x-ms-error-code": "AuthenticationFailed"}, b"", backend="b", key=None, operation="x"
    )
    assert isinstance(head, StorageAccessDenied) and head.vendor_code == "AuthenticationFailed"
    assert head.vendor_body is None
    html = azure_error(502, {}, b"<html><body>bad gateway", backend="b", key="k", operation="x")
    assert isinstance(html, StorageUnavailable) and html.vendor_code is None
    text = azure_error(500, {}, b"oops", backend="b", key="k", operation="x")
    assert text.vendor_body == b"oops" and text.vendor_code is None


def test_conflicts_on_conditions_are_preconditions() -> None:
    exists = azure_error(
        409, {"x-ms-error-code": "BlobAlreadyExists"}, b"", backend="b", key="k", operation="upload"
    )
    assert isinstance(exists, StoragePreconditionFailed) and exists.status_code == 409
    other = azure_error(
        409, {"x-ms-error-code": "LeaseIdMissing"}, b"", backend="b", key="k", operation="upload"
    )
    assert type(other) is StorageError and other.code == "STORAGE_ERROR"


def test_info_from_headers() -> None:
    info = info_from_headers(
        "k",
        {
            "content-length": "10",
            "content-range": "bytes 0-9/1234",
            "etag": '"0x8D1"',
            "last-modified": "Sat, 05 Dec 2026 04:03:02 GMT",
            "content-type": "text/plain",
            "x-ms-meta-b": "2",
            "x-ms-meta-a": "1",
        },
    )
    assert info.size == 1234 and info.etag == "0x8D1" and info.content_type == "text/plain"
    assert info.last_modified == datetime(2026, 12, 5, 4, 3, 2, tzinfo=UTC)
    assert list(info.metadata) == ["a", "b"]
    odd = info_from_headers(
        "k", {"content-range": "bytes 0-9/*", "content-length": "x", "last-modified": "never"}
    )
    assert odd.size == 0 and odd.last_modified is None and odd.etag is None
    assert unquote_etag('""') is None


LISTING = b"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
  <Prefix>logs/</Prefix><MaxResults>2</MaxResults>
  <Blobs>
    <Blob><Name>logs/a.txt</Name>
      <Properties><Last-Modified>Sat, 05 Dec 2026 04:03:02 GMT</Last-Modified>
        <Etag>0x8D2</Etag><Content-Length>3</Content-Length>
        <Content-Type>text/plain</Content-Type></Properties>
      <Metadata><owner>ana</owner></Metadata></Blob>
    <Blob><Name>logs/b.bin</Name></Blob>
    <Blob><Properties><Content-Length>1</Content-Length></Properties></Blob>
  </Blobs>
  <NextMarker>2!64!bWFya2Vy</NextMarker>
</EnumerationResults>"""


def test_parse_list_page() -> None:
    page = parse_list_page(LISTING)
    assert [item.key for item in page.items] == ["logs/a.txt", "logs/b.bin"]
    first, second = page.items
    assert (first.size, first.etag, first.content_type) == (3, "0x8D2", "text/plain")
    assert dict(first.metadata) == {"owner": "ana"}
    assert (second.size, second.content_type, dict(second.metadata)) == (0, None, {})
    assert page.next_token == "2!64!bWFya2Vy"
    last = parse_list_page(b"<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>")
    assert last.items == () and last.next_token is None
    assert parse_list_page(b"<EnumerationResults/>").items == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"not xml", "not XML"), (b"<Error><Code>X</Code></Error>", "not <EnumerationResults>")],
)
def test_parse_list_page_refuses_other_bodies(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_list_page(body)


def test_block_ids_and_list() -> None:
    ids = [block_id("abc", n) for n in (0, 7, 123456)]
    assert len({len(i) for i in ids}) == 1
    assert base64.b64decode(ids[1]) == b"abc-000007"
    xml = block_list_xml(ids[:2])
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>')
    assert xml.count(b"<Latest>") == 2


def test_registered_kind() -> None:
    assert STORAGE_KINDS["azure"] == "flext_api.storage.azure:AzureBlobStorage"
    assert storage_class("azure") is AzureBlobStorage
    assert storage_class("azure", asynchronous=True) is AsyncAzureBlobStorage


ENDPOINT = "http://127.0.0.1:9/devstoreaccount1"


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("",), {"connection_string": "UseDevelopmentStorage=true"}, "name one container"),
        (("a/b",), {"connection_string": "UseDevelopmentStorage=true"}, "name one container"),
        (("c",), {"connection_string": "UseDevelopmentStorage=true", "part_retries": 0}, ">= 1"),
        (
            ("c",),
            {"connection_string": "UseDevelopmentStorage=true", "endpoint": ENDPOINT},
            "not both",
        ),
        (("c",), {}, "give connection_string= or endpoint="),
        (("c",), {"endpoint": "ftp://x", "sas_token": "sig=1"}, "http"),
        (("c",), {"endpoint": ENDPOINT}, "one of them"),
        (("c",), {"endpoint": ENDPOINT, "account_key": AZURITE_ACCOUNT_KEY}, "needs account_name"),
        (("c",), {"endpoint": ENDPOINT, "account_name": "a", "account_key": "**"}, "not base64"),
        (("c",), {"connection_string": "AccountName=a"}, "nothing to sign with"),
    ],
)
def test_configuration_is_checked_up_front(
    args: tuple[str], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AzureBlobStorage(*args, **options)  # type: ignore[arg-type]


def test_sas_token_configuration() -> None:
    storage = AzureBlobStorage("c", endpoint=ENDPOINT + "/", sas_token="?sv=1&sig=abc")
    try:
        assert storage.container == "c" and "sig" not in repr(storage)
        url, headers = storage._prepare("GET", "a b", [("comp", "list")], {})
        assert url == f"{ENDPOINT}/c/a%20b?comp=list&sv=1&sig=abc"
        assert "Authorization" not in headers
    finally:
        storage.close()
