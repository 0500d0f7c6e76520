"""Input checks that generated server stubs run before a handler sees a request.

Public and versioned like :mod:`flext_api.codegen_runtime` (generated ``stubs.py`` modules
import it). The generated models stay tolerant, because clients decode them and must survive a
newer server; a stub must instead refuse what its schema refuses. So the generator emits a
table of *checks* per schema (enum values, ``additionalProperties: false``, bounds, lengths,
patterns, item counts) and :func:`check` walks a decoded value (builtins: dict, list, str,
numbers) against it, collecting every problem with the location of the bad field. It also
holds the pre-decoding guards: JSON nesting depth, percent-encoding, repeated scalars.

Pure functions: no I/O, never raises for any input (a problem is a returned value).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, TypeAlias
from urllib.parse import unquote

import msgspec

__all__ = [
    "Check",
    "HandlerContext",
    "Problem",
    "check",
    "decode_percent",
    "documented_error_body",
    "json_depth",
    "nesting",
    "problem",
    "text_nulls",
]

Check: TypeAlias = Mapping[str, Any]
"""One node of a generated check table. Keys (all optional): ``ref`` (name of a table entry),
``enum`` (allowed values), ``props`` (wire name -> node), ``closed`` (the only allowed property
names), ``items`` / ``values`` (node of array items / map values), ``any_of`` (nodes; one must
pass), ``minimum``, ``maximum``, ``exclusive_minimum``, ``exclusive_maximum``, ``min_length``,
``max_length``, ``pattern`` (Python ``re``, searched; ``pattern_source`` is the document's
ECMA-262 text, quoted in messages), ``min_items``, ``max_items``.
A check only applies to values of the kind it is about (a bound to numbers, a length to
strings): the value's type itself is msgspec's job, which runs next to it."""

Problem: TypeAlias = dict[str, Any]
"""``{"loc": [where, name, ...path], "msg": text}``, the shape FastAPI's own 422s use."""

_PATTERNS: dict[str, re.Pattern[str]] = {}
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Every byte but the four brackets, for bytes.translate(None, delete=...).
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = [0] * 256
for _open in b"[{":
    _BRACKET_STEP[_open] = 1
for _close in b"]}":
    _BRACKET_STEP[_close] = -1


def problem(loc: Sequence[str | int], message: str) -> Problem:
    """One problem entry (``loc`` names the parameter or field, outermost first)."""
    return {"loc": list(loc), "msg": message}


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, strings skipped, without
    decoding it (so a hostile document nested a million levels deep costs one linear scan,
    not a recursion error). Unbalanced text gives a meaningless number; the decoder refuses
    it next."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, delete=_NOT_BRACKETS)
    if not brackets:
        return 0
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)))


