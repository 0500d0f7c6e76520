"""Read a schema's validation keywords into :class:`ir.Constraints`, and translate ECMA-262
patterns (what JSON Schema's ``pattern`` means) into Python ``re`` patterns.

Pure functions of one schema node: the parser calls them and reports what they return as
diagnostics. Where the two regex dialects differ the translation keeps ECMA's meaning
(``\\d`` and ``\\w`` are ASCII only, ``$`` is the end of the text, ``\\u{...}`` is a code
point); a construct Python cannot express is refused with a reason, never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from . import ir

_NUMBER = (int, float)
# ECMA class escapes, as Python class bodies (used inside and outside brackets).
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_"}
_NEGATED_ESCAPES = {"D": "0-9", "W": "A-Za-z0-9_"}
_CONTROL_ESCAPES = {"f": "\\f", "n": "\\n", "r": "\\r", "t": "\\t", "v": "\\v", "0": "\\x00"}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return None
    return value


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def constraints_of(node: dict[str, Any]) -> tuple[ir.Constraints | None, str | None]:
    """The constraints of a schema node, and why its pattern was dropped (None when kept)."""
    minimum, maximum = _number(node.get("minimum")), _number(node.get("maximum"))
    low, high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    exclusive_minimum, exclusive_maximum = _number(low), _number(high)
    if low is True and minimum is not None:  # 3.0 and 2.0: a flag on ``minimum``
        exclusive_minimum, minimum = minimum, None
    if high is True and maximum is not None:
        exclusive_maximum, maximum = maximum, None
    pattern: str | None = None
    problem: str | None = None
    raw = node.get("pattern")
    if isinstance(raw, str):
        pattern, problem = translate_pattern(raw)
    found = ir.Constraints(
        minimum=minimum,
        maximum=maximum,
        exclusive_minimum=exclusive_minimum,
        exclusive_maximum=exclusive_maximum,
        min_length=_count(node.get("minLength")),
        max_length=_count(node.get("maxLength")),
        pattern=pattern,
        pattern_source=raw if pattern is not None else None,
        min_items=_count(node.get("minItems")),
        max_items=_count(node.get("maxItems")),
    )
    return (None if found == ir.Constraints() else found), problem


def translate_pattern(ecma: str) -> tuple[str | None, str | None]:
    """``(python_pattern, None)``, or ``(None, reason)`` when Python's ``re`` cannot express it.

    The result is meant for ``re.search`` (JSON Schema patterns are not anchored).
    """
    out: list[str] = []
    i, n = 0, len(ecma)
    in_class = False
    while i < n:
        char = ecma[i]
        if char == "\\":
            if i + 1 >= n:
                return None, "the pattern ends with a lone backslash"
            piece, used, reason = _escape(ecma, i + 1, in_class)
            if reason is not None:
                return None, reason
            out.append(piece)
            i += 1 + used
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "[":
                out.append("\\[")  # a literal in ECMA; a future set operation in Python
                i += 1
                continue
            out.append(char)
            i += 1
            continue
        if char == "[":
            if ecma.startswith("[^]", i):  # ECMA: any character, newlines included
                out.append("[\\s\\S]")
                i += 3
                continue
            if ecma.startswith("[]", i):  # ECMA: matches nothing
                out.append("(?!)")
                i += 2
                continue
            in_class = True
            out.append(char)
            if ecma.startswith("[^", i):
                out.append("^")
                i += 1
            i += 1
            if i < n and ecma[i] == "]":  # "[]a]" is not a class with "]" in ECMA
                return None, "an empty character class followed by ']'"
            continue
        if char == "$":
            out.append("\\Z")  # Python's "$" also matches before a final "\n"; ECMA's does not
        elif char == "(" and ecma.startswith("(?<", i) and not ecma.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")  # a named group
            i += 3
            continue
        else:
            out.append(char)
        i += 1
    if in_class:
        return None, "an unterminated character class"
    text = "".join(out)
    try:
        re.compile(text)
    except re.error as exc:
        return None, f"Python's re refuses it ({exc})"
    return text, None


def _escape(ecma: str, at: int, in_class: bool) -> tuple[str, int, str | None]:
    """The Python text for the escape starting after the backslash at ``at - 1``."""
    char = ecma[at]
    if char in _CLASS_ESCAPES:
        body = _CLASS_ESCAPES[char]
        return (body if in_class else f"[{body}]"), 1, None
    if char in _NEGATED_ESCAPES:
        if in_class:
            return "", 1, f"\\{char} inside a character class has no Python equivalent"
        return f"[^{_NEGATED_ESCAPES[char]}]", 1, None
    if char == "u":
        if ecma.startswith("{", at + 1):
            end = ecma.find("}", at + 2)
            digits = ecma[at + 2 : end] if end > 0 else ""
            if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
                return "", 1, "an invalid \\u{...} code point escape"
            return f"\\U{int(digits, 16):08X}", end - at + 1, None
        digits = ecma[at + 1 : at + 5]
        if re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
            return f"\\u{digits}", 5, None
        return "u", 1, None  # ECMA without the u flag: an identity escape
    if char == "c" and at + 1 < len(ecma) and ecma[at + 1].isascii() and ecma[at + 1].isalpha():
        return f"\\x{ord(ecma[at + 1]) % 32:02x}", 2, None
    if char in _CONTROL_ESCAPES and not (char == "0" and ecma[at + 1 : at + 2].isdigit()):
        return _CONTROL_ESCAPES[char], 1, None
    if char in "pP" and ecma.startswith("{", at + 1):
        return "", 1, f"the Unicode property escape \\{char}{{...}} has no Python equivalent"
    if char == "k" and ecma.startswith("<", at + 1):
        end = ecma.find(">", at + 2)
        if end < 0:
            return "", 1, "an unterminated \\k<name> back-reference"
        return f"(?P={ecma[at + 2 : end]})", end - at + 1, None
    if char.isdigit():  # a back-reference (\1) means the same in both dialects
        return f"\\{char}", 1, None
    if char == "b" and in_class:
        return "\\x08", 1, None
    if char in "bBsS":
        return f"\\{char}", 1, None
    if char.isalnum():  # an identity escape of a letter: the letter itself in ECMA
        return re.escape(char), 1, None
    return "\\" + char, 1, None
