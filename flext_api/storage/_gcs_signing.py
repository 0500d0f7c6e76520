"""V4 signed URLs for Google Cloud Storage (``GOOG4-RSA-SHA256``), without I/O.

A signed URL lets whoever holds it GET or PUT one object until it expires, with no credentials
of their own. The steps are Google's published V4 signing process:

1. the canonical request: method, the percent-encoded object path, the canonical query (the
   ``X-Goog-*`` parameters and any caller's, sorted by name, names and values encoded as RFC
   3986 unreserved-or-escaped), the canonical headers (lower-case names, trimmed values, sorted,
   each line ending in a newline, ``host`` always among them), the signed header names joined
   by ``;``, and ``UNSIGNED-PAYLOAD``, joined by newlines;
2. the string to sign: ``GOOG4-RSA-SHA256``, the request time (``YYYYMMDDTHHMMSSZ``), the
   credential scope (``YYYYMMDD/auto/storage/goog4_request``) and the hex SHA-256 of the
   canonical request, joined by newlines;
3. the signature: RSASSA-PKCS1-v1_5 SHA-256 of that string with the account's key, in hex,
   appended as ``X-Goog-Signature``.

This module must never read a clock (``now`` is a parameter) or touch a socket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlsplit

from flext_api.storage._gcs_auth import ServiceAccountCredentials

__all__ = ["MAX_SIGNED_URL_EXPIRY", "SignedURLParts", "sign_url_v4"]

ALGORITHM: Final = "GOOG4-RSA-SHA256"
# Google refuses V4 signed URLs valid longer than seven days.
MAX_SIGNED_URL_EXPIRY: Final = 7 * 24 * 3600
_UNRESERVED: Final = "-_.~"


@dataclass(frozen=True, slots=True)
class SignedURLParts:
    """The intermediate texts, kept so tests can hold each step against the published
    algorithm (and so a caller can see what was signed)."""

    url: str
    canonical_request: str
    string_to_sign: str
    signature: str


def _encode(text: str) -> str:
    return quote(text, safe=_UNRESERVED)


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{_encode(name)}={_encode(value)}"
        for name, value in sorted(params.items(), key=lambda item: _encode(item[0]))
    )


def object_path(bucket: str, key: str) -> str:
    """``/bucket/key`` with the key percent-encoded except its ``/`` separators."""
    return f"/{_encode(bucket)}/" + quote(key, safe="/" + _UNRESERVED)


def sign_url_v4(
    credentials: ServiceAccountCredentials,
    *,
    method: str,
    bucket: str,
    key: str,
    expires_in: int,
    now: datetime,
    endpoint: str = "https://storage.googleapis.com",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> SignedURLParts:
    """Sign ``method`` on ``bucket``/``key`` for ``expires_in`` seconds from ``now``.

    ``headers`` (a ``Content-Type`` for a PUT, say) become signed headers: the request made with
    the URL must send them with the same values. Raises ``ValueError`` for an expiry outside
    1 second to 7 days or a naive ``now``.
    """
    if not 1 <= expires_in <= MAX_SIGNED_URL_EXPIRY:
        raise ValueError(
            f"expires_in={expires_in}: a V4 signed URL lasts 1 to {MAX_SIGNED_URL_EXPIRY} seconds"
        )
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC)")
    moment = now.astimezone(UTC)
    timestamp = moment.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{moment.strftime('%Y%m%d')}/auto/storage/goog4_request"
    split = urlsplit(endpoint)
    signed: dict[str, str] = {"host": split.netloc}
    for name, value in (headers or {}).items():
        signed[name.lower().strip()] = " ".join(value.split())
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_headers = ";".join(names)
    params = dict(query or {})
    params.update(
        {
            "X-Goog-Algorithm": ALGORITHM,
            "X-Goog-Credential": f"{credentials.client_email}/{scope}",
            "X-Goog-Date": timestamp,
            "X-Goog-Expires": str(expires_in),
            "X-Goog-SignedHeaders": signed_headers,
        }
    )
    query_text = canonical_query(params)
    path = split.path.rstrip("/") + object_path(bucket, key)
    canonical_request = "\n".join(
        [method.upper(), path, query_text, canonical_headers, signed_headers, "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signature = credentials.signer.sign(string_to_sign.encode()).hex()
    url = f"{split.scheme}://{split.netloc}{path}?{query_text}&X-Goog-Signature={signature}"
    return SignedURLParts(url, canonical_request, string_to_sign, signature)
