"""Validation keywords into IR constraints, and ECMA-262 patterns into Python ``re`` (pure)."""

from __future__ import annotations

import re

import pytest

from codegen.openapi import ir
from codegen.openapi.constraints import constraints_of, translate_pattern


@pytest.mark.parametrize(
    ("ecma", "accepted", "refused"),
    [
        (r"^\d{3}$", ["123"], ["\u0661\u0662\u0663", "123\n", "12"]),
        (r"^\w+$", ["a_Z9"], ["caf\u00e9", "a-b"]),
        (r"^\D\W$", ["a-"], ["1-", "a_"]),
        (r"^[\d.]+$", ["1.5"], ["\u0661"]),
        (r"^\u00e9\u{1F600}$", ["\u00e9\U0001f600"], ["e"]),
        (r"^(?<y>\d)\k<y>$", ["11"], ["12"]),
        (r"^[^]$", ["\n"], ["", "ab"]),
        (r"^a[]", [], ["a", "a]"]),
        (r"^\cJ$", ["\n"], ["J"]),
        (r"^[\b]$", ["\x08"], ["b"]),
        (r"^\t\/$", ["\t/"], ["t/"]),
    ],
)
def test_translation_keeps_ecma_meaning(ecma: str, accepted: list[str], refused: list[str]) -> None:
    python, problem = translate_pattern(ecma)
    assert problem is None and python is not None
    for text in accepted:
        assert re.search(python, text), (ecma, python, text)
    for text in refused:
        assert not re.search(python, text), (ecma, python, text)


@pytest.mark.parametrize(
    ("ecma", "reason"),
    [
        (r"\p{L}+", "Unicode property escape"),
        (r"[\D]", "inside a character class"),
        ("[abc", "unterminated character class"),
        ("abc\\", "lone backslash"),
        (r"(?<=a+)b", "Python's re refuses it"),
    ],
)
def test_untranslatable_patterns_say_why(ecma: str, reason: str) -> None:
    python, problem = translate_pattern(ecma)
    assert python is None and problem is not None and reason in problem


def test_3_0_boolean_and_3_1_numeric_exclusive_bounds_mean_the_same() -> None:
    old = constraints_of({"minimum": 0, "exclusiveMinimum": True, "maximum": 9})[0]
    new = constraints_of({"exclusiveMinimum": 0, "maximum": 9})[0]
    assert old == new == ir.Constraints(exclusive_minimum=0, maximum=9)
    flag_off = constraints_of({"minimum": 0, "exclusiveMinimum": False})[0]
    assert flag_off == ir.Constraints(minimum=0)


def test_no_constraints_and_invalid_keywords_give_none() -> None:
    assert constraints_of({"type": "string"}) == (None, None)
    assert constraints_of({"minLength": -1, "maxItems": True, "minimum": "3"}) == (None, None)
    limits, problem = constraints_of({"pattern": r"\p{Lu}", "maxLength": 3})
    assert limits == ir.Constraints(max_length=3) and problem is not None
