"""The pieces of a URL, one at a time: each component checked and percent-encoded, and query
parameters encoded; no URL object here (``_urls`` assembles those).

Every function takes text and returns text, or raises :class:`InvalidURL` naming the component
and what to write instead; messages never show a password (see ``redact_url``). This module
must never do I/O and never "fix" a URL into one that points somewhere else.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, TypeAlias

from flext_api._exceptions import InvalidURL, redact_url

__all__ = ["PrimitiveData", "QueryParamTypes", "encode_params"]

PrimitiveData: TypeAlias = str | int | float | bool | None
QueryParamTypes: TypeAlias = (
    Mapping[str, PrimitiveData | Sequence[PrimitiveData]]
    | Sequence[tuple[str, PrimitiveData]]
    | str
)

# C0 controls, space and DEL are never part of a URL: a CR/LF would split the request line
# (header injection), and a space or TAB usually means two values were glued together.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_FORBIDDEN_NAMES: Final[dict[str, str]] = {
    "\r": "a CR character",
    "\n": "an LF character",
    "\x00": "a NUL character",
    "\t": "a TAB character",
    " ": "a space",
}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# A registered name restricted to what DNS and /etc/hosts can resolve; the RFC's sub-delims
# ("!$&'()*+,;=") and percent-escapes are valid syntax but resolve nowhere, and refusing them
# here gives a clear message instead of a DNS error later.
_HOST = re.compile(r"[A-Za-z0-9\-._~]*")
_IPV6_ZONE = re.compile(r"[A-Za-z0-9\-._~]+")

# Allowed characters per component (RFC 3986 section 3): pchar = unreserved / pct-encoded /
# sub-delims / ":" / "@". The *_SAFE patterns accept a string that needs no encoding (the fast
# path, one C-level scan); "%" is let through and checked separately by _LONE_PERCENT.
_PATH_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_QUERY_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_USERINFO_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:%]*")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# The *_UNSAFE patterns find what must be encoded: a "%" that does not start an escape, or a run
# of characters outside the allowed set. Existing escapes match neither, so encoding is
# idempotent.
_PATH_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]+")
_QUERY_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]+")
_USERINFO_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:%]+")
# A username cannot hold ":" (it would end the username); a password can.
_USERNAME_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=%]+")
# Query parameter keys and values: everything but unreserved is encoded, "%" included, because
# a parameter is a literal value, not an already-encoded string.
_PARAM_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~]+")
_PARAM_SAFE = re.compile(r"[A-Za-z0-9\-._~]*")

_PERCENT_BYTE: Final[tuple[str, ...]] = tuple(f"%{byte:02X}" for byte in range(256))


def _percent_encode(match: re.Match[str]) -> str:
    return "".join([_PERCENT_BYTE[byte] for byte in match.group().encode("utf-8")])


def _encode(text: str, safe: re.Pattern[str], unsafe: re.Pattern[str], url: str) -> str:
    """Percent-encode what ``unsafe`` matches; return ``text`` itself when nothing needs it."""
    if safe.fullmatch(text) is not None and ("%" not in text or _LONE_PERCENT.search(text) is None):
        return text
    try:
        return unsafe.sub(_percent_encode, text)
    except UnicodeEncodeError as exc:
        # Only a lone surrogate (from a bad decode upstream) cannot be UTF-8 encoded.
        raise InvalidURL(
            f"URL {redact_url(url)!r} contains a character that cannot be UTF-8 encoded "
            f"({exc.object[exc.start : exc.end]!r}); decode the input with a proper charset"
        ) from exc


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, step by step as the RFC writes it.

    ``..`` never climbs above the root (``/../g`` is ``/g``), and a path that ends in ``.`` or
    ``..`` keeps its trailing ``/``. Only reached when the path holds a dot segment, so the
    literal algorithm (easy to check against the RFC) costs nothing on the common path.
    """
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith(("./", "/./")):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            # Move the first segment, with its leading "/" if any, to the output.
            end = path.find("/", 1)
            if end < 0:
                end = len(path)
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def _parse_port(text: str, url: str) -> int | None:
    if not text:
        return None  # "http://host:/" is allowed by RFC 3986: an empty port means the default
    if not (text.isascii() and text.isdigit()):
        hint = (
            "; an IPv6 address must be written in brackets, as in 'http://[::1]:8080/'"
            if ":" in text
            else ""
        )
        raise InvalidURL(
            f"URL {redact_url(url)!r} has a port {text!r} that is not a number; "
            f"write the port as digits, as in 'http://host:8080/'{hint}"
        )
    if len(text) > 5 or int(text) > 65535:
        raise InvalidURL(
            f"URL {redact_url(url)!r} has port {text}, outside the range 0-65535; "
            "use a valid TCP port number"
        )
    return int(text)


