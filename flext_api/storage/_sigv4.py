"""AWS Signature Version 4 for S3, without I/O: header signing, query presigning and the
chunked streaming signature (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``).

Everything here is a pure function of its arguments: the time is passed in, nothing reads a
clock, a socket or a file (credentials are found by :mod:`flext_api.storage._aws_credentials`).
The secret key never appears in a ``repr``; derived signing keys are cached per day, region
and service because deriving one costs four HMACs and a day's requests share it.

S3's rules differ from the generic SigV4 ones in two ways that matter here: the path is
canonicalised exactly as sent (encoded once, never normalised or encoded again), and the
payload hash is always sent in ``x-amz-content-sha256``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final
from urllib.parse import quote

from flext_api._sansio.auth import Secret

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_PRESIGN_EXPIRES",
    "STREAMING_PAYLOAD",
    "UNSIGNED_PAYLOAD",
    "AwsCredentials",
    "ChunkSigner",
    "SignedRequest",
    "amz_date",
    "canonical_query",
    "chunked_length",
    "encode_key",
    "payload_sha256",
    "presign_url_query",
    "sign_headers",
    "signing_key",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
# AWS refuses presigned URLs valid for longer than seven days.
MAX_PRESIGN_EXPIRES: Final = 7 * 24 * 3600
# Hop-by-hop and tracing headers a proxy or the transport may change on the way: signing them
# would break the signature for no security gain.
_UNSIGNED_HEADERS: Final = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_UNRESERVED: Final = "-_.~"


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key pair, and the session token of temporary credentials."""

    access_key_id: str
    secret_access_key: Secret
    session_token: Secret | None = None

    def __post_init__(self) -> None:
        if not self.access_key_id or not self.secret_access_key:
            raise ValueError("AWS credentials need an access key id and a secret access key")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What to send: the headers to add (``Authorization`` included) and the signature, which
    seeds the chunk signatures of a streamed body."""

    headers: dict[str, str]
    signature: str
    scope: str
    amz_date: str
    canonical_request: str = field(repr=False)


def payload_sha256(body: bytes | Sequence[bytes]) -> str:
    """The hex SHA-256 of a request body, given whole or as the chunks of a part (hashed one
    by one, never joined)."""
    if isinstance(body, bytes):
        return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    hasher = hashlib.sha256()
    for chunk in body:
        hasher.update(chunk)
    return hasher.hexdigest()


def amz_date(now: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC (a naive datetime is taken as UTC)."""
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ")


def encode_key(key: str) -> str:
    """An object key as it goes in the path: each byte outside the unreserved set
    percent-encoded, ``/`` kept. S3 canonicalises this exact text."""
    return quote(key, safe="/" + _UNRESERVED)


def _encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query string: names and values encoded, sorted by name then value."""
    pairs = sorted((_encode(name), _encode(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in pairs)


@lru_cache(maxsize=64)
def _derive(secret: str, day: str, region: str, service: str) -> bytes:
    key = hmac.digest(("AWS4" + secret).encode(), day.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def signing_key(credentials: AwsCredentials, day: str, region: str, service: str) -> bytes:
    """The key that signs one day's requests to one service in one region."""
    return _derive(credentials.secret_access_key.reveal(), day, region, service)


def _collapse(value: str) -> str:
    # Canonical header values: outer whitespace trimmed, inner runs of spaces made one.
    return " ".join(value.split())


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    lowered: dict[str, list[str]] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _UNSIGNED_HEADERS:
            continue
        lowered.setdefault(key, []).append(_collapse(value))
    names = sorted(lowered)
    block = "".join(f"{name}:{','.join(lowered[name])}\n" for name in names)
    return block, ";".join(names)


def _string_to_sign(stamp: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}"


def sign_headers(
    credentials: AwsCredentials,
    *,
    method: str,
    host: str,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    payload_hash: str = UNSIGNED_PAYLOAD,
    region: str,
    now: datetime,
    service: str = "s3",
) -> SignedRequest:
    """Sign a request in the ``Authorization`` header.

    ``path`` is the request path exactly as it will be sent (already encoded, see
    :func:`encode_key`); ``host`` the ``Host`` header (with the port when it is not the
    scheme's default). ``payload_hash`` is the body's hex SHA-256, :data:`UNSIGNED_PAYLOAD`
    (TLS protects the body), or :data:`STREAMING_PAYLOAD` for a body sent with
    :class:`ChunkSigner`. Every header given is signed, except those a hop may rewrite.
    """
    stamp = amz_date(now)
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign: dict[str, str] = {
        "host": host,
        "x-amz-date": stamp,
        "x-amz-content-sha256": payload_hash,
    }
    if credentials.session_token is not None:
        to_sign["x-amz-security-token"] = credentials.session_token.reveal()
    for name, value in (headers or {}).items():
        to_sign.setdefault(name.lower(), value)
    block, signed_names = _canonical_headers(to_sign)
    canonical_request = "\n".join(
        (method.upper(), path or "/", canonical_query(query), block, signed_names, payload_hash)
    )
    string_to_sign = _string_to_sign(stamp, scope, canonical_request)
    key = signing_key(credentials, day, region, service)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    out = {name: value for name, value in to_sign.items() if name != "host"}
    out["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_names}, Signature={signature}"
    )
    return SignedRequest(out, signature, scope, stamp, canonical_request)


