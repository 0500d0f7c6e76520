"""Headers: an ordered, case-insensitive, multi-valued collection of HTTP header fields.

Fields are stored once, as bytes, in the shape the wire needs: a list of
``(name as given, lowercased name, value)`` triples. ``raw`` hands h11 and h2 their
``[(name, value), ...]`` without conversion, and lookups compare the lowercased name.

Every name and value is validated when it goes in, because a header is where request smuggling
starts: a name must be an RFC 9110 token, and a value must not hold CR, LF, NUL or another
control character other than TAB (leading and trailing spaces and TABs are stripped, as
RFC 9110 section 5.5 says a recipient does anyway). Text is encoded as latin-1 when it can be
(the historical charset of HTTP fields, byte for byte) and as UTF-8 otherwise; it is decoded as
latin-1 when read back as ``str``, so a UTF-8 value reads back as mojibake unless you decode
``raw`` yourself.

This module must never let an invalid field in through the public API, and never print a
credential: ``repr`` shows ``[secure]`` for the values of authorization-like fields.
``Headers._from_raw`` is the one door without validation; it is for fields that h11/h2 have
already parsed or that were taken from another ``Headers``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, TypeAlias

from flext_api._exceptions import InvalidHeader

__all__ = ["HeaderTypes", "Headers"]

# RFC 9110 section 5.6.2: token = 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN_BYTES = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Controls other than HTAB, and DEL: CR/LF would end the field early (header injection), NUL
# truncates it in C parsers, and h11 refuses the rest; refusing here names the header instead.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_VALUE_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_OWS = " \t"
_OWS_BYTES = b" \t"

_SENSITIVE: Final[frozenset[bytes]] = frozenset(
    {b"authorization", b"proxy-authorization", b"cookie", b"set-cookie", b"x-api-key"}
)

# Validated names, keyed by what the caller passed. The same few dozen names are used on every
# request, and a dict hit is several times cheaper than the token match, lower() and encode().
# Bounded so that an application generating names cannot grow it without limit.
_NAME_CACHE: dict[str | bytes, tuple[bytes, bytes]] = {}
_NAME_CACHE_LIMIT: Final = 512


def _name_key(name: str) -> bytes:
    """The lowercased bytes a lookup compares; a name that cannot exist never matches."""
    # "replace": a non-latin-1 name becomes "?", which is not a token character, so it
    # matches nothing instead of raising.
    return name.lower().encode("latin-1", "replace")


def _encode_name(name: str | bytes) -> tuple[bytes, bytes]:
    cached = _NAME_CACHE.get(name)
    if cached is not None:
        return cached
    if isinstance(name, str):
        if _TOKEN.fullmatch(name) is None:
            raise InvalidHeader(_name_problem(name))
        raw = name.encode("ascii")
    elif isinstance(name, bytes):
        if _TOKEN_BYTES.fullmatch(name) is None:
            raise InvalidHeader(_name_problem(name.decode("latin-1")))
        raw = name
    else:
        raise TypeError(f"a header name must be str or bytes, not {type(name).__name__}")
    pair = (raw, raw.lower())
    if len(_NAME_CACHE) < _NAME_CACHE_LIMIT:
        _NAME_CACHE[name] = pair
    return pair


def _name_problem(name: str) -> str:
    if not name:
        return "a header name is empty; give every header a name such as 'X-Request-Id'"
    bad = next(char for char in name if _TOKEN.fullmatch(char) is None)
    return (
        f"header name {name!r} contains {_describe(bad)}; a header name may contain only "
        "letters, digits and !#$%&'*+-.^_`|~ (no spaces, colons or line breaks)"
    )


def _describe(char: str) -> str:
    named = {
        "\r": "a CR character",
        "\n": "an LF character",
        "\x00": "a NUL character",
        " ": "a space",
        "\t": "a TAB character",
        ":": "a colon",
    }
    return named.get(char, f"the character {char!r}")


def _encode_value(name: bytes, value: str | bytes) -> bytes:
    if isinstance(value, str):
        value = value.strip(_OWS)
        bad = _BAD_VALUE.search(value)
        if bad is not None:
            raise InvalidHeader(_value_problem(name, bad.group()))
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode("utf-8")
    if isinstance(value, bytes):
        value = value.strip(_OWS_BYTES)
        bad_bytes = _BAD_VALUE_BYTES.search(value)
        if bad_bytes is not None:
            raise InvalidHeader(_value_problem(name, bad_bytes.group().decode("latin-1")))
        return value
    raise TypeError(
        f"the value of header {name.decode('ascii')!r} must be str or bytes, "
        f"not {type(value).__name__}; convert it with str() first"
    )


def _value_problem(name: bytes, char: str) -> str:
    if char in "\r\n":
        what = "a CR or LF character"
        fix = "remove line breaks from header values"
    else:
        what = _describe(char) if char == "\x00" else f"the control character {char!r}"
        fix = "remove control characters from header values"
    return f"header value for {name.decode('ascii')!r} contains {what}; {fix}"


def _decode(value: bytes) -> str:
    return value.decode("latin-1")


class Headers:
    """Ordered, case-insensitive, multi-valued HTTP headers; validated on every insertion.

    ``headers["content-type"]`` and ``headers["Content-Type"]`` are the same field. A name can
    hold several values (``add``); reading it as one ``str`` joins them with ``", "``, and
    ``get_list`` returns them apart. Iteration yields each lowercased name once.

    ``==`` compares the fields, ignoring the case of names and the relative order of different
    names, but not the order of the values of one name. Headers are mutable, so not hashable.
    """

    __slots__ = ("_list",)

    _list: list[tuple[bytes, bytes, bytes]]

    def __init__(self, headers: HeaderTypes | None = None) -> None:
        if headers is None:
            self._list = []
        elif isinstance(headers, Headers):
            self._list = list(headers._list)
        else:
            self._list = _validate(headers)

    @classmethod
    def _from_raw(cls, pairs: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from ``(name, value)`` byte pairs that are already valid: no validation.

        For fields h11/h2 parsed (``event.headers.raw_items()``) or that come from another
        ``Headers``' ``raw``. Names may be in any case; they keep it in ``raw``.
        """
        headers = cls.__new__(cls)
        headers._list = [(name, name.lower(), value) for name, value in pairs]
        return headers

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """Every field as ``(name, value)`` bytes, names in the case given, ready for h11/h2."""
        return [(raw_name, value) for raw_name, _, value in self._list]

    # -- reading ---------------------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of ``name`` (several values joined with ``", "``), or ``default``."""
        key = _name_key(name)
        values = [value for _, lower, value in self._list if lower == key]
        if not values:
            return default
        return _decode(b", ".join(values))

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order; ``[]`` when absent."""
        key = _name_key(name)
        return [_decode(value) for _, lower, value in self._list if lower == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _name_key(name)
        return any(lower == key for _, lower, _ in self._list)

    def keys(self) -> list[str]:
        """Each lowercased name once, in order of first appearance."""
        return list(self)

    def items(self) -> list[tuple[str, str]]:
        """``(lowercased name, value)`` per name; several values joined with ``", "``."""
        merged: dict[bytes, list[bytes]] = {}
        for _, lower, value in self._list:
            merged.setdefault(lower, []).append(value)
        return [(_decode(lower), _decode(b", ".join(values))) for lower, values in merged.items()]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(lowercased name, value)`` field, repeats included, in order."""
        return [(_decode(lower), _decode(value)) for _, lower, value in self._list]

    def __iter__(self) -> Iterator[str]:
        return iter([_decode(lower) for lower in dict.fromkeys(t[1] for t in self._list)])

    def __len__(self) -> int:
        """The number of distinct names (not of fields; see ``multi_items``)."""
        return len({lower for _, lower, _ in self._list})

    # -- writing ---------------------------------------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        """Set ``name`` to one value: it replaces every value, at the first one's position."""
        raw_name, lower = _encode_name(name)
        field = (raw_name, lower, _encode_value(raw_name, value))
        for index, (_, existing, _) in enumerate(self._list):
            if existing == lower:
                self._list[index] = field
                self._list[index + 1 :] = [t for t in self._list[index + 1 :] if t[1] != lower]
                return
        self._list.append(field)

    def __delitem__(self, name: str) -> None:
        """Remove every value of ``name``; ``KeyError`` if there is none."""
        key = _name_key(name)
        kept = [field for field in self._list if field[1] != key]
        if len(kept) == len(self._list):
            raise KeyError(name)
        self._list = kept

    def add(self, name: str, value: str) -> None:
        """Append a value to ``name``, keeping those it already has."""
        raw_name, lower = _encode_name(name)
        self._list.append((raw_name, lower, _encode_value(raw_name, value)))

    def setdefault(self, name: str, value: str) -> str:
        """The value of ``name``; if there is none, set it to ``value`` first."""
        raw_name, lower = _encode_name(name)
        values = [field[2] for field in self._list if field[1] == lower]
        if values:
            return _decode(b", ".join(values))
        encoded = _encode_value(raw_name, value)
        self._list.append((raw_name, lower, encoded))
        return _decode(encoded)

    def update(self, headers: HeaderTypes) -> None:
        """Replace, name by name, with the fields of ``headers``.

        Each name in ``headers`` replaces all of its values here (at the position of the first
        one; new names go at the end); every value ``headers`` has for it is kept. Names not in
        ``headers`` are untouched.
        """
        incoming = list(headers._list) if isinstance(headers, Headers) else _validate(headers)
        by_name: dict[bytes, list[tuple[bytes, bytes, bytes]]] = {}
        for field in incoming:
            by_name.setdefault(field[1], []).append(field)
        result: list[tuple[bytes, bytes, bytes]] = []
        for field in self._list:
            replacement = by_name.get(field[1])
            if replacement is None:
                result.append(field)
            elif replacement:
                result.extend(replacement)
                replacement.clear()  # emitted: later fields of this name are dropped
        for remaining in by_name.values():
            result.extend(remaining)
        self._list = result

    def copy(self) -> Headers:
        return Headers._from_fields(list(self._list))

    @classmethod
    def _from_fields(cls, fields: list[tuple[bytes, bytes, bytes]]) -> Headers:
        headers = cls.__new__(cls)
        headers._list = fields
        return headers

    # -- comparison and display ----------------------------------------------------------

    def _grouped(self) -> dict[bytes, list[bytes]]:
        grouped: dict[bytes, list[bytes]] = {}
        for _, lower, value in self._list:
            grouped.setdefault(lower, []).append(value)
        return grouped

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            if not isinstance(other, Mapping | list | tuple):
                return NotImplemented
            try:
                other = Headers(other)
            except (InvalidHeader, TypeError, ValueError):
                return False
        return self._grouped() == other._grouped()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        shown = [
            (
                _decode(raw_name),
                "[secure]" if lower in _SENSITIVE else _decode(value),
            )
            for raw_name, lower, value in self._list
        ]
        return f"Headers({shown!r})"


def _validate(headers: object) -> list[tuple[bytes, bytes, bytes]]:
    """Fields from any accepted input shape, every name and value checked."""
    items: Iterable[object]
    if isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, list | tuple):
        items = headers
    else:
        raise TypeError(
            "headers must be a Headers, a mapping or a list of (name, value) pairs, "
            f"not {type(headers).__name__}"
        )
    fields: list[tuple[bytes, bytes, bytes]] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"each header must be a (name, value) pair, not {item!r}")
        name, value = item
        raw_name, lower = _encode_name(name)
        fields.append((raw_name, lower, _encode_value(raw_name, value)))
    return fields


HeaderTypes: TypeAlias = (
    Headers
    | Mapping[str, str]
    | Mapping[bytes, bytes]
    | Sequence[tuple[str, str]]
    | Sequence[tuple[bytes, bytes]]
)
