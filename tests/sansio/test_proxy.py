"""Proxy configuration without I/O: proxy URLs, NO_PROXY rules, per-origin selection, env."""

from __future__ import annotations

import base64

import pytest

from flext_api import URL, Proxy
from flext_api._sansio.proxy import NoProxy, ProxyRouter, build_router, proxy_routes_from_env

# --- Proxy ---------------------------------------------------------------------------------


def test_credentials_become_a_basic_header_and_leave_the_url() -> None:
    proxy = Proxy("http://us%40er:p%3Ass@proxy.internal:3128", headers={"X-Team": "a"})
    assert str(proxy.url) == "http://proxy.internal:3128/"
    assert proxy.origin == ("http", "proxy.internal", 3128)
    token = base64.b64encode(b"us@er:p:ss")
    assert proxy.header_fields == [
        (b"Proxy-Authorization", b"proxy-authorization", b"Basic " + token),
        (b"X-Team", b"x-team", b"a"),
    ]
    assert repr(proxy) == "Proxy('http://proxy.internal:3128', auth=[secure])"
    assert "p:ss" not in repr(proxy) and "p%3Ass" not in repr(proxy)


def test_proxy_equality_shares_pools() -> None:
    assert Proxy("http://p:1") == Proxy(URL("http://p:1/"))
    assert hash(Proxy("http://p:1")) == hash(Proxy("http://p:1"))
    assert Proxy("http://p:1") != Proxy("http://a:b@p:1")
    assert Proxy("http://p:1") != "http://p:1"
    assert repr(Proxy("https://p")) == "Proxy('https://p')"
    assert Proxy("https://p").origin == ("https", "p", 443)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("socks4://p:1080", "only http://, https:// and socks5://"),
        ("p:3128/x", "only http://, https:// and socks5://"),
        ("http://p:3128/path", "no path"),
        ("http://p:3128/?q=1", "no path"),
        ("http://u:secret@p:99999", "invalid proxy URL"),
    ],
)
def test_invalid_proxy_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Proxy(url)
    assert "secret" not in str(info.value)


# --- NO_PROXY ------------------------------------------------------------------------------

NO_PROXY_CASES = [
    # (NO_PROXY, host, port, bypass)
    ("", "example.com", 80, False),
    ("*", "anything.test", 443, True),
    ("example.com", "example.com", 80, True),
    ("example.com", "api.example.com", 80, True),
    ("example.com", "badexample.com", 80, False),
    (".example.com", "example.com", 80, True),
    (".example.com", "a.b.example.com", 443, True),
    ("*.example.com", "a.example.com", 443, True),
    ("EXAMPLE.com", "Api.Example.COM.", 443, True),
    ("example.com:8080", "example.com", 8080, True),
    ("example.com:8080", "example.com", 80, False),
    ("10.1.2.3", "10.1.2.3", 80, True),
    ("10.1.2.3", "10.1.2.4", 80, False),
    ("10.0.0.0/8", "10.200.0.1", 80, True),
    ("10.0.0.0/8", "11.0.0.1", 80, False),
    ("10.0.0.0/8:443", "10.0.0.1", 80, False),
    ("10.0.0.0/8:443", "10.0.0.1", 443, True),
    ("::1", "::1", 80, True),
    ("[::1]:8080", "::1", 8080, True),
    ("[::1]:8080", "::1", 8081, False),
    ("[::1]", "::1", 1, True),
    ("fd00::/8", "fd12::1", 443, True),
    ("fe80::1%eth0", "fe80::1", 443, True),
    ("10.0.0.0/8", "ten.example", 80, False),  # names are never resolved
    ("10.1.2.3", "ten.example", 80, False),
    ("example.com", "10.1.2.3", 80, False),
    ("bad/net, other.org", "other.org", 80, True),  # an unusable entry is skipped
    ("a.org b.org,,c.org", "b.org", 80, True),
    ("host:99999", "host", 80, True),  # out-of-range port: any port
    (".", "example.com", 80, False),
]


@pytest.mark.parametrize(("value", "host", "port", "bypass"), NO_PROXY_CASES)
def test_no_proxy(value: str, host: str, port: int, bypass: bool) -> None:
    assert NoProxy(value).matches(host, port) is bypass


def test_empty_no_proxy_is_false() -> None:
    assert not NoProxy(" , ")
    assert NoProxy("*")
    assert NoProxy("10.0.0.0/8")


# --- selection -----------------------------------------------------------------------------

A, B, C, D = (Proxy(f"http://proxy-{name}:3128") for name in "abcd")

SELECTION_CASES = [
    # (routes, origin, expected)
    ({"http://": A}, ("http", "h", 80), A),
    ({"http://": A}, ("https", "h", 443), None),
    ({"all://": A, "https://": B}, ("https", "h", 443), B),
    ({"all://": A, "https://": B}, ("http", "h", 80), A),
    ({"https://": A, "all://h.example": B}, ("https", "h.example", 443), B),
    ({"https://": A, "https://h.example": None}, ("https", "h.example", 443), None),
    ({"https://": A, "https://h.example": None}, ("https", "x.example", 443), A),
    ({"https://h.example": B, "https://h.example:8443": C}, ("https", "h.example", 8443), C),
    ({"https://h.example": B, "https://h.example:8443": C}, ("https", "h.example", 443), B),
    ({"all://*.example": B, "all://a.example": C}, ("http", "a.example", 80), C),
    ({"all://*.example": B, "all://a.example": C}, ("http", "b.example", 80), B),
    ({"all://*.example": B}, ("http", "example", 80), None),
    ({"all://*": A}, ("https", "x", 443), A),
    ({"all://[::1]:8080": D}, ("http", "::1", 8080), D),
    ({"all://[::1]": D}, ("http", "::1", 1), D),
    ({"HTTPS://H.Example": D}, ("https", "H.EXAMPLE", 443), D),
    ({"http://": "http://p:1"}, ("http", "h", 80), Proxy("http://p:1")),
]