def presign_url_query(
    credentials: AwsCredentials,
    *,
    method: str,
    host: str,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    expires: int,
    region: str,
    now: datetime,
    service: str = "s3",
) -> str:
    """The query string of a presigned URL (the caller's ``query`` included, encoded): anyone
    holding the URL may send ``method`` to ``path`` for ``expires`` seconds from ``now``.
    ``host`` and the ``headers`` given are signed (the holder must send those headers with
    those values); the body is not, so the URL works from any HTTP client."""
    if not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise ValueError(
            f"expires={expires}: a presigned URL is valid from 1 second to {MAX_PRESIGN_EXPIRES}"
            " (seven days)"
        )
    stamp = amz_date(now)
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    block, signed_names = _canonical_headers({**(headers or {}), "host": host})
    params = [
        *query,
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key_id}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", signed_names),
    ]
    if credentials.session_token is not None:
        params.append(("X-Amz-Security-Token", credentials.session_token.reveal()))
    query_text = canonical_query(params)
    canonical_request = "\n".join(
        (method.upper(), path or "/", query_text, block, signed_names, UNSIGNED_PAYLOAD)
    )
    key = signing_key(credentials, day, region, service)
    signature = hmac.new(
        key, _string_to_sign(stamp, scope, canonical_request).encode(), hashlib.sha256
    ).hexdigest()
    return f"{query_text}&X-Amz-Signature={signature}"


# -- the chunked streaming signature -------------------------------------------------------

_CHUNK_ALGORITHM: Final = "AWS4-HMAC-SHA256-PAYLOAD"
# b";chunk-signature=" + 64 hex digits + CRLF after the size, and CRLF after the data.
_CHUNK_OVERHEAD: Final = len(";chunk-signature=") + 64 + 2 + 2


def chunked_length(decoded_length: int, chunk_size: int) -> int:
    """The ``Content-Length`` of an ``aws-chunked`` body that carries ``decoded_length`` bytes
    in chunks of ``chunk_size`` (the last one shorter) and the closing empty chunk."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    full, rest = divmod(decoded_length, chunk_size)
    total = full * (len(f"{chunk_size:x}") + _CHUNK_OVERHEAD + chunk_size)
    if rest:
        total += len(f"{rest:x}") + _CHUNK_OVERHEAD + rest
    return total + 1 + _CHUNK_OVERHEAD


class ChunkSigner:
    """Frames a body as ``aws-chunked``, each chunk signed with the previous signature.

    The request itself is signed with ``payload_hash=STREAMING_PAYLOAD`` and the headers
    ``content-encoding: aws-chunked`` and ``x-amz-decoded-content-length``; its signature seeds
    this chain. Each chunk's SHA-256 is computed as it is framed, so a body is hashed in one
    pass while it is sent, never read twice. Call :meth:`frame` for every chunk, in order, then
    :meth:`final` once.
    """

    __slots__ = ("_key", "_prefix", "_previous")

    def __init__(
        self,
        credentials: AwsCredentials,
        signed: SignedRequest,
        *,
        region: str,
        service: str = "s3",
    ) -> None:
        day = signed.amz_date[:8]
        self._key = signing_key(credentials, day, region, service)
        self._previous = signed.signature
        self._prefix = f"{_CHUNK_ALGORITHM}\n{signed.amz_date}\n{signed.scope}\n"

    def _sign(self, digest: str) -> str:
        text = f"{self._prefix}{self._previous}\n{EMPTY_SHA256}\n{digest}"
        signature = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
        self._previous = signature
        return signature

    def header(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """The line that goes before ``chunk`` (the caller sends the chunk, then CRLF): lets
        a caller send a large chunk without copying it into a framed buffer."""
        signature = self._sign(hashlib.sha256(chunk).hexdigest())
        return f"{len(chunk):x};chunk-signature={signature}\r\n".encode()

    def frame(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """One framed, signed chunk (non-empty)."""
        if not len(chunk):
            raise ValueError("an empty chunk ends the body: call final()")
        return b"".join((self.header(chunk), chunk, b"\r\n"))

    def final(self) -> bytes:
        """The empty chunk that ends the body."""
        return f"0;chunk-signature={self._sign(EMPTY_SHA256)}\r\n\r\n".encode()
