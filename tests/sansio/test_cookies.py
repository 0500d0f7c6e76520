"""Cookie jar: RFC 6265 examples and rules, with a fake wall clock."""

from __future__ import annotations

import calendar

import pytest

from flext_api._sansio.cookies import Cookie, CookieJar, parse_cookie_date
from flext_api._urls import URL

NOW = 1_600_000_000.0  # 2020-09-13
WWW = URL("https://www.example.com/")


def jar_with(url: URL, *headers: str, now: float = NOW) -> CookieJar:
    jar = CookieJar()
    jar.extract(url, list(headers), now)
    return jar


def test_empty_jar_fast_path() -> None:
    jar = CookieJar()
    assert jar.header_for(WWW, NOW) is None
    jar.extract(WWW, [], NOW)
    assert len(jar) == 0


# RFC 6265 section 3.1, the examples in order.
def test_rfc6265_example_host_only() -> None:
    jar = jar_with(WWW, "SID=31d4d96e407aad42")
    assert jar.header_for(WWW, NOW) == "SID=31d4d96e407aad42"
    assert jar.header_for(URL("https://sub.www.example.com/"), NOW) is None  # host-only


def test_rfc6265_example_domain_cookies() -> None:
    jar = jar_with(
        WWW,
        "SID=31d4d96e407aad42; Path=/; Domain=example.com",
        "lang=en-US; Path=/; Domain=example.com",
    )
    assert jar.header_for(WWW, NOW) == "SID=31d4d96e407aad42; lang=en-US"
    assert jar.header_for(URL("http://example.com/"), NOW) == "SID=31d4d96e407aad42; lang=en-US"
    assert jar.header_for(URL("http://notexample.com/"), NOW) is None


def test_rfc6265_example_secure_and_httponly() -> None:
    jar = jar_with(
        WWW,
        "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly",
        "lang=en-US; Path=/; Domain=example.com",
    )
    assert jar.header_for(WWW, NOW) == "SID=31d4d96e407aad42; lang=en-US"
    assert jar.header_for(URL("http://www.example.com/"), NOW) == "lang=en-US"
    sid = next(c for c in jar if c.name == "SID")
    assert sid.secure and sid.http_only


def test_rfc6265_example_expiry_and_deletion() -> None:
    jar = jar_with(WWW, "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT")
    assert jar.header_for(WWW, NOW) == "lang=en-US"
    jar.extract(WWW, ["lang=; Expires=Sun, 06 Nov 1994 08:49:37 GMT"], NOW)
    assert jar.header_for(WWW, NOW) is None
    assert len(jar) == 0
    later = calendar.timegm((2021, 6, 9, 10, 18, 15))
    jar = jar_with(WWW, "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT")
    assert jar.header_for(WWW, later) is None  # expired by the clock alone
    assert len(jar) == 0


@pytest.mark.parametrize(
    ("header", "alive_at", "dead_at"),
    [
        ("a=1; Max-Age=60", NOW + 59, NOW + 60),
        ("a=1; Max-Age=60; Expires=Wed, 09 Jun 2100 10:18:14 GMT", NOW + 59, NOW + 61),
        ("a=1; Expires=Wed, 09 Jun 2100 10:18:14 GMT; Max-Age=60", NOW + 59, NOW + 61),
        ("a=1; Max-Age=x60; Expires=Wed, 09 Jun 2100 10:18:14 GMT", NOW + 1e6, 4.2e9),
        ("a=1; Expires=not a date", NOW + 1e9, None),  # invalid Expires: session cookie
    ],
)
def test_max_age_wins_over_expires(header: str, alive_at: float, dead_at: float | None) -> None:
    jar = jar_with(WWW, header)
    assert jar.header_for(WWW, alive_at) == "a=1"
    if dead_at is not None:
        assert jar.header_for(WWW, dead_at) is None


@pytest.mark.parametrize("max_age", ["0", "-1"])
def test_non_positive_max_age_deletes(max_age: str) -> None:
    jar = jar_with(WWW, "a=1")
    jar.extract(WWW, [f"a=2; Max-Age={max_age}"], NOW)
    assert jar.header_for(WWW, NOW) is None