@pytest.mark.parametrize(("routes", "origin", "expected"), SELECTION_CASES)
def test_selection(
    routes: dict[str, Proxy | str | None], origin: tuple[str, str, int], expected: Proxy | None
) -> None:
    router = ProxyRouter(routes)
    assert router.select(origin) == expected
    assert router.select(origin) == expected  # cached answer


def test_router_lists_each_proxy_once_and_repr_redacts() -> None:
    secret = Proxy("http://u:secret@p:1")
    router = ProxyRouter({"http://": secret, "https://": secret, "all://x": None})
    assert router.proxies == [secret]
    assert "secret" not in repr(router)
    assert "'all://x': None" in repr(router)


def test_selection_cache_is_bounded() -> None:
    router = ProxyRouter({"all://": A})
    for port in range(ProxyRouter._CACHE_LIMIT + 5):
        assert router.select(("http", "h", port)) == A
    assert len(router._cache) <= ProxyRouter._CACHE_LIMIT


def test_no_proxy_wins_over_routes() -> None:
    router = ProxyRouter({"all://": A}, NoProxy("internal"))
    assert router.select(("https", "db.internal", 443)) is None
    assert router.select(("https", "example.org", 443)) == A


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("http", ValueError),
        ("ftp://", ValueError),
        ("http://h:port", ValueError),
        ("http://[::1]x", ValueError),
        ("http://h:70000", ValueError),
        (1, TypeError),
    ],
)
def test_invalid_patterns(pattern: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        ProxyRouter({pattern: A})  # type: ignore[dict-item]


def test_invalid_proxy_value() -> None:
    with pytest.raises(TypeError, match=r"URL str or a flext_api\.Proxy"):
        ProxyRouter({"all://": 3128})  # type: ignore[dict-item]


# --- environment ---------------------------------------------------------------------------

ENV_CASES = [
    # (environ, origin, expected proxy URL or None)
    ({}, ("http", "h", 80), None),
    ({"HTTP_PROXY": "http://p:1"}, ("http", "h", 80), "http://p:1"),
    ({"HTTP_PROXY": "http://p:1"}, ("https", "h", 443), None),
    ({"HTTPS_PROXY": "p:2"}, ("https", "h", 443), "http://p:2"),
    (
        {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
        ("https", "h", 443),
        "http://low:1",
    ),
    ({"ALL_PROXY": "http://all:1"}, ("https", "h", 443), "http://all:1"),
    ({"ALL_PROXY": "http://all:1", "http_proxy": "http://p:1"}, ("http", "h", 80), "http://p:1"),
    ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "h"}, ("http", "h", 80), None),
    ({"HTTP_PROXY": "http://p:1", "no_proxy": "*"}, ("http", "x", 80), None),
    ({"HTTP_PROXY": "  "}, ("http", "h", 80), None),
    # httpoxy: under CGI, HTTP_PROXY comes from the client's "Proxy:" header.
    ({"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}, ("http", "h", 80), None),
    (
        {"http_proxy": "http://ok:1", "REQUEST_METHOD": "GET"},
        ("http", "h", 80),
        "http://ok:1",
    ),
]


@pytest.mark.parametrize(("environ", "origin", "expected"), ENV_CASES)
def test_environment(
    environ: dict[str, str], origin: tuple[str, str, int], expected: str | None
) -> None:
    router = build_router(proxy=None, proxies=None, trust_env=True, environ=environ)
    chosen = None if router is None else router.select(origin)
    assert chosen == (None if expected is None else Proxy(expected))


def test_routes_from_env_are_plain_data() -> None:
    routes, no_proxy = proxy_routes_from_env({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a"})
    assert routes == {"https://": Proxy("http://p:1")}
    assert no_proxy.matches("a", 443)


def test_build_router_options() -> None:
    environ = {"HTTP_PROXY": "http://env:1"}
    assert build_router(proxy=None, proxies=None, trust_env=False, environ=environ) is None
    explicit = build_router(proxy="http://mine:1", proxies=None, trust_env=True, environ=environ)
    assert explicit is not None
    assert explicit.select(("https", "h", 443)) == Proxy("http://mine:1")
    mapped = build_router(proxy=None, proxies={"all://": None}, trust_env=True, environ=environ)
    assert mapped is None  # every route is direct: no proxy pool needed
    with pytest.raises(ValueError, match="not both"):
        build_router(proxy="http://a:1", proxies={}, trust_env=True, environ={})
    with pytest.raises(TypeError, match="mapping"):
        build_router(proxy=None, proxies=["http://a:1"], trust_env=True, environ={})  # type: ignore[arg-type]
