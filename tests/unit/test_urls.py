"""URL parsing, normalization, joining and query encoding, as a caller sees them."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest

from flext_api._exceptions import InvalidURL
from flext_api._url_components import _remove_dot_segments
from flext_api._urls import URL, QueryParamTypes, encode_params

# -- parsing: what each attribute holds ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "http://127.0.0.1:8000/path?x=1",
            {
                "scheme": "http",
                "host": "127.0.0.1",
                "port": 8000,
                "effective_port": 8000,
                "path": "/path",
                "query": "x=1",
                "raw_path": b"/path?x=1",
                "host_header": b"127.0.0.1:8000",
                "origin": ("http", "127.0.0.1", 8000),
                "is_absolute": True,
            },
        ),
        (
            "HTTPS://Example.COM:443",
            {
                "scheme": "https",
                "host": "example.com",
                "port": None,
                "default_port": 443,
                "effective_port": 443,
                "path": "/",
                "raw_path": b"/",
                "host_header": b"example.com",
                "origin": ("https", "example.com", 443),
            },
        ),
        (
            "http://[::1]:8080/",
            {"host": "::1", "port": 8080, "host_header": b"[::1]:8080"},
        ),
        ("http://[2001:DB8::1]/", {"host": "2001:db8::1", "host_header": b"[2001:db8::1]"}),
        (
            "http://[fe80::1%25eth0]:8080/",
            {"host": "fe80::1%eth0", "host_header": b"[fe80::1]:8080"},
        ),
        ("http://bücher.example/", {"host": "xn--bcher-kva.example"}),
        ("http://BÜCHER.example/", {"host": "xn--bcher-kva.example"}),
        ("http://Example.COM/", {"host": "example.com"}),
        ("ws://chat.example:80/socket", {"port": None, "default_port": 80, "effective_port": 80}),
        ("wss://chat.example", {"port": None, "effective_port": 443, "path": "/"}),
        ("http://h:/", {"port": None, "effective_port": 80}),
        ("http://[::1]:/", {"port": None, "host_header": b"[::1]"}),
        ("http://h:0/", {"port": 0, "effective_port": 0}),
        ("http://h:65535/", {"port": 65535}),
        (
            "foo://h/x",
            {"scheme": "foo", "port": None, "default_port": None, "effective_port": 0},
        ),
        (
            "/relative/path?a=1#top",
            {
                "scheme": "",
                "host": "",
                "is_absolute": False,
                "path": "/relative/path",
                "query": "a=1",
                "fragment": "top",
                "raw_path": b"/relative/path?a=1",
                "host_header": b"",
            },
        ),
        (
            "http://user:p%40ss@h/",
            {"userinfo": "user:p%40ss", "username": "user", "password": "p@ss", "host": "h"},
        ),
        ("http://only-user@h/", {"username": "only-user", "password": ""}),
        ("http://h/", {"userinfo": "", "username": "", "password": ""}),
        ("http://a@b@c/", {"userinfo": "a%40b", "username": "a@b", "host": "c"}),
        ("http://h/päth", {"path": "/p%C3%A4th"}),
        ("http://h/a%2Fb%zz%", {"path": "/a%2Fb%25zz%25"}),
        ("http://h/a/./b/../c", {"path": "/a/c"}),
        ("http://h/a/b/..", {"path": "/a/"}),
        ("http://h/.well-known/x", {"path": "/.well-known/x"}),
        ("http://h/[x]{y}", {"path": "/%5Bx%5D%7By%7D"}),
        ("http://h/p?q=ü&r=a|b", {"query": "q=%C3%BC&r=a%7Cb"}),
        ("http://h/p?next=/a?b", {"query": "next=/a?b"}),
        ("http://h/?", {"query": "", "raw_path": b"/?"}),
        ("http://h/p#a#b", {"fragment": "a%23b", "raw_path": b"/p"}),
        ("file:///etc/hosts", {"host": "", "path": "/etc/hosts", "effective_port": 0}),
        ("mailto:someone@example.com", {"host": "", "path": "someone@example.com"}),
        ("//cdn.example/lib.js", {"scheme": "", "host": "cdn.example", "path": "/lib.js"}),
        ("a/./b/../c", {"path": "a/./b/../c", "is_absolute": False}),
        ("h_1.internal", {"path": "h_1.internal", "host": ""}),
    ],
)
def test_parsed_attributes(text: str, expected: dict[str, Any]) -> None:
    url = URL(text)
    for name, value in expected.items():
        assert getattr(url, name) == value, name


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("http://example.com:80/", "http://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://h/a b".replace(" ", "%20"), "http://h/a%20b"),
        ("http://h/ü?ü#ü", "http://h/%C3%BC?%C3%BC#%C3%BC"),
        ("http://h/?", "http://h/?"),
        ("http://h/#", "http://h/"),
        ("http://[::1]:8080", "http://[::1]:8080/"),
        ("http://[fe80::1%25eth0]/", "http://[fe80::1%25eth0]/"),
        ("http://u:pw@h/", "http://u:pw@h/"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://h/a/../../b", "http://h/b"),
        ("g:h", "g:h"),
        ("foo://h", "foo://h"),
        ("?q", "?q"),
    ],
)
def test_str_is_the_normalized_url(text: str, normalized: str) -> None:
    assert str(URL(text)) == normalized


@pytest.mark.parametrize(
    "text",
    [
        "http://h/a%20b/%E2%82%AC?q=%25&r=%7C#%C3%BC",
        "http://h/ä b".replace(" ", "%20"),
        "http://h/100%/x%zz?p=%&q=ü",
        "https://user:p%40ss@h:8443/[x]?a=b|c#frag#more",
        "relative/./path?x=ü",
    ],
)
def test_percent_encoding_is_idempotent(text: str) -> None:
    once = str(URL(text))
    assert str(URL(once)) == once
    # Every escape that was valid in the input is still there, not re-encoded as %25XX.
    escapes = re.findall(r"%[0-9A-Fa-f]{2}", text)
    assert all(escape in once for escape in escapes)
    assert all("%25" + escape[1:] not in once for escape in escapes if escape != "%25")


def test_lone_percent_is_encoded_once() -> None:
    assert URL("http://h/100%").path == "/100%25"
    assert URL("http://h/100%25").path == "/100%25"


# -- rejections: every one names the problem and the fix -----------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "URL is empty"),
        ("http://h/a\r\nX-Injected: 1", "a CR character"),
        ("http://h/a\nb", "an LF character"),
        ("http://h/a\x00b", "a NUL character"),
        ("http://h/a\tb", "a TAB character"),
        ("http://h/a b", "a space"),
        (" http://h/", "a space at position 0"),
        ("http://h/a\x01b", "the control character '\\x01'"),
        ("http://h/a\x7fb", "the control character '\\x7f'"),
        ("http://h/ä\nb", "an LF character"),
        ("http://h:abc/", "port 'abc' that is not a number"),
        ("http://h:-1/", "that is not a number"),
        ("http://h:\uff18\uff10/", "that is not a number"),  # fullwidth digits
        ("http://h:65536/", "port 65536, outside the range 0-65535"),
        ("http://h:99999999999/", "outside the range 0-65535"),
        ("http://::1/", "must be written in brackets"),
        ("http://[::1/", "without its closing ']'"),
        ("http://[::1]x/", "only ':port' may follow"),
        ("http://[::1]:x/", "not a number"),
        ("http://[::g]/", "invalid IPv6 address [::g]"),
        ("http://[1.2.3.4]/", "invalid IPv6 address"),
        ("http://[v1.fe]/", "IPvFuture"),
        ("http://[fe80::1%25e!]/", "invalid IPv6 zone"),
        ("http://" + "ü" * 64 + ".example/", "not a valid internationalized domain name"),
        ("http://a..ü/", "not a valid internationalized domain name"),
        ("http://ex<ample.com/", "containing '<'"),
        ("http://a,b/", "containing ','"),
        ("http://h%41/", "containing '%'"),
        ("http://]/", "containing ']'"),
        ("http:///path", "has no host; a http URL needs one"),
        ("https://user@/", "has no host"),
        ("https:relative", "has no host"),
        ("ws://", "has no host"),
        ("http://evil.example\\@good.example/", "backslash"),
        ("1.2.3.4:80/x", "does not start with a valid scheme ('1.2.3.4' is not one)"),
        ("user@host:22", "does not start with a valid scheme"),
        (":path", "does not start with a valid scheme"),
        ("http://h/\ud800", "cannot be UTF-8 encoded"),
    ],
)
def test_invalid_urls_are_refused_with_a_helpful_message(text: str, message: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        URL(text)
    assert message in str(caught.value)
    assert caught.value.code == "INVALID_URL"


def test_error_messages_never_show_the_password() -> None:
    with pytest.raises(InvalidURL) as caught:
        URL("http://alice:hunter2@h:bad/")
    assert "hunter2" not in str(caught.value)
    assert "alice:[secure]@" in str(caught.value)


def test_a_url_is_built_from_str_or_url_only() -> None:
    with pytest.raises(TypeError, match="takes a str or a URL, not bytes"):
        URL(b"http://h/")  # type: ignore[arg-type]


# -- identity, equality, hashing, immutability -----------------------------------------------


def test_url_of_a_url_is_the_same_object() -> None:
    url = URL("http://h/")
    assert URL(url) is url


def test_parsing_the_same_text_twice_gives_equal_urls() -> None:
    text = "http://cache.example/same?x=1"
    assert URL(text) is URL(text)


def test_parse_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import flext_api._urls as urls

    monkeypatch.setattr(urls, "_PARSED", {})
    monkeypatch.setattr(urls, "_PARSED_LIMIT", 3)
    for index in range(10):
        URL(f"http://h/{index}")
        assert len(urls._PARSED) <= 3
    assert URL("http://h/9").path == "/9"


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("http://Example.com:80", "http://example.com/", True),
        ("http://h/a", "http://h/a/", False),
        ("http://h/ä", "http://h/%C3%A4", True),
        ("http://h/?", "http://h/", False),
        ("http://h/#x", "http://h/", False),
    ],
)
def test_equality_compares_normalized_forms(left: str, right: str, equal: bool) -> None:
    assert (URL(left) == right) is equal
    assert (URL(left) == URL(right)) is equal


def test_a_string_that_is_not_a_url_is_not_equal() -> None:
    assert URL("http://h/") != "not a url with spaces"


def test_url_is_not_equal_to_other_types() -> None:
    assert URL("http://h/") != 42
    assert URL("http://h/").__eq__(42) is NotImplemented


def test_hash_follows_equality() -> None:
    assert hash(URL("HTTP://H:80")) == hash(URL("http://h/"))
    assert len({URL("http://h/"), URL("http://H"), URL("http://h:80/")}) == 1


def test_url_is_immutable() -> None:
    url = URL("http://h/")
    with pytest.raises(AttributeError, match="copy_with"):
        url.host = "evil"
    with pytest.raises(AttributeError, match="immutable"):
        del url.host
    assert url.host == "h"


def test_url_pickles() -> None:
    url = URL("https://u:pw@h:8443/p?q=1#f")
    assert pickle.loads(pickle.dumps(url)) == url


def test_repr_redacts_the_password() -> None:
    url = URL("https://user:hunter2@host/")
    assert repr(url) == "URL('https://user:[secure]@host/')"
    assert str(url) == "https://user:hunter2@host/"
    assert repr(URL("https://user@host/")) == "URL('https://user@host/')"


# -- RFC 3986 section 5.4 reference resolution ---------------------------------------------

RFC_BASE = "http://a/b/c/d;p?q"


@pytest.mark.parametrize(
    ("reference", "target"),
    [
        # 5.4.1 normal examples
        ("g:h", "g:h"),
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g/"),  # the RFC writes "http://g"; an empty http path normalizes to "/"
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q#s"),
        ("g#s", "http://a/b/c/g#s"),
        ("g?y#s", "http://a/b/c/g?y#s"),
        (";x", "http://a/b/c/;x"),
        ("g;x", "http://a/b/c/g;x"),
        ("g;x?y#s", "http://a/b/c/g;x?y#s"),
        ("", "http://a/b/c/d;p?q"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
        # 5.4.2 abnormal examples
        ("../../../g", "http://a/g"),
        ("../../../../g", "http://a/g"),
        ("/./g", "http://a/g"),
        ("/../g", "http://a/g"),
        ("g.", "http://a/b/c/g."),
        (".g", "http://a/b/c/.g"),
        ("g..", "http://a/b/c/g.."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("./g/.", "http://a/b/c/g/"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
        ("g;x=1/../y", "http://a/b/c/y"),
        ("g?y/./x", "http://a/b/c/g?y/./x"),
        ("g?y/../x", "http://a/b/c/g?y/../x"),
        ("g#s/./x", "http://a/b/c/g#s/./x"),
        ("g#s/../x", "http://a/b/c/g#s/../x"),
    ],
)
def test_rfc3986_reference_resolution(reference: str, target: str) -> None:
    joined = URL(RFC_BASE).join(reference)
    assert str(joined) == target
    assert joined == target


@pytest.mark.parametrize(
    ("path", "result"),
    [
        # the two walk-throughs of RFC 3986 section 5.2.4
        ("/a/b/c/./../../g", "/a/g"),
        ("mid/content=5/../6", "mid/6"),
        ("../a", "a"),
        ("./a", "a"),
        (".", ""),
        ("..", ""),
        ("/..", "/"),
        ("/.", "/"),
        ("/a/..", "/"),
        ("/../../a/./b/", "/a/b/"),
    ],
)
def test_remove_dot_segments(path: str, result: str) -> None:
    assert _remove_dot_segments(path) == result


@pytest.mark.parametrize(
    ("text", "path"),
    [("http://h/..", "/"), ("http://h/../a/.", "/a/"), ("http://h/./", "/")],
)
def test_absolute_urls_resolve_dot_segments_when_parsed(text: str, path: str) -> None:
    assert URL(text).path == path


def test_rfc3986_http_g_is_refused_not_resolved() -> None:
    # Strict RFC 3986 resolves "http:g" to "http:g", an http URL with no host, which no client
    # can send; it is refused instead.
    with pytest.raises(InvalidURL, match="has no host"):
        URL(RFC_BASE).join("http:g")


@pytest.mark.parametrize(
    ("base", "reference", "target"),
    [
        ("https://api.example/v1/", "users?page=2", "https://api.example/v1/users?page=2"),
        ("https://api.example/v1", "users", "https://api.example/users"),
        ("https://api.example/v1/", "/health", "https://api.example/health"),
        ("https://u:pw@api.example:8443/v1/", "x", "https://u:pw@api.example:8443/v1/x"),
        ("https://api.example/v1/", "//other.example/p", "https://other.example/p"),
        ("https://api.example/", "http://plain.example", "http://plain.example/"),
        ("https://api.example/p#frag", "", "https://api.example/p"),
        ("https://api.example/p", "", "https://api.example/p"),
        ("https://api.example/p?x=1", "?", "https://api.example/p?"),
        ("foo://h", "g", "foo://h/g"),
        ("g:a/b", "c", "g:a/c"),
    ],
)
def test_join(base: str, reference: str, target: str) -> None:
    assert str(URL(base).join(reference)) == target


def test_join_accepts_a_url() -> None:
    assert URL("http://h/a/").join(URL("b")) == "http://h/a/b"


# -- copy_with and copy_merge_params -------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scheme": "HTTPS"}, "https://h:8080/p?q=1#f"),
        ({"host": "Bücher.example"}, "http://xn--bcher-kva.example:8080/p?q=1#f"),
        ({"host": "::1"}, "http://[::1]:8080/p?q=1#f"),
        ({"host": "[::2]"}, "http://[::2]:8080/p?q=1#f"),
        ({"host": "fe80::1%eth0"}, "http://[fe80::1%25eth0]:8080/p?q=1#f"),
        ({"port": None}, "http://h/p?q=1#f"),
        ({"port": 80}, "http://h/p?q=1#f"),
        ({"port": 9000}, "http://h:9000/p?q=1#f"),
        ({"path": "/a%20b?c#d"}, "http://h:8080/a%20b%3Fc%23d?q=1#f"),
        ({"path": "/a/%2F/../b"}, "http://h:8080/a/b?q=1#f"),
        ({"path": ""}, "http://h:8080/?q=1#f"),
        ({"query": "x=1&y=2"}, "http://h:8080/p?x=1&y=2#f"),
        ({"query": "?x=ü"}, "http://h:8080/p?x=%C3%BC#f"),
        ({"query": ""}, "http://h:8080/p#f"),
        ({"fragment": "top"}, "http://h:8080/p?q=1#top"),
        ({"fragment": ""}, "http://h:8080/p?q=1"),
        ({"username": "al ice"}, "http://al%20ice@h:8080/p?q=1#f"),
        ({"username": "a:b@c", "password": "p:w@%"}, "http://a%3Ab%40c:p:w%40%25@h:8080/p?q=1#f"),
        ({"password": "s"}, "http://:s@h:8080/p?q=1#f"),
    ],
)
def test_copy_with(changes: dict[str, Any], expected: str) -> None:
    assert str(URL("http://h:8080/p?q=1#f").copy_with(**changes)) == expected


def test_copy_with_userinfo_round_trips_through_username_and_password() -> None:
    url = URL("http://h/").copy_with(username="a:b@c", password="p:w@%")
    assert (url.username, url.password) == ("a:b@c", "p:w@%")
    assert url.copy_with(username="", password="").userinfo == ""
    assert URL("http://u:p@h/").copy_with(password="").userinfo == "u"


def test_copy_with_scheme_switch_uses_the_new_default_port() -> None:
    assert str(URL("http://a:80/").copy_with(scheme="https")) == "https://a/"
    assert URL("http://a:443/").copy_with(scheme="https").port is None


def test_copy_with_host_makes_a_relative_reference_network_path() -> None:
    assert str(URL("/p").copy_with(host="h")) == "//h/p"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scheme": "1http"}, "is not a valid URL scheme"),
        ({"host": "evil.example/path"}, "containing '/'"),
        ({"host": "a@b"}, "containing '@'"),
        ({"host": "a\r\nb"}, "a CR character"),
        ({"host": ""}, "has no host"),
        ({"host": "[::g]"}, "invalid IPv6 address"),
        ({"port": 70000}, "not a valid TCP port"),
        ({"port": -1}, "not a valid TCP port"),
        ({"port": True}, "not a valid TCP port"),
        ({"port": "80"}, "not a valid TCP port"),
        ({"path": "relative"}, "does not start with '/'"),
        ({"path": "/a\nb"}, "an LF character"),
        ({"query": "a=1\x00"}, "a NUL character"),
        ({"fragment": "a b"}, "a space"),
        ({"username": "\ud800"}, "cannot be UTF-8 encoded"),
    ],
)
def test_copy_with_validates_every_part(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        URL("http://h:8080/p?q=1#f").copy_with(**changes)
    assert message in str(caught.value)


def test_copy_merge_params_appends_and_keeps_existing_keys() -> None:
    url = URL("http://h/s?a=1#frag")
    merged = url.copy_merge_params({"a": 2, "b": "x y"})
    assert str(merged) == "http://h/s?a=1&a=2&b=x%20y#frag"
    assert str(URL("http://h/s").copy_merge_params([("k", "v")])) == "http://h/s?k=v"
    assert url.copy_merge_params({}) is url


# -- encode_params ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ({"a": "1", "b": 2}, "a=1&b=2"),
        ({"flag": True, "off": False}, "flag=true&off=false"),
        ({"empty": None}, "empty="),
        ({"ratio": 1.5}, "ratio=1.5"),
        ({"tags": ["x", "y", 3]}, "tags=x&tags=y&tags=3"),
        ({"tags": ("x", None, True)}, "tags=x&tags=&tags=true"),
        ({"none": []}, ""),
        ([("a", 1), ("a", 2), ("b", None)], "a=1&a=2&b="),
        ({"q": "ü ~-._"}, "q=%C3%BC%20~-._"),
        ({"a&b=c": "d&e=f#g"}, "a%26b%3Dc=d%26e%3Df%23g"),
        ({"p": "100%"}, "p=100%25"),
        ({"plus": "1+1"}, "plus=1%2B1"),
        ({"emoji": "😀"}, "emoji=%F0%9F%98%80"),
        ("a=1&b=%20&c=ü", "a=1&b=%20&c=%C3%BC"),
        ("?already=encoded", "already=encoded"),
        ({}, ""),
        ([], ""),
        ("", ""),
    ],
)
def test_encode_params(params: QueryParamTypes, query: str) -> None:
    assert encode_params(params) == query


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"a": object()}, TypeError, "has a value of type object"),
        ({"a": [b"x"]}, TypeError, "has a value of type bytes"),
        ({1: "a"}, TypeError, "key 1 must be a str"),
        (["a=1"], TypeError, "got the item 'a=1'"),
        ([("a", 1, 2)], TypeError, "got the item"),
        ({"a": "\ud800"}, InvalidURL, "cannot be UTF-8 encoded"),
        ("a=1\r\n", InvalidURL, "a CR character"),
    ],
)
def test_encode_params_refuses_what_it_cannot_encode(
    params: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        encode_params(params)
    assert message in str(caught.value)