@pytest.mark.parametrize(
    ("request_url", "header", "stored"),
    [
        ("https://www.example.com/", "a=1; Domain=com", False),  # public suffix (lite)
        ("https://www.example.com/", "a=1; Domain=.com", False),
        ("https://www.example.com/", "a=1; Domain=other.com", False),
        ("https://www.example.com/", "a=1; Domain=sub.www.example.com", False),
        ("https://www.example.com/", "a=1; Domain=.example.com", True),
        ("https://www.example.com/", "a=1; Domain=", True),  # empty: ignored, host-only
        ("http://localhost/", "a=1; Domain=localhost", True),
        ("http://127.0.0.1/", "a=1; Domain=127.0.0.1", True),
        ("http://127.0.0.1/", "a=1; Domain=0.0.1", False),
        ("https://www.example.com/", "=1", False),  # empty name
        ("https://www.example.com/", "novalue", False),  # no '='
        ("https://www.example.com/", "a=" + "x" * 9000, False),  # oversized
        ("http://www.example.com/", "a=1; Secure", False),  # only https may set Secure
        ("https://www.example.com/", "__Secure-a=1", False),
        ("https://www.example.com/", "__Secure-a=1; Secure", True),
        ("https://www.example.com/", "__Host-a=1; Secure; Path=/", True),
        ("https://www.example.com/", "__Host-a=1; Secure; Path=/; Domain=example.com", False),
        ("https://www.example.com/a/b", "__Host-a=1; Secure", False),  # default path is /a
    ],
)
def test_what_may_be_stored(request_url: str, header: str, stored: bool) -> None:
    assert len(jar_with(URL(request_url), header)) == (1 if stored else 0)


def test_host_only_for_single_label_and_ip_hosts() -> None:
    jar = jar_with(URL("http://localhost/"), "a=1; Domain=localhost")
    (cookie,) = list(jar)
    assert cookie.host_only
    jar = jar_with(URL("http://127.0.0.1/"), "a=1; Domain=127.0.0.1")
    assert jar.header_for(URL("http://127.0.0.1/x"), NOW) == "a=1"


@pytest.mark.parametrize(
    ("set_on", "header", "request_path", "sent"),
    [
        ("/", "a=1; Path=/", "/anything", True),
        ("/", "a=1; Path=/docs", "/docs", True),
        ("/", "a=1; Path=/docs", "/docs/", True),
        ("/", "a=1; Path=/docs", "/docs/web", True),
        ("/", "a=1; Path=/docs", "/docsets", False),
        ("/", "a=1; Path=/docs/", "/docs/x", True),
        ("/", "a=1; Path=/docs/", "/docs", False),
        ("/", "a=1; Path=relative", "/", True),  # invalid Path: default path "/"
        ("/app/login", "a=1", "/app/other", True),  # default path "/app"
        ("/app/login", "a=1", "/", False),
        ("/app/login", "a=1", "/application", False),
        ("/login", "a=1", "/", True),  # one slash: default path "/"
    ],
)
def test_path_matching(set_on: str, header: str, request_path: str, sent: bool) -> None:
    jar = jar_with(WWW.copy_with(path=set_on), header)
    result = jar.header_for(WWW.copy_with(path=request_path), NOW)
    assert result == ("a=1" if sent else None)


def test_order_longest_path_then_oldest() -> None:
    jar = CookieJar()
    jar.extract(WWW, ["b=2; Path=/"], NOW)
    jar.extract(WWW, ["a=1; Path=/"], NOW + 1)
    jar.extract(WWW, ["c=3; Path=/x"], NOW + 2)
    assert jar.header_for(WWW.copy_with(path="/x/y"), NOW + 3) == "c=3; b=2; a=1"


def test_replacing_keeps_creation_time_and_value_changes() -> None:
    jar = jar_with(WWW, "b=1")
    jar.extract(WWW, ["a=1"], NOW + 1)
    jar.extract(WWW, ["b=2"], NOW + 2)
    assert jar.header_for(WWW, NOW + 3) == "b=2; a=1"
    assert len(jar) == 2


def test_http_cannot_overwrite_a_secure_cookie() -> None:
    jar = jar_with(WWW, "s=secret; Secure")
    jar.extract(URL("http://www.example.com/"), ["s=evil"], NOW)
    assert jar.header_for(WWW, NOW) == "s=secret"


