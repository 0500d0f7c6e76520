"""Parameter serialization by OpenAPI ``style`` / ``explode`` / ``allowReserved`` (client side).

Split out of :mod:`flext_api.codegen_runtime` (which re-exports every public name here, the names
generated code uses): pure functions, no I/O, exactly the OpenAPI 3.1 style-examples table.
"""

from __future__ import annotations

import datetime
import enum
import functools
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal
from urllib.parse import quote

import msgspec

__all__ = ["Shape", "Style", "cookie_header", "header_value", "serialize", "to_builtins"]

Style = Literal[
    "matrix", "label", "simple", "form", "spaceDelimited", "pipeDelimited", "deepObject"
]
Shape = Literal["primitive", "array", "object"]

_UNRESERVED = "-._~"
_RESERVED = ":/?#[]@!$&'()*+,;="


# --- serialization (client side) ----------------------------------------------------------------


def to_builtins(value: object) -> object:
    """A parameter value as str / list / dict of builtins (Structs and enums unwrapped)."""
    return msgspec.to_builtins(value, builtin_types=(datetime.datetime, datetime.date, uuid.UUID))


def _text(value: object) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return _text(value.value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


_PLAIN = re.compile(r"[A-Za-z0-9\-._~]*").fullmatch
_SAFE = _UNRESERVED
_SAFE_RESERVED = _UNRESERVED + _RESERVED


def _enc(value: object, allow_reserved: bool) -> str:
    # A nested object or array has no row in the specification's style table: it travels as
    # its JSON text (percent-encoded), never as Python's repr.
    text = (
        msgspec.json.encode(value).decode() if isinstance(value, Mapping | list) else _text(value)
    )
    if _PLAIN(text) is not None:  # nothing to percent-encode (the common case)
        return text
    return quote(text, safe=_SAFE_RESERVED if allow_reserved else _SAFE)


def _cookie_enc(value: object) -> str:
    text = (
        msgspec.json.encode(value).decode() if isinstance(value, Mapping | list) else _text(value)
    )
    return _COOKIE_UNSAFE.sub(_percent, text)


def _percent(match: re.Match[str]) -> str:
    return quote(match.group(), safe="")


# What cannot travel inside one cookie of a ``Cookie`` header: controls (RFC 9110 field values
# exclude them), the separators of the header and of this module's pieces (``;`` ``,`` ``&``),
# ``"`` and ``\`` (quoted-string syntax), ``%`` (so a percent-decoding reader, like the stubs,
# reads the value back unchanged) and spaces at either end (dropped as whitespace by parsers).
# Everything else, spaces inside and non-ASCII text included, goes as written: RFC 9110 field
# values carry SP and obs-text, and a percent-encoded cookie is read back by no cookie parser.
_COOKIE_UNSAFE = re.compile(r'[\x00-\x1f\x7f";,&%\\]|^ +| +$')


def serialize(
    name: str,
    value: object,
    style: Style,
    explode: bool,
    *,
    allow_reserved: bool = False,
    cookie: bool = False,
) -> str:
    """One parameter serialized by ``style`` and ``explode``, exactly as the OpenAPI 3.1
    style-examples table shows it (values percent-encoded; delimiters kept).

    Path styles return the text that replaces ``{name}``; query styles return ``k=v`` pieces
    joined by ``&``; ``simple`` is also the header form. An empty array or object is the
    "empty" column. A style the shape cannot take raises ``ValueError`` (a programming error in
    the caller: the generator never emits one). ``cookie``: a ``Cookie`` header piece, where
    only what cannot travel in a cookie is percent-encoded (see ``_COOKIE_UNSAFE``).
    """
    enc: Callable[[object], str]
    key: Callable[[object], str]
    if cookie:
        enc = key = _cookie_enc
    else:
        key = functools.partial(_enc, allow_reserved=False)
        enc = functools.partial(_enc, allow_reserved=allow_reserved)
    kind = type(value)
    if kind is str or kind is int:  # the common case: no conversion, no container
        return _primitive(key(name), enc(value), style)
    data = to_builtins(value)
    n = key(name)
    if isinstance(data, Mapping):
        # A null property is absent (an object's undefined values are omitted, like UNSET).
        pairs = [(key(k), v) for k, v in data.items() if v is not None]
        return _object(n, pairs, style, explode, enc, key)
    if isinstance(data, list | tuple):
        return _array(n, [enc(v) for v in data], style, explode)
    return _primitive(n, enc(data), style)


def _primitive(n: str, v: str, style: Style) -> str:
    if style == "matrix":
        return f";{n}={v}" if v else f";{n}"
    if style == "label":
        return f".{v}"
    if style == "simple":
        return v
    if style == "form":
        return f"{n}={v}"
    raise ValueError(f"style {style!r} does not serialize a primitive value")


def _array(n: str, items: list[str], style: Style, explode: bool) -> str:
    if style == "matrix":
        if not items:
            return f";{n}"
        return "".join(f";{n}={v}" for v in items) if explode else f";{n}=" + ",".join(items)
    if style == "label":
        return "." + ("." if explode else ",").join(items)
    if style == "simple":
        return ",".join(items)
    if style == "form":
        if explode and items:
            return "&".join(f"{n}={v}" for v in items)
        return f"{n}=" + ",".join(items)
    if style in ("spaceDelimited", "pipeDelimited") and not explode:
        return f"{n}=" + ("%20" if style == "spaceDelimited" else "|").join(items)
    if style in ("spaceDelimited", "pipeDelimited"):
        return "&".join(f"{n}={v}" for v in items)
    raise ValueError(f"style {style!r} does not serialize an array")


def _object(  # noqa: PLR0917 - internal, called positionally
    n: str,
    pairs: list[tuple[str, object]],
    style: Style,
    explode: bool,
    enc: Callable[[object], str],
    key: Callable[[object], str],
) -> str:
    if style == "deepObject":
        return "&".join(_deep(n, pairs, enc, key))
    flat = [(k, enc(v)) for k, v in pairs]
    joined = ",".join(f"{k},{v}" for k, v in flat)
    if style == "matrix":
        if not flat:
            return f";{n}"
        return "".join(f";{k}={v}" for k, v in flat) if explode else f";{n}={joined}"
    if style == "label":
        return "." + (".".join(f"{k}={v}" for k, v in flat) if explode else joined)
    if style == "simple":
        return ",".join(f"{k}={v}" for k, v in flat) if explode else joined
    if style == "form":
        if explode and flat:
            return "&".join(f"{k}={v}" for k, v in flat)
        return f"{n}={joined}"
    delimiter = "%20" if style == "spaceDelimited" else "|"
    return f"{n}=" + delimiter.join(f"{k}{delimiter}{v}" for k, v in flat)


def _deep(
    prefix: str,
    pairs: Iterable[tuple[str, object]],
    enc: Callable[[object], str],
    key: Callable[[object], str],
) -> list[str]:
    out: list[str] = []
    for k, value in pairs:
        name = f"{prefix}[{k}]"
        if value is None:
            continue
        if isinstance(value, Mapping):
            out += _deep(name, [(key(sub), v) for sub, v in value.items()], enc, key)
        elif isinstance(value, list | tuple):
            out += [f"{name}={enc(v)}" for v in value]
        else:
            out.append(f"{name}={enc(value)}")
    return out


def header_value(value: object, explode: bool) -> str:
    """A header parameter's value, ``simple`` style: like :func:`serialize` but never
    percent-encoded (header values are not URI components; a peer would see ``%20`` where the
    caller wrote a space). The transport refuses a value it cannot send (CR, LF, NUL)."""
    kind = type(value)
    if kind is str or kind is int:
        return _text(value)
    data = to_builtins(value)
    if isinstance(data, Mapping):
        pairs = [(str(k), _raw(v)) for k, v in data.items() if v is not None]
        if explode:
            return ",".join(f"{k}={v}" for k, v in pairs)
        return ",".join(f"{k},{v}" for k, v in pairs)
    if isinstance(data, list | tuple):
        return ",".join(_raw(v) for v in data)
    return _text(data)


def _raw(value: object) -> str:
    return (
        msgspec.json.encode(value).decode() if isinstance(value, Mapping | list) else _text(value)
    )


def cookie_header(pieces: Sequence[str]) -> str:
    """``Cookie`` header text from form-style pieces (``&`` between cookies becomes ``; ``)."""
    return "; ".join(p for piece in pieces for p in piece.split("&") if p)
