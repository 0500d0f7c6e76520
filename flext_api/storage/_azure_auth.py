"""Azure Blob Storage authorization without I/O: Shared Key signatures and SAS tokens.

The backend builds a request (method, encoded path, query, headers), asks this module for the
``Authorization`` value, and sends exactly those headers: a header added or changed after
signing (a ``Content-Type`` the transport invents, a ``Content-Length: 0`` on a GET) makes the
service refuse the request with 403. Nothing here reads a clock (the caller passes ``now``),
touches a socket or logs; the account key is held in a :class:`Secret` and never printed.

What the service signs (Shared Key, service versions 2015-02-21 and later):

* the verb, then the values of eleven standard headers (an empty line for each one absent,
  and for ``Content-Length: 0``), then ``Range``;
* every ``x-ms-`` header, lower-cased, one ``name:value`` line each, in the *service's* order:
  a culture-aware comparison in which ``-`` and ``'`` are ignored at first and only break ties,
  and ``_`` sorts before digits and letters (so ``x-ms-meta-a_b`` comes before
  ``x-ms-meta-a1``, where a byte-wise sort puts it after). :func:`canonical_header_order`
  implements that ordering as a sort key;
* ``/account`` + the encoded URL path, then each query parameter as ``\\nname:value`` with the
  name lower-cased, the value percent-decoded, names sorted, repeated values comma-joined.

SAS tokens (service SAS for a blob, account SAS) are HMAC-SHA256 over newline-joined fields in
an order fixed by the SAS version (2020-12-06 and later: with the encryption scope field).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, unquote

from flext_api._sansio.auth import Secret

__all__ = [
    "SERVICE_VERSION",
    "AzureAuthError",
    "AzureCredentials",
    "account_sas",
    "blob_sas",
    "canonical_header_order",
    "format_http_date",
    "format_sas_time",
    "shared_key_authorization",
    "string_to_sign",
]

# The REST API version every request states (x-ms-version) and every SAS signs (sv): one that
# both the service and the pinned Azurite (tests/servers/azurite) accept.
SERVICE_VERSION: Final = "2026-06-06"

# Standard headers in the order the string-to-sign lists their values.
_SIGNED_STANDARD_HEADERS: Final = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)

# The service's header-name collation. Characters of the first string are compared first (their
# rank in this string; case-insensitive); "'" and "-" carry no weight then and only order names
# that are otherwise equal (a name with the mark later sorts first; "'" before "-").
_PRIMARY_ORDER: Final = "!#$%&*.^_`|~+0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY_RANK: Final = {ch: rank + 2 for rank, ch in enumerate(_PRIMARY_ORDER)}
_SECONDARY_RANK: Final = {"'": 2, "-": 3}


class AzureAuthError(ValueError):
    """A credential or SAS parameter that cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class AzureCredentials:
    """A storage account's name and its base64 Shared Key (kept as a :class:`Secret`)."""

    account_name: str
    account_key: Secret

    def __post_init__(self) -> None:
        if not self.account_name or not self.account_name.isascii():
            raise AzureAuthError(f"invalid Azure storage account name {self.account_name!r}")
        _decode_key(self.account_key)  # refuse a key that is not base64 now, not per request

    def key_bytes(self) -> bytes:
        return _decode_key(self.account_key)