def nesting(value: object) -> int:
    """How deeply lists and dicts nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in item)
    return deepest


def decode_percent(text: str) -> tuple[str, str | None]:
    """``text`` percent-decoded strictly: ``(decoded, None)``, or ``("", reason)`` for a ``%``
    not followed by two hex digits or escapes that do not decode as UTF-8 (the lenient
    ``urllib.parse.unquote`` would silently keep or replace them)."""
    if "%" not in text:
        return text, None
    if _BAD_PERCENT.search(text) is not None:
        return "", "invalid percent-encoding (a '%' not followed by two hex digits)"
    try:
        return unquote(text, errors="strict"), None
    except UnicodeDecodeError:
        return "", "percent-encoded bytes are not valid UTF-8"


def check(
    value: object,
    node: Check | None,
    table: Mapping[str, Check],
    loc: Sequence[str | int],
    problems: list[Problem],
) -> None:
    """Append to ``problems`` what ``node`` refuses in ``value`` (builtins), at ``loc``.

    Recursion follows the value, whose depth the stub bounds before decoding.
    """
    while node is not None and "ref" in node:
        node = table.get(node["ref"])
    if node is None or value is None:
        return
    if "enum" in node and _hashable(value) and value not in node["enum"]:
        allowed = ", ".join(repr(v) for v in node["enum"])
        problems.append(problem(loc, f"{value!r} is not one of the allowed values ({allowed})"))
        return
    if "any_of" in node:
        _check_any_of(value, node["any_of"], table, loc, problems)
        return
    if isinstance(value, dict):
        _check_object(value, node, table, loc, problems)
    elif isinstance(value, list):
        _check_array(value, node, table, loc, problems)
    elif isinstance(value, str):
        _check_string(value, node, loc, problems)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, node, loc, problems)


def _hashable(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _check_any_of(
    value: object,
    variants: Iterable[Check],
    table: Mapping[str, Check],
    loc: Sequence[str | int],
    problems: list[Problem],
) -> None:
    best: list[Problem] | None = None
    for variant in variants:
        found: list[Problem] = []
        check(value, variant, table, loc, found)
        if not found:
            return
        if best is None or len(found) < len(best):
            best = found
    problems.extend(best or ())


def _check_object(
    value: dict[str, Any],
    node: Check,
    table: Mapping[str, Check],
    loc: Sequence[str | int],
    problems: list[Problem],
) -> None:
    closed = node.get("closed")
    if closed is not None:
        problems.extend(
            problem([*loc, key], "unknown property (the schema allows no others)")
            for key in value
            if key not in closed
        )
    props: Mapping[str, Check] = node.get("props", {})
    if props:
        for key, item in value.items():
            child = props.get(key)
            if child is not None:
                check(item, child, table, [*loc, key], problems)
    values = node.get("values")
    if values is not None:
        for key, item in value.items():
            check(item, values, table, [*loc, key], problems)


def _check_array(
    value: list[Any],
    node: Check,
    table: Mapping[str, Check],
    loc: Sequence[str | int],
    problems: list[Problem],
) -> None:
    low, high = node.get("min_items"), node.get("max_items")
    if low is not None and len(value) < low:
        problems.append(problem(loc, f"has {len(value)} items, fewer than the minimum of {low}"))
    if high is not None and len(value) > high:
        problems.append(problem(loc, f"has {len(value)} items, more than the maximum of {high}"))
    items = node.get("items")
    if items is not None:
        for index, item in enumerate(value):
            check(item, items, table, [*loc, index], problems)


def _check_string(
    value: str, node: Check, loc: Sequence[str | int], problems: list[Problem]
) -> None:
    low, high = node.get("min_length"), node.get("max_length")
    if low is not None and len(value) < low:
        problems.append(problem(loc, f"is {len(value)} characters, shorter than {low}"))
    if high is not None and len(value) > high:
        problems.append(problem(loc, f"is {len(value)} characters, longer than {high}"))
    pattern = node.get("pattern")
    if pattern is not None:
        compiled = _PATTERNS.get(pattern)
        if compiled is None:
            compiled = _PATTERNS[pattern] = re.compile(pattern)
        if compiled.search(value) is None:
            shown = node.get("pattern_source", pattern)
            problems.append(problem(loc, f"does not match the pattern {shown!r}"))


def _check_number(
    value: float, node: Check, loc: Sequence[str | int], problems: list[Problem]
) -> None:
    low, high = node.get("minimum"), node.get("maximum")
    above, below = node.get("exclusive_minimum"), node.get("exclusive_maximum")
    for bound, refused, words in (
        (low, low is not None and value < low, "less than the minimum"),
        (high, high is not None and value > high, "greater than the maximum"),
        (above, above is not None and value <= above, "not greater than the exclusive minimum"),
        (below, below is not None and value >= below, "not less than the exclusive maximum"),
    ):
        if refused:
            problems.append(problem(loc, f"{value!r} is {words} {bound!r}"))


def text_nulls(fields: dict[str, Any], type_: Any) -> dict[str, Any]:
    """Form and multipart fields (text) with an empty text made ``None`` where the schema
    allows null and the property is not a string (a nullable integer, boolean...): an empty
    form field means "no value". Everything else is left to ``msgspec.convert(strict=False)``,
    which parses booleans, numbers and ``null`` from text."""
    try:
        info = msgspec.inspect.type_info(type_)
    except (TypeError, ValueError):
        return fields
    while isinstance(info, msgspec.inspect.UnionType):
        structs = [t for t in info.types if isinstance(t, msgspec.inspect.StructType)]
        if len(structs) != 1:
            return fields
        info = structs[0]
    if not isinstance(info, msgspec.inspect.StructType):
        return fields
    out = dict(fields)
    for field in info.fields:
        value = out.get(field.encode_name)
        kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else ()
        if not any(isinstance(k, msgspec.inspect.NoneType) for k in kinds):
            continue
        if any(isinstance(k, msgspec.inspect.StrType) for k in kinds):
            continue  # a nullable string keeps its text ("" and "null" are strings too)
        if value == "":
            out[field.encode_name] = None
    return out


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a generated stub gives a handler method that declares a ``context`` keyword, beside
    its parsed parameters: the names of the security schemes the request presented (of those
    the operation lists), the request id (the ``X-Request-ID`` it came with or was given) and
    the raw FastAPI ``Request`` (for anything else: client address, raw headers)."""

    credentials: tuple[str, ...]
    request_id: str | None
    request: Any


