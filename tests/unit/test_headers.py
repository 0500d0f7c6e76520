"""Headers: validation on every way in, case-insensitive multi-valued access, redaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flext_api._exceptions import InvalidHeader
from flext_api._headers import Headers, HeaderTypes

# -- construction from every accepted shape ------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        {"Content-Type": "text/plain", "X-Id": "7"},
        {b"Content-Type": b"text/plain", b"X-Id": b"7"},
        [("Content-Type", "text/plain"), ("X-Id", "7")],
        [(b"Content-Type", b"text/plain"), (b"X-Id", b"7")],
        (("Content-Type", "text/plain"), ("X-Id", "7")),
        Headers({"Content-Type": "text/plain", "X-Id": "7"}),
    ],
)
def test_every_input_shape_gives_the_same_raw_fields(source: HeaderTypes) -> None:
    assert Headers(source).raw == [(b"Content-Type", b"text/plain"), (b"X-Id", b"7")]


def test_empty_headers() -> None:
    headers = Headers()
    assert headers.raw == []
    assert len(headers) == 0
    assert list(headers) == []
    assert Headers(None) == Headers({})


def test_constructing_from_headers_copies() -> None:
    original = Headers({"a": "1"})
    copy = Headers(original)
    copy["a"] = "2"
    assert original["a"] == "1"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (42, "not int"),
        ("a: b", "not str"),
        ([("a", "b", "c")], "must be a (name, value) pair"),
        (["ab"], "must be a (name, value) pair"),
        ({1: "x"}, "must be str or bytes, not int"),
        ({"a": 1}, "must be str or bytes, not int; convert it with str() first"),
    ],
)
def test_wrong_types_are_programming_errors(source: Any, message: str) -> None:
    with pytest.raises(TypeError) as caught:
        Headers(source)
    assert message in str(caught.value)


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a header name is empty"),
        (b"", "a header name is empty"),
        ("X Foo", "contains a space"),
        ("X:Foo", "contains a colon"),
        ("X-Foo\r\n", "contains a CR character"),
        ("X-Foo\nBar", "contains an LF character"),
        (b"X-\x00", "contains a NUL character"),
        ("X\tFoo", "contains a TAB character"),
        ("Ünicode", "contains the character 'Ü'"),
        (b"X-\xff", "contains the character '\xff'"),
        ("X(Foo)", "contains the character '('"),
        ("X@Foo", "contains the character '@'"),
    ],
)
def test_invalid_names_are_refused(name: str | bytes, message: str) -> None:
    for insert in _INSERTIONS:
        with pytest.raises(InvalidHeader) as caught:
            insert(Headers(), name, "value")
        assert message in str(caught.value)
        assert "letters, digits" in str(caught.value) or "empty" in str(caught.value)
        assert caught.value.code == "HEADER_INVALID"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\r\nSet-Cookie: x=1", "header value for 'X-Foo' contains a CR or LF character"),
        ("a\rb", "contains a CR or LF character; remove line breaks from header values"),
        ("a\nb", "contains a CR or LF character"),
        (b"a\r\nb", "contains a CR or LF character"),
        ("a\x00b", "contains a NUL character; remove control characters"),
        (b"a\x00b", "contains a NUL character"),
        ("a\x01b", "contains the control character '\\x01'"),
        ("a\x7fb", "contains the control character '\\x7f'"),
        ("a\x1b[31m", "contains the control character '\\x1b'"),
    ],
)
def test_invalid_values_are_refused(value: str | bytes, message: str) -> None:
    for insert in _INSERTIONS:
        with pytest.raises(InvalidHeader) as caught:
            insert(Headers(), "X-Foo", value)
        assert message in str(caught.value)


def _construct(headers: Headers, name: Any, value: Any) -> None:
    Headers([(name, value)])


def _set(headers: Headers, name: Any, value: Any) -> None:
    headers[name] = value


def _add(headers: Headers, name: Any, value: Any) -> None:
    headers.add(name, value)


def _update(headers: Headers, name: Any, value: Any) -> None:
    headers.update([(name, value)])


def _setdefault(headers: Headers, name: Any, value: Any) -> None:
    headers.setdefault(name, value)


_INSERTIONS: list[Callable[[Headers, Any, Any], None]] = [
    _construct,
    _set,
    _add,
    _update,
    _setdefault,
]


@pytest.mark.parametrize(
    ("value", "stored", "read"),
    [
        ("  padded\t ", b"padded", "padded"),
        (b" padded ", b"padded", "padded"),
        ("a\tb", b"a\tb", "a\tb"),
        ("", b"", ""),
        ("café", b"caf\xe9", "café"),  # latin-1 when possible
        ("naïve €", "naïve €".encode(), "naïve €".encode().decode("latin-1")),  # else UTF-8
        (b"\xe2\x82\xac", b"\xe2\x82\xac", "â\x82¬"),  # bytes kept; str reads are latin-1
    ],
)
def test_value_encoding(value: Any, stored: bytes, read: str) -> None:
    headers = Headers([("X-Value", value)])
    assert headers.raw == [(b"X-Value", stored)]
    assert headers["x-value"] == read


@pytest.mark.parametrize("name", ["!#$%&'*+-.^_`|~", "X-1", "a", "CONTENT-TYPE"])
def test_every_token_character_is_a_valid_name(name: str) -> None:
    assert Headers({name: "v"}).raw == [(name.encode(), b"v")]


# -- reading -------------------------------------------------------------------------------


def _sample() -> Headers:
    return Headers(
        [
            ("Accept", "text/html"),
            ("X-Trace", "1"),
            ("accept", "application/json"),
            ("Set-Cookie", "a=1"),
            ("SET-COOKIE", "b=2"),
        ]
    )


@pytest.mark.parametrize("name", ["accept", "Accept", "ACCEPT", "aCcEpT"])
def test_lookups_ignore_case(name: str) -> None:
    headers = _sample()
    assert headers[name] == "text/html, application/json"
    assert headers.get(name) == "text/html, application/json"
    assert headers.get_list(name) == ["text/html", "application/json"]
    assert name in headers


def test_missing_names() -> None:
    headers = _sample()
    assert headers.get("missing") is None
    assert headers.get("missing", "fallback") == "fallback"
    assert headers.get_list("missing") == []
    assert "missing" not in headers
    assert "Ünicode" not in headers
    assert headers.get("€uro") is None
    assert b"accept" not in headers  # lookups take str
    with pytest.raises(KeyError, match="missing"):
        headers["missing"]


def test_iteration_keys_items_and_len_see_each_name_once() -> None:
    headers = _sample()
    assert list(headers) == ["accept", "x-trace", "set-cookie"]
    assert headers.keys() == ["accept", "x-trace", "set-cookie"]
    assert len(headers) == 3
    assert headers.items() == [
        ("accept", "text/html, application/json"),
        ("x-trace", "1"),
        ("set-cookie", "a=1, b=2"),
    ]
    assert dict(headers) == dict(headers.items())


def test_multi_items_and_raw_keep_every_field() -> None:
    headers = _sample()
    assert headers.multi_items() == [
        ("accept", "text/html"),
        ("x-trace", "1"),
        ("accept", "application/json"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]
    assert headers.raw[3:] == [(b"Set-Cookie", b"a=1"), (b"SET-COOKIE", b"b=2")]


# -- writing -------------------------------------------------------------------------------


def test_setitem_replaces_every_value_at_the_first_position() -> None:
    headers = _sample()
    headers["ACCEPT"] = "*/*"
    assert headers.raw == [
        (b"ACCEPT", b"*/*"),
        (b"X-Trace", b"1"),
        (b"Set-Cookie", b"a=1"),
        (b"SET-COOKIE", b"b=2"),
    ]
    headers["New"] = "x"
    assert headers.raw[-1] == (b"New", b"x")


def test_delitem_removes_every_value() -> None:
    headers = _sample()
    del headers["set-cookie"]
    assert headers.keys() == ["accept", "x-trace"]
    with pytest.raises(KeyError, match="set-cookie"):
        del headers["set-cookie"]


def test_add_appends() -> None:
    headers = Headers({"Vary": "Accept"})
    headers.add("vary", "Origin")
    assert headers.get_list("VARY") == ["Accept", "Origin"]


def test_setdefault() -> None:
    headers = Headers({"A": "1"})
    assert headers.setdefault("a", "2") == "1"
    assert headers.setdefault("B", " 3 ") == "3"
    assert headers.raw == [(b"A", b"1"), (b"B", b"3")]


def test_update_replaces_per_name_and_keeps_all_incoming_values() -> None:
    headers = Headers([("A", "1"), ("B", "1"), ("a", "2"), ("C", "1")])
    headers.update([("a", "x"), ("D", "y"), ("A", "z")])
    assert headers.raw == [
        (b"a", b"x"),
        (b"A", b"z"),
        (b"B", b"1"),
        (b"C", b"1"),
        (b"D", b"y"),
    ]
    headers.update(Headers({"b": "2"}))
    assert headers["B"] == "2"
    headers.update({})
    assert len(headers) == 4


def test_copy_is_independent() -> None:
    headers = _sample()
    copy = headers.copy()
    assert copy == headers
    copy.add("X-New", "1")
    assert "x-new" not in headers


# -- equality ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ([("A", "1"), ("B", "2")], [("b", "2"), ("a", "1")], True),
        ([("A", "1"), ("a", "2")], [("a", "1"), ("A", "2")], True),
        ([("A", "1"), ("a", "2")], [("a", "2"), ("A", "1")], False),
        ([("A", "1")], [("A", "1"), ("A", "1")], False),
        ([("A", "1")], [("A", "2")], False),
        ([], [], True),
    ],
)
def test_equality(left: list[tuple[str, str]], right: list[tuple[str, str]], equal: bool) -> None:
    assert (Headers(left) == Headers(right)) is equal
    assert (Headers(left) == right) is equal


def test_equality_with_other_shapes() -> None:
    assert Headers({"A": "1"}) == {"a": "1"}
    assert Headers({"A": "1"}) == (("a", "1"),)
    assert Headers({"A": "1"}) != [("bad name", "1")]
    assert Headers({"A": "1"}) != 42
    assert Headers({"A": "1"}).__eq__("a: 1") is NotImplemented


def test_headers_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Headers())


# -- repr ----------------------------------------------------------------------------------


def test_repr_redacts_credentials() -> None:
    headers = Headers(
        [
            ("Authorization", "Bearer secret-token"),
            ("Proxy-Authorization", "Basic c2VjcmV0"),
            ("Cookie", "session=secret"),
            ("set-cookie", "id=secret"),
            ("X-API-Key", "secret"),
            ("Accept", "*/*"),
        ]
    )
    text = repr(headers)
    assert "secret" not in text
    assert "c2VjcmV0" not in text
    assert text.count("[secure]") == 5
    assert "('Accept', '*/*')" in text
    assert "('Authorization', '[secure]')" in text
    assert headers["authorization"] == "Bearer secret-token"


# -- the unvalidated door for fields a parser already checked ------------------------------


def test_from_raw_keeps_the_case_and_matches_any_case() -> None:
    headers = Headers._from_raw([(b"Content-Length", b"5"), (b"server", b"uvicorn")])
    assert headers.raw == [(b"Content-Length", b"5"), (b"server", b"uvicorn")]
    assert headers["content-length"] == "5"
    assert headers["Server"] == "uvicorn"


def test_names_given_repeatedly_are_validated_every_time() -> None:
    # The name cache must not let a bad name through after a good one with the same key.
    Headers({"X-Cached": "1"})
    Headers({"X-Cached": "1"})
    with pytest.raises(InvalidHeader):
        Headers({"X-Cached ": "1"})


def test_name_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import flext_api._headers as module

    monkeypatch.setattr(module, "_NAME_CACHE", {})
    monkeypatch.setattr(module, "_NAME_CACHE_LIMIT", 2)
    headers = Headers([(f"X-{index}", "v") for index in range(5)])
    assert len(module._NAME_CACHE) == 2
    assert headers["x-4"] == "v"
