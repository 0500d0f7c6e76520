"""Azure Shared Key and SAS signing, judged by an independent signer: the azure-storage-blob SDK.

The SDK builds real requests (its own URL, query and x-ms-* headers) through a transport that
captures them instead of sending; our signer must produce the SDK's ``Authorization`` for each.
SAS tokens are compared field by field with the SDK's ``generate_*_sas``. The header order is
checked against the SDK's emulation of the service's collation on drawn names.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cmp_to_key
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flext_api._sansio.auth import Secret
from flext_api.storage._azure_auth import (
    AzureAuthError,
    AzureCredentials,
    account_sas,
    blob_sas,
    canonical_header_order,
    format_http_date,
    format_sas_time,
    shared_key_authorization,
    string_to_sign,
)
from flext_api.storage._azure_config import (
    AZURITE_ACCOUNT_KEY,
    AZURITE_ACCOUNT_NAME,
    parse_connection_string,
)

azure_blob = pytest.importorskip("azure.storage.blob")
from azure.core import MatchConditions  # noqa: E402
from azure.core.pipeline.transport import HttpTransport  # noqa: E402
from azure.storage.blob import (  # noqa: E402
    AccountSasPermissions,
    BlobBlock,
    BlobClient,
    BlobSasPermissions,
    ContainerClient,
    ContentSettings,
    ResourceTypes,
    generate_account_sas,
    generate_blob_sas,
)
from azure.storage.blob._shared.authentication import compare as sdk_compare  # noqa: E402

CREDS = AzureCredentials(AZURITE_ACCOUNT_NAME, Secret(AZURITE_ACCOUNT_KEY))
OTHER_KEY = base64.b64encode(b"another account key, 32+ bytes long....").decode()


class _Captured(Exception):
    pass


class CapturingTransport(HttpTransport[Any, Any]):
    """An SDK transport that records each request and sends nothing."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.requests.append(request)
        raise _Captured

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> CapturingTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass


ENDPOINTS = {
    "azurite": f"http://127.0.0.1:10000/{AZURITE_ACCOUNT_NAME}",
    "cloud": f"https://{AZURITE_ACCOUNT_NAME}.blob.core.windows.net",
}


def _blob(
    endpoint: str, name: str = "dir/report 2026.csv"
) -> tuple[BlobClient, CapturingTransport]:
    transport = CapturingTransport()
    client = BlobClient(
        ENDPOINTS[endpoint],
        "photos",
        name,
        credential={"account_name": AZURITE_ACCOUNT_NAME, "account_key": AZURITE_ACCOUNT_KEY},
        transport=transport,
        retry_total=0,
    )
    return client, transport


def _sdk_operations(client: BlobClient) -> Iterator[tuple[str, Any]]:
    yield (
        "upload",
        lambda: client.upload_blob(
            b"hello",
            overwrite=True,
            metadata={"owner": "ana", "key_1": "x", "key1": "y", "Z9": "z  spaced  "},
            content_settings=ContentSettings(content_type="text/csv", content_disposition="inline"),
        ),
    )
    yield "stage_block", lambda: client.stage_block("YmxvY2stMDAwMDE=", b"chunk")
    yield (
        "commit",
        lambda: client.commit_block_list([BlobBlock("YmxvY2stMDAwMDE=")], metadata={"a_b": "1"}),
    )
    yield "range", lambda: client.download_blob(offset=5, length=10).readall()
    yield "properties", client.get_blob_properties
    yield "delete", client.delete_blob
    yield "metadata", lambda: client.set_blob_metadata({"m": "v"})
    yield "copy", lambda: client.start_copy_from_url("http://127.0.0.1:10000/x/y/z")
    yield (
        "conditional",
        lambda: client.get_blob_properties(
            etag='"0x8D"', match_condition=MatchConditions.IfNotModified
        ),
    )


def _check_sdk_request(request: Any) -> None:
    url = urlsplit(request.url)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    query = parse_qsl(url.query, keep_blank_values=True)
    ours = shared_key_authorization(CREDS, request.method, url.path, query, headers)
    assert ours == request.headers["Authorization"], string_to_sign(
        AZURITE_ACCOUNT_NAME, request.method, url.path, query, headers
    )


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("operation", [name for name, _ in _sdk_operations(_blob("azurite")[0])])
def test_shared_key_matches_sdk_blob_requests(endpoint: str, operation: str) -> None:
    client, transport = _blob(endpoint)
    call = dict(_sdk_operations(client))[operation]
    with pytest.raises(_Captured):
        call()
    assert transport.requests
    _check_sdk_request(transport.requests[-1])


