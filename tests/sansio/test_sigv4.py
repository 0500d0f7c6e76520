"""AWS Signature Version 4 (flext_api.storage._sigv4) judged by two independent sources: the
worked examples of AWS's S3 documentation and botocore's signer (a test-only oracle, the same
code moto runs to check signatures)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from flext_api import Secret
from flext_api.storage._aws_credentials import CredentialsNotFound, resolve_credentials
from flext_api.storage._sigv4 import (
    EMPTY_SHA256,
    STREAMING_PAYLOAD,
    UNSIGNED_PAYLOAD,
    AwsCredentials,
    ChunkSigner,
    amz_date,
    canonical_query,
    chunked_length,
    encode_key,
    payload_sha256,
    presign_url_query,
    sign_headers,
)

# The documentation's example key pair.
DOC_KEY = AwsCredentials("AKIAIOSFODNN7EXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
DOC_TIME = datetime(2013, 5, 24, tzinfo=UTC)


def _signature(authorization: str) -> str:
    return authorization.rpartition("Signature=")[2]


# -- AWS's documented examples -------------------------------------------------------------


def test_doc_example_get_object_with_range() -> None:
    signed = sign_headers(
        DOC_KEY,
        method="GET",
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        headers={"Range": "bytes=0-9"},
        payload_hash=EMPTY_SHA256,
        region="us-east-1",
        now=DOC_TIME,
    )
    assert signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert signed.headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=" + signed.signature
    )
    assert signed.headers["x-amz-date"] == "20130524T000000Z"


def test_doc_example_put_object() -> None:
    body = b"Welcome to Amazon S3."
    signed = sign_headers(
        DOC_KEY,
        method="PUT",
        host="examplebucket.s3.amazonaws.com",
        path="/" + encode_key("test$file.text"),
        headers={
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        payload_hash=payload_sha256(body),
        region="us-east-1",
        now=DOC_TIME,
    )
    assert signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    # The documented payload hash, whether the body is whole or the chunks of a part.
    documented = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    assert payload_sha256(body) == documented
    assert payload_sha256([b"Welcome to ", b"Amazon", b" S3."]) == documented
    assert payload_sha256(b"") == payload_sha256([]) == EMPTY_SHA256


def test_doc_example_presigned_get() -> None:
    query = presign_url_query(
        DOC_KEY,
        method="GET",
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        expires=86400,
        region="us-east-1",
        now=DOC_TIME,
    )
    assert query.endswith(
        "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_doc_example_chunked_upload() -> None:
    """The streaming example: 64 KiB and 1 KiB of ``a``, each chunk chained to the last."""
    headers = {
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": str(chunked_length(66560, 65536)),
    }
    assert headers["content-length"] == "66824"
    signed = sign_headers(
        DOC_KEY,
        method="PUT",
        host="s3.amazonaws.com",
        path="/examplebucket/chunkObject.txt",
        headers=headers,
        payload_hash=STREAMING_PAYLOAD,
        region="us-east-1",
        now=DOC_TIME,
    )
    assert signed.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    chunks = ChunkSigner(DOC_KEY, signed, region="us-east-1")
    first = chunks.frame(b"a" * 65536)
    assert first.startswith(
        b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    )
    second = chunks.frame(b"a" * 1024)
    assert second.startswith(
        b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    )
    last = chunks.final()
    assert last == (
        b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
    )
    assert len(first) + len(second) + len(last) == 66824


# -- botocore as the oracle ----------------------------------------------------------------

KEYS = [
    AwsCredentials("AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
    AwsCredentials("ASIATEMP", Secret("c2VjcmV0/with+symbols="), Secret("FQoGZXIvYXdzE//token==")),
]

CASES = [
    ("GET", "/bucket/plain.txt", [], {}),
    (
        "PUT",
        "/bucket/" + encode_key("dir/ünïcode key (1)+%.bin"),
        [],
        {"Content-Type": "text/plain"},
    ),
    (
        "GET",
        "/bucket",
        [("list-type", "2"), ("prefix", "a b/ü"), ("continuation-token", "x+/=")],
        {},
    ),
    ("POST", "/bucket/obj", [("uploads", "")], {"x-amz-meta-Note": "  two   spaces  "}),
    ("PUT", "/bucket/obj", [("partNumber", "3"), ("uploadId", "u~id.1")], {"Content-MD5": "abc=="}),
    ("HEAD", "/", [], {"Range": "bytes=10-", "x-amz-copy-source": "/src/k%20ey"}),
]


def _oracle_headers(
    credentials: AwsCredentials,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    payload_hash: str,
    now: datetime,
    region: str,
) -> str:
    """botocore's signature for the same request. With a body, its own ``add_auth`` hashes
    the body itself; without one, the payload hash header is taken as sent, the way a server
    checks it (moto calls these same three steps)."""
    oracle = Credentials(
        credentials.access_key_id,
        credentials.secret_access_key.reveal(),
        credentials.session_token.reveal() if credentials.session_token else None,
    )
    auth = S3SigV4Auth(oracle, "s3", region)
    if body is not None:
        request = AWSRequest(method=method, url=url, headers=headers, data=body)
        with mock.patch(
            "botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)
        ):
            auth.add_auth(request)
        return str(request.headers["Authorization"])
    stamp = amz_date(now)
    extra = {"X-Amz-Date": stamp, "X-Amz-Content-SHA256": payload_hash}
    if oracle.token:
        extra["X-Amz-Security-Token"] = oracle.token
    request = AWSRequest(method=method, url=url, headers={**headers, **extra})
    request.context["timestamp"] = stamp
    signature = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    auth._inject_signature_to_request(request, signature)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize("credentials", KEYS, ids=["long-term", "session"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("payload", [UNSIGNED_PAYLOAD, STREAMING_PAYLOAD, b"", b"body \x00\xff"])
def test_header_signature_matches_botocore(
    credentials: AwsCredentials,
    case: tuple[str, str, list[tuple[str, str]], dict[str, str]],
    payload: str | bytes,
) -> None:
    method, path, query, headers = case
    body = payload if isinstance(payload, bytes) else None
    payload_hash = payload if isinstance(payload, str) else hashlib.sha256(payload).hexdigest()
    now = datetime(2026, 12, 5, 4, 59, 1, tzinfo=UTC)
    host = "127.0.0.1:9000"
    url = f"http://{host}{path}"
    if query:
        url += "?" + canonical_query(query)
    signed = sign_headers(
        credentials,
        method=method,
        host=host,
        path=path,
        query=query,
        headers={**headers, "User-Agent": "flext-api", "Expect": "100-continue"},
        payload_hash=payload_hash,
        region="eu-west-3",
        now=now,
    )
    expected = _oracle_headers(
        credentials,
        method=method,
        url=url,
        headers={**headers, "Expect": "100-continue"},
        body=body,
        payload_hash=payload_hash,
        now=now,
        region="eu-west-3",
    )
    assert signed.headers["authorization"] == expected
    assert "user-agent" not in signed.headers["authorization"]


@pytest.mark.parametrize("credentials", KEYS, ids=["long-term", "session"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("expires", [1, 900, 604800])
@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"}])
def test_presigned_query_matches_botocore(
    credentials: AwsCredentials, method: str, expires: int, headers: dict[str, str]
) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    host = "bucket.s3.eu-central-1.amazonaws.com"
    path = "/" + encode_key("a folder/ключ.txt")
    ours = presign_url_query(
        credentials,
        method=method,
        host=host,
        path=path,
        query=[("response-content-type", "text/plain")],
        headers=headers,
        expires=expires,
        region="eu-central-1",
        now=now,
    )
    oracle = Credentials(
        credentials.access_key_id,
        credentials.secret_access_key.reveal(),
        credentials.session_token.reveal() if credentials.session_token else None,
    )
    request = AWSRequest(
        method=method,
        url=f"https://{host}{path}?response-content-type=text%2Fplain",
        headers=headers,
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        S3SigV4QueryAuth(oracle, "s3", "eu-central-1", expires=expires).add_auth(request)
    theirs = dict(parse_qsl(urlsplit(request.url).query))
    assert dict(parse_qsl(ours)) == theirs


def test_presign_refuses_expiry_out_of_range() -> None:
    for expires in (0, 604801):
        with pytest.raises(ValueError, match="seven days"):
            presign_url_query(
                DOC_KEY,
                method="GET",
                host="h",
                path="/k",
                expires=expires,
                region="r",
                now=DOC_TIME,
            )


def test_dates_are_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert amz_date(datetime(2026, 6, 1, 2, 0, tzinfo=paris)) == "20260601T000000Z"
    assert amz_date(datetime(2026, 6, 1, 2, 0)) == "20260601T020000Z"


@pytest.mark.parametrize(("length", "size"), [(0, 8), (1, 8), (8, 8), (17, 8), (10**6, 65536)])
def test_chunked_length_is_the_framed_length(length: int, size: int) -> None:
    signed = sign_headers(
        DOC_KEY,
        method="PUT",
        host="h",
        path="/k",
        payload_hash=STREAMING_PAYLOAD,
        region="r",
        now=DOC_TIME,
    )
    chunks = ChunkSigner(DOC_KEY, signed, region="r")
    data = b"x" * length
    framed = b"".join(chunks.frame(data[i : i + size]) for i in range(0, length, size))
    framed += chunks.final()
    assert len(framed) == chunked_length(length, size)


def test_chunk_signer_refuses_empty_chunk_and_bad_size() -> None:
    signed = sign_headers(DOC_KEY, method="PUT", host="h", path="/k", region="r", now=DOC_TIME)
    with pytest.raises(ValueError, match="final"):
        ChunkSigner(DOC_KEY, signed, region="r").frame(b"")
    with pytest.raises(ValueError, match="positive"):
        chunked_length(10, 0)


def test_credentials_never_print_the_secret() -> None:
    assert "EXAMPLEKEY" not in repr(DOC_KEY)
    with pytest.raises(ValueError, match="secret access key"):
        AwsCredentials("AKID", Secret(""))


# -- where credentials come from -----------------------------------------------------------


def test_credentials_from_arguments_first() -> None:
    env = {"AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    found = resolve_credentials(
        access_key_id="ARG", secret_access_key="argsecret", session_token="tok", environ=env
    )
    assert found.access_key_id == "ARG"
    assert found.secret_access_key.reveal() == "argsecret"
    assert found.session_token is not None and found.session_token.reveal() == "tok"
    with pytest.raises(CredentialsNotFound, match="both"):
        resolve_credentials(access_key_id="ARG", environ=env)


def test_credentials_from_environment() -> None:
    env = {"AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    found = resolve_credentials(environ=env)
    assert (found.access_key_id, found.session_token) == ("ENV", Secret("t"))
    assert resolve_credentials(environ={**env, "AWS_SESSION_TOKEN": ""}).session_token is None


def test_credentials_from_shared_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n"
        "[ci]\naws_access_key_id=CI\naws_secret_access_key=cisecret\naws_session_token=citok\n"
        "[broken]\naws_access_key_id=ONLY\n"
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(path)}
    assert resolve_credentials(environ=env).access_key_id == "DEF"
    assert resolve_credentials(environ={**env, "AWS_PROFILE": "ci"}).access_key_id == "CI"
    explicit = resolve_credentials(
        profile="ci", environ={**env, "AWS_ACCESS_KEY_ID": "E", "AWS_SECRET_ACCESS_KEY": "s"}
    )
    assert explicit.session_token == Secret("citok")
    with pytest.raises(CredentialsNotFound, match=r"\[broken\] .* lacks"):
        resolve_credentials(profile="broken", environ=env)
    with pytest.raises(CredentialsNotFound, match=r"add a \[nope\] profile"):
        resolve_credentials(profile="nope", environ=env)
    with pytest.raises(CredentialsNotFound, match="AWS_ACCESS_KEY_ID"):
        resolve_credentials(environ={"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "missing")})
    path.write_text("not an ini file [")
    with pytest.raises(CredentialsNotFound, match="cannot be read"):
        resolve_credentials(environ=env)
