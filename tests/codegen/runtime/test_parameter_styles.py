"""G13: parameter serialization against the OpenAPI 3.1 style-examples table, as data.

The table is written here from the specification's rules (section "Style Examples"): the
parameter ``color`` with the primitive ``blue``, the array ``["blue", "black", "brown"]`` and
the object ``{"R": 100, "G": 200, "B": 150}``; ``None`` marks a cell the spec calls n/a.
Every cell is also parsed back by the stub-side ``deserialize`` to the value that was sent.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

import msgspec
import pytest

from flext_api.codegen_runtime import (
    Shape,
    Style,
    cookie_header,
    deserialize,
    match_path,
    parse_cookies,
    serialize,
    split_query,
)

PRIMITIVE = "blue"
ARRAY = ["blue", "black", "brown"]
OBJECT = {"R": 100, "G": 200, "B": 150}

# The table as the specification prints it: style | explode | empty | string | array | object.
SPEC_TABLE = """
matrix         | false | ;color | ;color=blue | ;color=blue,black,brown             | ;color=R,100,G,200,B,150
matrix         | true  | ;color | ;color=blue | ;color=blue;color=black;color=brown | ;R=100;G=200;B=150
label          | false | .      | .blue       | .blue,black,brown                   | .R,100,G,200,B,150
label          | true  | .      | .blue       | .blue.black.brown                   | .R=100.G=200.B=150
simple         | false | n/a    | blue        | blue,black,brown                    | R,100,G,200,B,150
simple         | true  | n/a    | blue        | blue,black,brown                    | R=100,G=200,B=150
form           | false | color= | color=blue  | color=blue,black,brown              | color=R,100,G,200,B,150
form           | true  | color= | color=blue  | color=blue&color=black&color=brown  | R=100&G=200&B=150
spaceDelimited | false | n/a    | n/a         | color=blue%20black%20brown          | color=R%20100%20G%20200%20B%20150
pipeDelimited  | false | n/a    | n/a         | color=blue|black|brown              | color=R|100|G|200|B|150
deepObject     | true  | n/a    | n/a         | n/a                                 | color[R]=100&color[G]=200&color[B]=150
"""  # noqa: E501 (a table is easier to check against the spec on one line per row)


def _rows() -> list[tuple[Style, bool, list[str | None]]]:
    rows: list[tuple[Style, bool, list[str | None]]] = []
    for line in SPEC_TABLE.strip().splitlines():
        style, explode, *cells = (c.strip() for c in line.split(" | "))
        assert style in STYLES
        rows.append((style, explode == "true", [None if c == "n/a" else c for c in cells]))  # type: ignore[arg-type]
    return rows


STYLES = ("matrix", "label", "simple", "form", "spaceDelimited", "pipeDelimited", "deepObject")
TABLE = _rows()
CELLS = [
    pytest.param(style, explode, value, shape, expected, id=f"{style}-{explode}-{shape}")
    for style, explode, cells in TABLE
    for value, shape, expected in zip(
        ([], PRIMITIVE, ARRAY, OBJECT),
        ("empty", "primitive", "array", "object"),
        cells,
        strict=True,
    )
    if expected is not None
]


@pytest.mark.parametrize(("style", "explode", "value", "shape", "expected"), CELLS)
def test_style_table_exact_strings(
    style: Style, explode: bool, value: object, shape: str, expected: str
) -> None:
    assert serialize("color", value, style, explode) == expected


def _raw(style: Style, text: str) -> str | list[tuple[str, str]]:
    if style in ("matrix", "label", "simple"):
        return text
    return split_query(text.replace("[", "%5B").replace("]", "%5D"))


@pytest.mark.parametrize(("style", "explode", "value", "shape", "expected"), CELLS)
def test_stub_parses_each_cell_back(
    style: Style, explode: bool, value: object, shape: str, expected: str
) -> None:
    if shape == "empty":
        return
    parsed = deserialize("color", _raw(style, expected), style, explode, _shape(shape))
    want: Any = value
    if isinstance(value, dict):
        want = {k: str(v) for k, v in value.items()}
    assert parsed == want
    if isinstance(value, dict):
        assert msgspec.convert(parsed, dict[str, int], strict=False) == OBJECT


def _shape(shape: str) -> Shape:
    assert shape in ("primitive", "array", "object")
    return shape  # type: ignore[return-value]


class Color(enum.Enum):
    RED = "red"


class Filter(msgspec.Struct, kw_only=True):
    since: datetime.date
    tag: Color | msgspec.UnsetType = msgspec.UNSET
    nested: dict[str, int] | msgspec.UnsetType = msgspec.UNSET


def test_values_are_percent_encoded_unless_allow_reserved() -> None:
    assert serialize("q", "a b/c,d", "form", True) == "q=a%20b%2Fc%2Cd"
    assert serialize("q", "a b/c,d", "form", True, allow_reserved=True) == "q=a%20b/c,d"
    assert serialize("q", True, "form", True) == "q=true"
    assert serialize("q", None, "form", True) == "q="
    assert serialize("q", Color.RED, "simple", False) == "red"
    assert serialize("é", "ü", "form", True) == "%C3%A9=%C3%BC"


def test_structs_enums_dates_and_nested_deep_objects() -> None:
    value = Filter(since=datetime.date(2024, 2, 29), tag=Color.RED, nested={"a": 1})
    assert serialize("f", value, "deepObject", True) == (
        "f[since]=2024-02-29&f[tag]=red&f[nested][a]=1"
    )
    assert serialize("f", Filter(since=datetime.date(2024, 1, 1)), "form", True) == (
        "since=2024-01-01"
    )
    parsed = deserialize(
        "f", split_query("f%5Bsince%5D=2024-02-29&f%5Btag%5D=red&f%5Bnested%5D%5Ba%5D=1"),
        "deepObject", True, "object",
    )  # fmt: skip
    assert msgspec.convert(parsed, Filter, strict=False) == value


def test_styles_a_shape_cannot_take_raise() -> None:
    with pytest.raises(ValueError, match="primitive"):
        serialize("c", "x", "deepObject", True)
    with pytest.raises(ValueError, match="array"):
        serialize("c", [1], "deepObject", True)
    assert serialize("c", [1, 2], "pipeDelimited", True) == "c=1&c=2"


def test_cookies_and_path_matching() -> None:
    pieces = [serialize("a", "1", "form", True), serialize("b", OBJECT, "form", True)]
    header = cookie_header(pieces)
    assert header == "a=1; R=100; G=200; B=150"
    assert parse_cookies(header + "; junk") == [
        ("a", "1"),
        ("R", "100"),
        ("G", "200"),
        ("B", "150"),
    ]
    assert match_path("/items/{id}/x{ext}", "/items/a%2Fb/x.json") == {
        "id": "a%2Fb",
        "ext": ".json",
    }
    assert match_path("/items/{id}", "/other/1") is None
    assert match_path("/items/{id}", "/items/1/more") is None


def test_absent_and_edge_values_parse() -> None:
    assert deserialize("c", None, "form", True, "primitive") is None
    assert deserialize("c", [("d", "1")], "form", True, "primitive") is None
    assert deserialize("c", [("d", "1")], "deepObject", True, "object") is None
    assert deserialize("c", [], "form", True, "object") is None
    assert deserialize("c", ";c", "matrix", False, "array") == []
    assert deserialize("c", ";d=1", "matrix", False, "primitive") == ""
    assert deserialize("c", ".", "label", False, "array") == []
    assert deserialize("c", [("c", "a+b%20c")], "spaceDelimited", False, "array") == ["a", "b", "c"]
    assert deserialize("c", [("c", "a%7Cb")], "pipeDelimited", False, "array") == ["a", "b"]
    assert deserialize("c", "a%2Cb", "simple", False, "primitive") == "a,b"