def test_shared_key_matches_sdk_list_with_marker() -> None:
    transport = CapturingTransport()
    container = ContainerClient(
        ENDPOINTS["azurite"],
        "photos",
        credential={"account_name": AZURITE_ACCOUNT_NAME, "account_key": AZURITE_ACCOUNT_KEY},
        transport=transport,
        retry_total=0,
    )
    pages = container.list_blobs(name_starts_with="a b/", include=["metadata"]).by_page(
        continuation_token="2!88!MDAwMDE0IWEvYi5jc3Y-"
    )
    with pytest.raises(_Captured):
        next(pages)
    request = transport.requests[-1]
    assert "marker=" in request.url
    _check_sdk_request(request)


def test_wrong_key_gives_another_signature() -> None:
    client, transport = _blob("azurite")
    with pytest.raises(_Captured):
        client.get_blob_properties()
    request = transport.requests[-1]
    url = urlsplit(request.url)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    other = AzureCredentials(AZURITE_ACCOUNT_NAME, Secret(OTHER_KEY))
    ours = shared_key_authorization(other, request.method, url.path, [], headers)
    assert ours != request.headers["Authorization"]


_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=8), min_size=2, max_size=8, unique=True
    )
)
def test_header_order_matches_sdk_collation(names: list[str]) -> None:
    expected = sorted(names, key=cmp_to_key(sdk_compare))
    assert canonical_header_order(names) == expected


def test_header_order_is_not_bytewise() -> None:
    # '_' sorts before digits for the service; a byte-wise sort puts digits first.
    assert canonical_header_order(["x-ms-meta-a1", "x-ms-meta-a_b"]) == [
        "x-ms-meta-a_b",
        "x-ms-meta-a1",
    ]
    assert sorted(["x-ms-meta-a1", "x-ms-meta-a_b"]) == ["x-ms-meta-a1", "x-ms-meta-a_b"]
    with pytest.raises(AzureAuthError, match="cannot sort"):
        canonical_header_order(["x-ms-bad(name)"])


def test_string_to_sign_layout() -> None:
    text = string_to_sign(
        "acct",
        "put",
        "/acct/c/b",
        [("comp", "block"), ("blockid", "QQ%3D%3D"), ("COMP", "x")],
        {
            "Content-Length": "0",
            "Content-Type": "text/plain",
            "X-MS-Date": "d",
            "x-ms-version": "v",
        },
    )
    lines = text.split("\n")
    assert lines[0] == "PUT"
    assert lines[3] == ""  # Content-Length 0 signs as empty
    assert lines[5] == "text/plain"
    assert lines[12:] == [
        "x-ms-date:d",
        "x-ms-version:v",
        "/acct/acct/c/b",
        "blockid:QQ==",
        "comp:block,x",
    ]


def test_credentials_refuse_bad_input() -> None:
    with pytest.raises(AzureAuthError, match="not base64"):
        AzureCredentials("acct", Secret("not*base64"))
    with pytest.raises(AzureAuthError, match="account name"):
        AzureCredentials("", Secret(AZURITE_ACCOUNT_KEY))
    assert AZURITE_ACCOUNT_KEY not in repr(CREDS)


EXPIRY = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


def _query(token: str) -> dict[str, str]:
    return dict(parse_qsl(token, keep_blank_values=True))


@pytest.mark.parametrize(
    ("letters", "sdk_permission"),
    [("r", BlobSasPermissions(read=True)), ("wc", BlobSasPermissions(create=True, write=True))],
)
@pytest.mark.parametrize("with_extras", [False, True])
def test_blob_sas_matches_sdk(letters: str, sdk_permission: Any, with_extras: bool) -> None:
    extras: dict[str, Any] = {}
    ours_extras: dict[str, Any] = {}
    if with_extras:
        start = EXPIRY - timedelta(days=3)
        extras = {
            "start": start,
            "ip": "127.0.0.1",
            "protocol": "https",
            "content_type": "text/csv",
        }
        ours_extras = {
            "start": start,
            "ip": "127.0.0.1",
            "protocol": "https",
            "content_type": "text/csv",
        }
    sdk = _query(
        generate_blob_sas(
            AZURITE_ACCOUNT_NAME,
            "photos",
            "dir/a b.txt",
            account_key=AZURITE_ACCOUNT_KEY,
            permission=sdk_permission,
            expiry=EXPIRY,
            **extras,
        )
    )
    ours = _query(
        blob_sas(
            CREDS,
            "photos",
            "dir/a b.txt",
            permissions=letters,
            expiry=EXPIRY,
            version=sdk["sv"],
            **ours_extras,
        )
    )
    assert ours == sdk