def test_same_site_is_parsed_and_kept() -> None:
    jar = jar_with(
        WWW,
        "a=1; SameSite=lax",
        "b=2; SameSite=Strict",
        "c=3; SameSite=weird",
        "d=4; SameSite=None; Secure",
    )
    assert {c.name: c.same_site for c in jar} == {"a": "Lax", "b": "Strict", "c": None, "d": "None"}


def test_values_are_kept_as_sent_and_repr_hides_them() -> None:
    jar = jar_with(WWW, ' q = "quoted value" ; path=/')
    assert jar.header_for(WWW, NOW) == 'q="quoted value"'
    (cookie,) = list(jar)
    assert "quoted" not in repr(cookie)
    assert repr(jar) == "<CookieJar 1 cookies>"


def test_clear() -> None:
    jar = jar_with(WWW, "a=1", "b=2; Domain=example.com")
    jar.clear("WWW.example.com")
    assert [c.name for c in jar] == ["b"]
    jar.clear("nothing.example")
    assert len(jar) == 1
    jar.clear()
    assert len(jar) == 0
    assert jar.header_for(WWW, NOW) is None


def test_per_domain_bound_evicts_least_recently_used() -> None:
    jar = CookieJar()
    for i in range(200):
        jar.extract(WWW, [f"c{i}=1"], NOW + i)
    assert len(jar) == 180
    names = {c.name for c in jar}
    assert "c0" not in names
    assert "c199" in names


def test_expired_cookies_dropped_while_others_remain() -> None:
    jar = jar_with(
        WWW,
        "short=1; Max-Age=10",
        "long=1; Max-Age=1000",
        "sibling=1; Domain=example.com; Max-Age=10",
    )
    assert jar.header_for(WWW, NOW + 20) == "long=1"
    assert len(jar) == 1
    assert isinstance(next(iter(jar)), Cookie)


def test_ipv6_hosts() -> None:
    url = URL("http://[::1]:8000/")
    jar = jar_with(url, "a=1")
    assert jar.header_for(url, NOW) == "a=1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", (1994, 11, 6, 8, 49, 37)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", (1994, 11, 6, 8, 49, 37)),
        ("Sun Nov  6 08:49:37 1994", (1994, 11, 6, 8, 49, 37)),
        ("Thu, 01-Jan-70 00:00:01 GMT", (1970, 1, 1, 0, 0, 1)),
        ("Wed, 09 Jun 21 10:18:14 GMT", (2021, 6, 9, 10, 18, 14)),
        ("09 June 2021 10:18:14", (2021, 6, 9, 10, 18, 14)),
        ("Fri, 31 Feb 2020 10:00:00 GMT", None),
        ("Fri, 32 Jan 2020 10:00:00 GMT", None),
        ("Fri, 01 Jan 1600 10:00:00 GMT", None),
        ("Fri, 01 Jan 2020 24:00:00 GMT", None),
        ("Fri, 01 Jan 2020", None),
        ("", None),
    ],
)
def test_parse_cookie_date(text: str, expected: tuple[int, ...] | None) -> None:
    result = parse_cookie_date(text)
    if expected is None:
        assert result is None
    else:
        assert result == float(calendar.timegm((*expected,)))


def test_far_future_expiry_is_clamped() -> None:
    jar = jar_with(WWW, "a=1; Max-Age=99999999999999")
    (cookie,) = list(jar)
    assert cookie.expires == 253402300799.0


def test_unknown_attributes_are_ignored_and_deleting_one_keeps_siblings() -> None:
    jar = jar_with(WWW, "a=1; Priority=High; Partitioned", "b=2")
    jar.extract(WWW, ["a=; Max-Age=0"], NOW)
    assert jar.header_for(WWW, NOW) == "b=2"


def test_names_ending_in_digits_are_not_ip_addresses() -> None:
    jar = jar_with(URL("http://api.node1/"), "a=1")
    assert jar.header_for(URL("http://api.node1/x"), NOW) == "a=1"
    assert jar.header_for(URL("http://v2.api.node1/x"), NOW) is None  # host-only