def _parse_host(text: str, url: str) -> str:
    """A registered name or IPv4 address: lowercased, IDNA-encoded when it is not ASCII."""
    if text.isascii():
        host = text.lower()
    else:
        try:
            # The stdlib codec is IDNA 2003 (nameprep): it lowercases and maps compatibility
            # characters, e.g. "ß" becomes "ss" where IDNA 2008 would keep it.
            host = text.lower().encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidURL(
                f"URL {redact_url(url)!r} has a host {text!r} that is not a valid "
                f"internationalized domain name ({exc}); check its spelling or pass its "
                "ASCII 'xn--' form"
            ) from exc
    if _HOST.fullmatch(host) is None:
        bad = next(char for char in host if _HOST.fullmatch(char) is None)
        raise InvalidURL(
            f"URL {redact_url(url)!r} has a host {text!r} containing {bad!r}; a host may contain "
            "only letters, digits, '-', '.', '_' and '~' (put an IPv6 address in brackets, "
            "percent-encode special characters in the path or query instead)"
        )
    return host


def _parse_ipv6(literal: str, url: str) -> str:
    """The text inside ``[...]``: an IPv6 address, optionally with an RFC 6874 zone (``%25``)."""
    if literal[:1] in ("v", "V"):
        raise InvalidURL(
            f"URL {redact_url(url)!r} uses an IPvFuture literal [{literal}], which no transport "
            "supports; use an IPv6 or IPv4 address or a host name"
        )
    address, _, zone = literal.partition("%25")
    try:
        ipaddress.IPv6Address(address)
    except ValueError as exc:
        raise InvalidURL(
            f"URL {redact_url(url)!r} has an invalid IPv6 address [{literal}] ({exc}); "
            "write a valid IPv6 address between the brackets, as in 'http://[::1]:8080/'"
        ) from exc
    if not zone:
        return address.lower()
    if _IPV6_ZONE.fullmatch(zone) is None:
        raise InvalidURL(
            f"URL {redact_url(url)!r} has an invalid IPv6 zone {zone!r}; a zone is an interface "
            "name such as 'eth0', written after '%25', as in 'http://[fe80::1%25eth0]/'"
        )
    return f"{address.lower()}%{zone}"


def _host_in_uri(host: str) -> str:
    # A ":" only ever appears in an IPv6 host; the zone's "%" is written "%25" in a URI.
    if ":" in host:
        return "[" + host.replace("%", "%25") + "]"
    return host


def _reject_forbidden(text: str, part: str) -> None:
    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        char = forbidden.group()
        name = _FORBIDDEN_NAMES.get(char, f"the control character {char!r}")
        raise InvalidURL(
            f"URL {part} {text!r} contains {name}; remove it, or percent-encode it "
            "(a space as %20) where it belongs in a path or query"
        )


def _encode_literal(text: str, unsafe: re.Pattern[str]) -> str:
    """Encode a literal value (a username, a password): "%" itself is encoded too."""
    try:
        return unsafe.sub(_percent_encode, text.replace("%", "%25"))
    except UnicodeEncodeError as exc:
        raise InvalidURL(
            "a URL username or password contains a character that cannot be UTF-8 encoded; "
            "decode the input with a proper charset"
        ) from exc


def _encode_param(text: str) -> str:
    if _PARAM_SAFE.fullmatch(text) is not None:
        return text
    try:
        return _PARAM_UNSAFE.sub(_percent_encode, text)
    except UnicodeEncodeError as exc:
        raise InvalidURL(
            f"query parameter text {text!r} contains a character that cannot be UTF-8 "
            "encoded; decode the input with a proper charset"
        ) from exc


def _param_text(key: str, value: object) -> str:
    # bool before int: True is an int, and "True" is not what APIs expect.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return _encode_param(value)
    if isinstance(value, int | float):
        return _encode_param(str(value))
    raise TypeError(
        f"query parameter {key!r} has a value of type {type(value).__name__}; "
        "use str, int, float, bool or None (or a list of them)"
    )


def encode_params(params: QueryParamTypes) -> str:
    """Encode query parameters as ``key=value`` pairs joined by ``&`` (no leading ``?``).

    - ``True``/``False`` become ``true``/``false``; ``None`` gives the key with an empty value
      (``key=``); ints and floats use ``str()``.
    - A list or tuple value repeats the key once per item (``a=1&a=2``); an empty one leaves
      the key out.
    - Keys and values are UTF-8 percent-encoded, everything but unreserved characters
      (``A-Z a-z 0-9 - . _ ~``); a space is ``%20`` (never ``+``), ``%`` is ``%25``.
    - A str is taken as an already-built query string: a leading ``?`` is dropped and only the
      characters a query cannot hold are encoded (existing escapes are kept).
    """
    if isinstance(params, str):
        _reject_forbidden(params, "query")
        text = params.removeprefix("?")
        return _encode(text, _QUERY_SAFE, _QUERY_UNSAFE, text)
    pairs: list[str] = []
    items: Iterable[object] = params.items() if isinstance(params, Mapping) else params
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(
                f"query parameters must be a mapping, a list of (key, value) pairs or a str; "
                f"got the item {item!r}"
            )
        key, value = item
        if not isinstance(key, str):
            raise TypeError(f"query parameter key {key!r} must be a str")
        encoded_key = _encode_param(key)
        if isinstance(value, list | tuple):
            pairs.extend([f"{encoded_key}={_param_text(key, entry)}" for entry in value])
        else:
            pairs.append(f"{encoded_key}={_param_text(key, value)}")
    return "&".join(pairs)
