"""GCS auth without I/O: key files, the JWT bearer assertion, V4 signed URLs.

The assertion is checked by PyJWT and by google-auth's JWT decoder, the signed URLs against
google-cloud-storage's own V4 signer (test-only oracles, pinned in requirements-dev.txt) and
step by step against the published canonical-request and string-to-sign layout.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from google.auth import jwt as google_jwt
from google.cloud.storage._signing import generate_signed_url_v4  # type: ignore[import-untyped]
from google.oauth2 import service_account

import flext_api.storage._gcs_auth as gcs_auth_module
import flext_api.storage._gcs_signing as gcs_signing_module
from flext_api._result import Failure
from flext_api._sansio.auth import TokenState
from flext_api.storage._gcs_auth import (
    JWT_BEARER_GRANT,
    READ_WRITE_SCOPE,
    InvalidCredentials,
    ServiceAccountCredentials,
    ServiceAccountFlow,
    jwt_assertion,
)
from flext_api.storage._gcs_signing import sign_url_v4
from tests.storage_gcs import keys

NOW = 1_780_000_000.0


@pytest.fixture(scope="module")
def credentials() -> ServiceAccountCredentials:
    return ServiceAccountCredentials.from_info(keys.key_info()).unwrap()


@pytest.fixture(scope="module")
def oracle_credentials() -> service_account.Credentials:
    oracle: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        keys.key_info()
    )
    return oracle


# -- key files ------------------------------------------------------------------------------


def test_from_file_reads_a_json_key(tmp_path: Path) -> None:
    path = keys.write_key_file(tmp_path, "https://tokens.example/token")
    creds = ServiceAccountCredentials.from_file(path).unwrap()
    assert creds.client_email == keys.EMAIL
    assert creds.private_key_id == keys.KEY_ID
    assert creds.token_uri == "https://tokens.example/token"
    assert creds.project_id == "flext-tests"
    assert "PRIVATE" not in repr(creds) and "BEGIN" not in repr(creds)


def test_missing_key_file_is_a_named_failure(tmp_path: Path) -> None:
    result = ServiceAccountCredentials.from_file(tmp_path / "absent.json")
    assert isinstance(result, Failure)
    assert result.error.code == "INVALID_CREDENTIALS"
    assert "absent.json" in result.error.message and "check the path" in result.error.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"type": "authorized_user"}).encode(), "'service_account'"),
        (json.dumps({"private_key": "x"}).encode(), "'client_email'"),
        (json.dumps({"client_email": "a@b"}).encode(), "'private_key'"),
        (
            json.dumps({"client_email": "a@b", "private_key": "-----BEGIN junk"}).encode(),
            "not an unencrypted PEM private key",
        ),
    ],
)
def test_bad_keys_are_named_failures(data: bytes, words: str) -> None:
    result = ServiceAccountCredentials.from_json(data)
    assert isinstance(result, Failure)
    assert isinstance(result.error, InvalidCredentials)
    assert words in result.error.message
    assert "junk" not in result.error.message  # key material never quoted


def test_a_non_rsa_key_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    result = ServiceAccountCredentials.from_info({"client_email": "a@b", "private_key": pem})
    assert isinstance(result, Failure)
    assert "not an RSA key" in result.error.message


def test_missing_cryptography_is_a_named_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.serialization", None)
    result = ServiceAccountCredentials.from_info(keys.key_info())
    assert isinstance(result, Failure)
    assert "flext-api[storage-gcs]" in result.error.message


def test_defaults_when_optional_fields_are_absent() -> None:
    info = {k: v for k, v in keys.key_info().items() if k in ("client_email", "private_key")}
    creds = ServiceAccountCredentials.from_info(info).unwrap()
    assert creds.token_uri == "https://oauth2.googleapis.com/token"
    assert creds.private_key_id is None and creds.project_id is None
    header = jwt.get_unverified_header(jwt_assertion(creds, scope="s", now=NOW))
    assert "kid" not in header


# -- the JWT bearer assertion ---------------------------------------------------------------


def test_assertion_verifies_with_pyjwt_and_google_auth(
    credentials: ServiceAccountCredentials,
) -> None:
    assertion = jwt_assertion(credentials, scope=READ_WRITE_SCOPE, now=NOW)
    claims = jwt.decode(
        assertion,
        keys.public_pem(),
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": keys.EMAIL,
        "scope": READ_WRITE_SCOPE,
        "aud": "https://oauth2.googleapis.com/token",
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
    }
    assert jwt.get_unverified_header(assertion) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": keys.KEY_ID,
    }
    # google-auth's decoder, with its own signature check (and a clock it reads: the
    # assertion it checks is issued now).
    import time

    fresh = jwt_assertion(credentials, scope=READ_WRITE_SCOPE, now=time.time())
    decoded = google_jwt.decode(  # type: ignore[no-untyped-call]
        fresh, certs=keys.public_pem(), audience=credentials.token_uri
    )
    assert decoded["iss"] == keys.EMAIL


def test_assertion_with_a_tampered_payload_does_not_verify(
    credentials: ServiceAccountCredentials,
) -> None:
    head, _, rest = jwt_assertion(credentials, scope="s", now=NOW).partition(".")
    _, _, signature = rest.partition(".")
    forged = base64.urlsafe_b64encode(b'{"iss":"someone@else"}').rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            f"{head}.{forged}.{signature}",
            keys.public_pem(),
            algorithms=["RS256"],
            options={"verify_aud": False},
        )


def test_flow_posts_the_jwt_bearer_grant(credentials: ServiceAccountCredentials) -> None:
    flow = ServiceAccountFlow(credentials, token_url="http://127.0.0.1:9/token", clock=lambda: NOW)
    request = flow.token_request(TokenState())
    assert not isinstance(request, Exception)
    assert str(request.url) == "http://127.0.0.1:9/token"
    fields = dict(parse_qsl(request.content.decode()))
    assert fields["grant_type"] == JWT_BEARER_GRANT
    claims = jwt.decode(
        fields["assertion"],
        keys.public_pem(),
        algorithms=["RS256"],
        audience=credentials.token_uri,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iat"] == int(NOW)
    assert ("content-type", "application/x-www-form-urlencoded") in request.headers
    # The assertion is a credential for an hour: never in a repr.
    assert fields["assertion"] not in repr(request) and fields["assertion"][:40] not in repr(
        request
    )
    assert keys.EMAIL in repr(flow)


def test_signer_repr_hides_the_key(credentials: ServiceAccountCredentials) -> None:
    assert repr(credentials.signer) == "RSASigner(key='[secure]')"


# -- V4 signed URLs -------------------------------------------------------------------------

WHEN = datetime(2026, 12, 5, 4, 30, 15, tzinfo=UTC)


def _oracle_url(
    oracle_credentials: service_account.Credentials,
    *,
    method: str,
    bucket: str,
    key: str,
    expires_in: int,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    endpoint: str = "https://storage.googleapis.com",
) -> str:
    resource = f"/{bucket}/{quote(key, safe='/~')}"
    url: str = generate_signed_url_v4(
        oracle_credentials,
        resource,
        expiration=timedelta(seconds=expires_in),
        api_access_endpoint=endpoint,
        method=method,
        headers=dict(headers or {}),
        query_parameters=dict(query or {}) or None,
        _request_timestamp=WHEN.strftime("%Y%m%dT%H%M%SZ"),
    )
    return url


@pytest.mark.parametrize(
    ("method", "key", "headers", "query"),
    [
        ("GET", "report.csv", None, None),
        ("GET", "dir/sub dir/naïve file (1).txt", None, None),
        ("PUT", "uploads/a+b=c&d.bin", {"Content-Type": "application/octet-stream"}, None),
        ("GET", "x", None, {"response-content-disposition": 'attachment; filename="x y"'}),
        (
            "PUT",
            "~tilde/é/%41",
            {"Content-Type": "text/plain", "x-goog-meta-owner": "ops team"},
            None,
        ),
    ],
)
def test_signed_url_equals_google_cloud_storage(  # noqa: PLR0917
    credentials: ServiceAccountCredentials,
    oracle_credentials: service_account.Credentials,
    method: str,
    key: str,
    headers: dict[str, str] | None,
    query: dict[str, str] | None,
) -> None:
    ours = sign_url_v4(
        credentials,
        method=method,
        bucket="flext-bucket",
        key=key,
        expires_in=900,
        now=WHEN,
        headers=headers,
        query=query,
    )
    theirs = _oracle_url(
        oracle_credentials,
        method=method,
        bucket="flext-bucket",
        key=key,
        expires_in=900,
        headers=headers,
        query=query,
    )
    assert ours.url == theirs


def test_signed_url_for_an_emulator_endpoint_equals_the_oracle(
    credentials: ServiceAccountCredentials, oracle_credentials: service_account.Credentials
) -> None:
    ours = sign_url_v4(
        credentials,
        method="GET",
        bucket="b",
        key="k",
        expires_in=60,
        now=WHEN,
        endpoint="http://127.0.0.1:9023",
    )
    theirs = _oracle_url(
        oracle_credentials,
        method="GET",
        bucket="b",
        key="k",
        expires_in=60,
        endpoint="http://127.0.0.1:9023",
    )
    assert ours.url == theirs


def test_signed_url_steps_follow_the_published_layout(
    credentials: ServiceAccountCredentials,
) -> None:
    parts = sign_url_v4(
        credentials,
        method="put",
        bucket="flext-bucket",
        key="a b/c.txt",
        expires_in=3600,
        now=WHEN.astimezone(timezone(timedelta(hours=2))),  # any zone: signed in UTC
        headers={"Content-Type": "  text/plain  "},
    )
    scope = "20261205/auto/storage/goog4_request"
    credential = quote(f"{keys.EMAIL}/{scope}", safe="")
    expected_query = (
        "X-Goog-Algorithm=GOOG4-RSA-SHA256"
        f"&X-Goog-Credential={credential}"
        "&X-Goog-Date=20261205T043015Z"
        "&X-Goog-Expires=3600"
        "&X-Goog-SignedHeaders=content-type%3Bhost"
    )
    assert parts.canonical_request == (
        "PUT\n"
        "/flext-bucket/a%20b/c.txt\n"
        f"{expected_query}\n"
        "content-type:text/plain\n"
        "host:storage.googleapis.com\n"
        "\n"
        "content-type;host\n"
        "UNSIGNED-PAYLOAD"
    )
    assert parts.string_to_sign == (
        "GOOG4-RSA-SHA256\n20261205T043015Z\n"
        f"{scope}\n{hashlib.sha256(parts.canonical_request.encode()).hexdigest()}"
    )
    keys.private_key().public_key().verify(
        bytes.fromhex(parts.signature),
        parts.string_to_sign.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    split = urlsplit(parts.url)
    assert split.path == "/flext-bucket/a%20b/c.txt"
    assert split.query == f"{expected_query}&X-Goog-Signature={parts.signature}"


@pytest.mark.parametrize("expires_in", [0, 7 * 24 * 3600 + 1])
def test_signed_url_expiry_bounds(credentials: ServiceAccountCredentials, expires_in: int) -> None:
    with pytest.raises(ValueError, match="1 to 604800 seconds"):
        sign_url_v4(credentials, method="GET", bucket="b", key="k", expires_in=expires_in, now=WHEN)


def test_signed_url_needs_an_aware_time(credentials: ServiceAccountCredentials) -> None:
    with pytest.raises(ValueError, match="aware"):
        sign_url_v4(
            credentials,
            method="GET",
            bucket="b",
            key="k",
            expires_in=60,
            now=WHEN.replace(tzinfo=None),
        )


@pytest.mark.parametrize("module", [gcs_auth_module, gcs_signing_module])
def test_modules_do_no_io_and_read_no_clock(module: object) -> None:
    source = Path(str(getattr(module, "__file__", ""))).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"socket", "ssl", "asyncio", "anyio", "trio", "time", "threading"}