def _decode_key(key: Secret) -> bytes:
    try:
        raw = base64.b64decode(key.reveal(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw:
        raise AzureAuthError(
            "the Azure account key is not base64: copy 'key1' or 'key2' from the storage "
            "account's Access keys (or the AccountKey= part of its connection string)"
        )
    return raw


def _sign(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _collation_key(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    primary: list[int] = []
    secondary: list[int] = []
    for ch in name.lower():
        if ch in _SECONDARY_RANK:
            secondary.append(_SECONDARY_RANK[ch])
            continue
        rank = _PRIMARY_RANK.get(ch)
        if rank is None:
            raise AzureAuthError(f"header name {name!r} has a character a signature cannot sort")
        primary.append(rank)
        secondary.append(0)
    return tuple(primary), tuple(secondary)


def canonical_header_order(names: Iterable[str]) -> list[str]:
    """Return lower-cased ``names`` in the order the service lists them in a string-to-sign."""
    return sorted((name.lower() for name in names), key=_collation_key)


def _canonical_headers(headers: Mapping[str, str]) -> str:
    ms = {
        name.lower(): value for name, value in headers.items() if name.lower().startswith("x-ms-")
    }
    return "".join(f"{name}:{ms[name].strip()}\n" for name in canonical_header_order(ms))


def _canonical_resource(account: str, path: str, query: Iterable[tuple[str, str]]) -> str:
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        grouped.setdefault(name.lower(), []).append(unquote(value))
    lines = "".join(f"\n{name}:{','.join(sorted(grouped[name]))}" for name in sorted(grouped))
    return f"/{account}{path or '/'}{lines}"


def string_to_sign(
    account: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """The Shared Key string-to-sign of a request.

    ``path`` is the URL path as sent (percent-encoded, with the account segment when the
    endpoint is path-style like Azurite's); ``query`` the parameters as sent (encoded values);
    ``headers`` every header the request carries (names in any case).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    values = []
    for name in _SIGNED_STANDARD_HEADERS:
        value = lowered.get(name, "")
        if name == "content-length" and value == "0":
            value = ""
        values.append(value)
    return (
        method.upper()
        + "\n"
        + "\n".join(values)
        + "\n"
        + _canonical_headers(lowered)
        + _canonical_resource(account, path, query)
    )


def shared_key_authorization(
    credentials: AzureCredentials,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """The ``Authorization`` header value (``SharedKey account:signature``) for a request."""
    text = string_to_sign(credentials.account_name, method, path, query, headers)
    return f"SharedKey {credentials.account_name}:{_sign(credentials.key_bytes(), text)}"


_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def format_http_date(when: datetime) -> str:
    """RFC 1123 date for ``x-ms-date`` (the service refuses one more than 15 minutes off)."""
    utc = _as_utc(when)
    return (
        f"{_WEEKDAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def format_sas_time(when: datetime) -> str:
    """ISO 8601 UTC to the second, the form SAS start and expiry times take."""
    return _as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise AzureAuthError("pass an aware datetime (e.g. datetime.now(UTC)), not a naive one")
    return when.astimezone(UTC)


# Permission letters in the order the service requires them in sp.
_BLOB_PERMISSIONS: Final = "racwdxytmeopi"
_ACCOUNT_PERMISSIONS: Final = "rwdxylacuptfmeoi"
_ACCOUNT_SERVICES: Final = "bfqt"
_ACCOUNT_RESOURCE_TYPES: Final = "sco"


def _ordered_letters(given: str, allowed: str, what: str) -> str:
    unknown = sorted(set(given) - set(allowed))
    if unknown or not given:
        raise AzureAuthError(
            f"SAS {what} {given!r} is not valid: use letters from {allowed!r}"
            + (f" (unknown: {''.join(unknown)!r})" if unknown else "")
        )
    return "".join(ch for ch in allowed if ch in given)


def _token(fields: list[tuple[str, str]]) -> str:
    return "&".join(f"{name}={quote(value, safe='')}" for name, value in fields if value)


def blob_sas(
    credentials: AzureCredentials,
    container: str,
    blob: str,
    *,
    permissions: str,
    expiry: datetime,
    start: datetime | None = None,
    ip: str = "",
    protocol: str = "",
    version: str = SERVICE_VERSION,
    content_type: str = "",
    content_disposition: str = "",
) -> str:
    """A service SAS token (the query string, without ``?``) for one blob.

    ``permissions`` uses the service's letters (``r`` read, ``w`` write, ``c`` create, ``d``
    delete, ...) in any order; ``content_type``/``content_disposition`` override the response
    headers of a GET through the SAS.
    """
    sp = _ordered_letters(permissions, _BLOB_PERMISSIONS, "permissions")
    if protocol not in ("", "https", "https,http"):
        raise AzureAuthError(f"SAS protocol {protocol!r}: use 'https' or 'https,http'")
    st = format_sas_time(start) if start is not None else ""
    se = format_sas_time(expiry)
    resource = f"/blob/{credentials.account_name}/{container}/{blob}"
    text = "\n".join(
        [
            sp,
            st,
            se,
            resource,
            "",  # signed identifier (stored access policy): not used
            ip,
            protocol,
            version,
            "b",  # signed resource: a blob
            "",  # snapshot time
            "",  # encryption scope
            "",  # cache-control override
            content_disposition,
            "",  # content-encoding override
            "",  # content-language override
            content_type,
        ]
    )
    fields = [
        ("st", st),
        ("se", se),
        ("sp", sp),
        ("sip", ip),
        ("spr", protocol),
        ("sv", version),
        ("sr", "b"),
        ("rscd", content_disposition),
        ("rsct", content_type),
        ("sig", _sign(credentials.key_bytes(), text)),
    ]
    return _token(fields)


def account_sas(
    credentials: AzureCredentials,
    *,
    permissions: str,
    expiry: datetime,
    services: str = "b",
    resource_types: str = "sco",
    start: datetime | None = None,
    ip: str = "",
    protocol: str = "",
    version: str = SERVICE_VERSION,
) -> str:
    """An account SAS token (without ``?``): ``services`` from ``bfqt``, ``resource_types`` from
    ``sco`` (service, container, object)."""
    sp = _ordered_letters(permissions, _ACCOUNT_PERMISSIONS, "permissions")
    ss = _ordered_letters(services, _ACCOUNT_SERVICES, "services")
    srt = _ordered_letters(resource_types, _ACCOUNT_RESOURCE_TYPES, "resource types")
    if protocol not in ("", "https", "https,http"):
        raise AzureAuthError(f"SAS protocol {protocol!r}: use 'https' or 'https,http'")
    st = format_sas_time(start) if start is not None else ""
    se = format_sas_time(expiry)
    text = (
        "\n".join([credentials.account_name, sp, ss, srt, st, se, ip, protocol, version, ""]) + "\n"
    )
    fields = [
        ("st", st),
        ("se", se),
        ("sp", sp),
        ("sip", ip),
        ("spr", protocol),
        ("sv", version),
        ("ss", ss),
        ("srt", srt),
        ("sig", _sign(credentials.key_bytes(), text)),
    ]
    return _token(fields)
