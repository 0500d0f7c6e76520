"""The pure checks generated stubs call (flext_api.codegen_validation), without a server."""

from __future__ import annotations

import msgspec

from flext_api.codegen_validation import (
    check,
    decode_percent,
    documented_error_body,
    json_depth,
    nesting,
)


def test_json_depth_counts_brackets_outside_strings() -> None:
    assert json_depth(b"1") == 0
    assert json_depth(b'{"a": [1, {"b": []}]}') == 4
    assert json_depth(b'["[[[[", "\\"[[", {}]') == 2
    assert json_depth(b"[" * 1_000_000 + b"]" * 1_000_000) == 1_000_000


def test_nesting_is_iterative() -> None:
    value: object = 1
    for _ in range(50_000):
        value = {"a": [value]}
    assert nesting(value) == 100_000
    assert nesting({"a": 1, "b": [1, [2]]}) == 3


def test_decode_percent_is_strict() -> None:
    assert decode_percent("caf%C3%A9") == ("café", None)
    assert decode_percent("plain") == ("plain", None)
    assert (
        decode_percent("100%")[1]
        == "invalid percent-encoding (a '%' not followed by two hex digits)"
    )
    assert decode_percent("%e9")[1] == "percent-encoded bytes are not valid UTF-8"


def test_any_of_passes_when_one_variant_does() -> None:
    node = {"any_of": ({"max_length": 2}, {"pattern": "^x+$"})}
    problems: list[dict[str, object]] = []
    check("xxxx", node, {}, ["body"], problems)
    assert problems == []
    check("abcd", node, {}, ["body"], problems)
    assert problems == [{"loc": ["body"], "msg": "is 4 characters, longer than 2"}]


def test_checks_skip_values_of_another_kind() -> None:
    """The type is msgspec's job: a bound never refuses a string, a length never a number."""
    problems: list[dict[str, object]] = []
    check("7", {"maximum": 1}, {}, ["q"], problems)
    check(7, {"max_length": 0, "pattern": "^x$"}, {}, ["q"], problems)
    check(True, {"maximum": 0}, {}, ["q"], problems)
    check(None, {"enum": frozenset({"a"})}, {}, ["q"], problems)
    assert problems == []


class Problem(msgspec.Struct):
    code: int
    detail: str
    errors: list[str]


class Unfillable(msgspec.Struct):
    when: float
    nested: Problem


def test_documented_error_body_fills_by_field_shape_or_gives_up() -> None:
    problems = [{"loc": ["body", "a"], "msg": "bad"}]
    body = documented_error_body(Problem, "invalid request: body.a", problems)
    assert body == Problem(code=422, detail="invalid request: body.a", errors=["body.a: bad"])
    assert documented_error_body(Unfillable, "m", problems) is None
    assert documented_error_body(int, "m", problems) is None