def test_account_sas_matches_sdk() -> None:
    sdk = _query(
        generate_account_sas(
            AZURITE_ACCOUNT_NAME,
            AZURITE_ACCOUNT_KEY,
            resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(read=True, write=True, list=True),
            expiry=EXPIRY,
            start=EXPIRY - timedelta(hours=1),
        )
    )
    ours = _query(
        account_sas(
            CREDS,
            permissions="lwr",
            expiry=EXPIRY,
            start=EXPIRY - timedelta(hours=1),
            version=sdk["sv"],
        )
    )
    assert ours == sdk


def test_sas_refuses_bad_parameters() -> None:
    with pytest.raises(AzureAuthError, match="unknown: 'z'"):
        blob_sas(CREDS, "c", "b", permissions="rz", expiry=EXPIRY)
    with pytest.raises(AzureAuthError, match="not valid"):
        blob_sas(CREDS, "c", "b", permissions="", expiry=EXPIRY)
    with pytest.raises(AzureAuthError, match="protocol"):
        blob_sas(CREDS, "c", "b", permissions="r", expiry=EXPIRY, protocol="ftp")
    with pytest.raises(AzureAuthError, match="protocol"):
        account_sas(CREDS, permissions="r", expiry=EXPIRY, protocol="http")
    with pytest.raises(AzureAuthError, match="aware datetime"):
        blob_sas(CREDS, "c", "b", permissions="r", expiry=datetime(2031, 1, 1))


def test_time_formats() -> None:
    when = datetime(2026, 12, 5, 4, 3, 2, tzinfo=UTC)
    assert format_http_date(when) == "Sat, 05 Dec 2026 04:03:02 GMT"
    assert format_sas_time(when.astimezone(UTC)) == "2026-12-05T04:03:02Z"


def test_connection_string_azurite() -> None:
    conn = parse_connection_string("UseDevelopmentStorage=true")
    assert conn.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert conn.credentials == CREDS
    proxied = parse_connection_string(
        "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://10.0.0.9/"
    )
    assert proxied.blob_endpoint == "http://10.0.0.9:10000/devstoreaccount1"


def test_connection_string_forms() -> None:
    cloud = parse_connection_string(
        f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={OTHER_KEY};"
        "EndpointSuffix=core.chinacloudapi.cn;"
    )
    assert cloud.blob_endpoint == "https://acme.blob.core.chinacloudapi.cn"
    assert cloud.credentials is not None and cloud.credentials.account_name == "acme"
    explicit = parse_connection_string(
        f"AccountName=devstoreaccount1;AccountKey={AZURITE_ACCOUNT_KEY};"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;QueueEndpoint=http://x"
    )
    assert explicit.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    sas = parse_connection_string(
        "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=?sv=1&sig=x"
    )
    assert sas.credentials is None
    assert sas.sas_token is not None and sas.sas_token.reveal() == "sv=1&sig=x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AccountName=a;AccountKey", "not Key=Value"),
        ("AccountName=a;Foo=1", "unknown connection string key"),
        ("AccountName=a;accountname=b", "given twice"),
        ("AccountKey=QUJD", "neither BlobEndpoint nor AccountName"),
        ("DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=QUJD", "DefaultEndpointsProtocol"),
        ("BlobEndpoint=ftp://x;AccountName=a;AccountKey=QUJD", "must be an http"),
        ("AccountName=a;AccountKey=QUJD;SharedAccessSignature=sig=1", "not both"),
        ("BlobEndpoint=http://x;AccountKey=QUJD", "needs AccountName"),
        ("AccountName=a", "nothing to sign with"),
    ],
)
def test_connection_string_errors(text: str, message: str) -> None:
    with pytest.raises(AzureAuthError, match=message) as info:
        parse_connection_string(text)
    assert "QUJD" not in str(info.value)