def documented_error_body(
    type_: Any,
    message: str,
    problems: list[Problem],
    *,
    status: int = 422,
    code: str = "VALIDATION_ERROR",
) -> object | None:
    """A body of the document's own error schema ``type_`` describing ``problems``, or None
    when the schema has required fields this cannot fill (the caller then answers with the
    server's standard error shape).

    Fields are filled by what they look like: a string named like a code gets ``code``
    (``VALIDATION_ERROR`` for a 422, ``UNAUTHORIZED``, ``NOT_FOUND``...), other strings the
    message; an integer gets ``status``; an enum the member equal to the status or code, or
    naming the refusal (``invalid``, ``not_found``...), else its first; a nested object is
    filled the same way; a list the problems (or their messages, for a list of strings) when
    they fit its items, else it stays empty or absent. Optional fields are only added when the
    body still converts with them (a closed schema gets nothing it does not declare). The
    stubs use it for every refusal (401, 404, 405, 415, 422) of an operation that documents
    a JSON error schema for that status (or its range, or ``default``). The result is checked
    by converting it into ``type_``, so the client decodes exactly its documented error class.
    """
    try:
        info = msgspec.inspect.type_info(type_)
    except (TypeError, ValueError):
        return None
    while isinstance(info, msgspec.inspect.UnionType):
        structs = [t for t in info.types if isinstance(t, msgspec.inspect.StructType)]
        if not structs:
            return None
        info = structs[0]
    if not isinstance(info, msgspec.inspect.StructType):
        return None
    data = _fill_struct(info, _Fill(message, problems, status, code), 0)
    try:
        return msgspec.convert(data, info.cls, strict=False)
    except msgspec.ValidationError:
        return None


@dataclass(frozen=True)
class _Fill:
    message: str
    problems: list[Problem]
    status: int
    code: str


# A word an enum value of an error code carries for each refusal, when none equals ``code``
# (lob's ``code`` enum has ``invalid`` and ``not_found``, not ``VALIDATION_ERROR``).
_STATUS_WORDS = {401: "unauthori", 403: "forbidden", 404: "not_found", 405: "method"}
_STATUS_WORDS |= {413: "large", 415: "media", 422: "invalid"}


def _fill_struct(info: msgspec.inspect.StructType, ctx: _Fill, depth: int) -> dict[str, Any]:
    """The fields of one error object. Required fields take their first candidate (then the
    others, until the object converts); an optional field is kept only when the object still
    converts with it, so a list of problems never breaks a list of the document's own items
    (adyen's ``invalidFields``) and ``additionalProperties: false`` schemas get nothing extra."""

    def converts(data: dict[str, Any]) -> bool:
        try:
            msgspec.convert(data, info.cls, strict=False)
        except msgspec.ValidationError:
            return False
        return True

    options = {f.encode_name: _candidates(f.encode_name, f.type, ctx, depth) for f in info.fields}
    required = [f.encode_name for f in info.fields if f.required]
    data = {name: options[name][0] for name in required if options[name]}
    for name in required:
        for other in options[name][1:]:
            if converts(data):
                break
            data[name] = other
    for f in info.fields:
        if not f.required:
            for value in options[f.encode_name]:
                if converts({**data, f.encode_name: value}):
                    data[f.encode_name] = value
                    break
    return data


def _candidates(name: str, info: msgspec.inspect.Type, ctx: _Fill, depth: int) -> list[Any]:
    """The values tried for one field, best first (empty: nothing sensible to put there)."""
    while isinstance(info, msgspec.inspect.UnionType):
        kept = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if not kept:
            return []
        info = kept[0]
    lowered = name.lower()
    if isinstance(info, msgspec.inspect.StrType | msgspec.inspect.AnyType):
        return [ctx.code if "code" in lowered or "type" in lowered else ctx.message]
    if isinstance(info, msgspec.inspect.EnumType | msgspec.inspect.LiteralType):
        values = (
            [m.value for m in info.cls]
            if isinstance(info, msgspec.inspect.EnumType)
            else list(info.values)
        )
        return _ranked(values, ctx)
    if isinstance(info, msgspec.inspect.IntType):
        return [ctx.status]
    if isinstance(info, msgspec.inspect.ListType):
        if isinstance(info.item_type, msgspec.inspect.StrType):
            messages = [f"{'.'.join(str(p) for p in i['loc'])}: {i['msg']}" for i in ctx.problems]
            return [messages, []]
        return [ctx.problems, []]
    if isinstance(info, msgspec.inspect.BoolType):
        return [False]
    if isinstance(info, msgspec.inspect.StructType) and depth < 4:
        return [_fill_struct(info, ctx, depth + 1)]
    if isinstance(info, msgspec.inspect.DictType):
        return [{}]
    return []


def _ranked(values: list[Any], ctx: _Fill) -> list[Any]:
    """Enum values for an error field: the status itself, the code, a value naming the
    refusal (``invalid`` for a 422), then the rest in document order."""
    word = _STATUS_WORDS.get(ctx.status, "\x00")

    def rank(value: Any) -> int:
        if value == ctx.status or (isinstance(value, str) and value.lower() == ctx.code.lower()):
            return 0
        if isinstance(value, str) and word in value.lower():
            return 1
        return 2

    return sorted(values, key=rank)
