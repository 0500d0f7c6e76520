"""Redirect plans: RFC 9110 method rules, credential stripping, downgrade, limits."""

from __future__ import annotations

import pytest

from flext_api._exceptions import (
    InvalidRedirectLocation,
    RedirectDowngrade,
    TooManyRedirects,
)
from flext_api._headers import Headers
from flext_api._sansio.redirects import RedirectPlan, RedirectTracker, next_request_for_redirect
from flext_api._urls import URL

BASE = URL("https://api.example/v1/items?page=1")
BODY_HEADERS = Headers({"content-type": "application/json", "content-length": "2"})


def plan_for(
    status: int,
    location: str | None,
    method: str = "GET",
    url: URL = BASE,
    headers: Headers | None = None,
    *,
    allow_downgrade: bool = False,
) -> RedirectPlan:
    result = next_request_for_redirect(
        method, url, status, location, headers or Headers(), allow_downgrade=allow_downgrade
    )
    assert isinstance(result, RedirectPlan), result
    return result


# RFC 9110 section 15.4: (status, method in, method out, body dropped)
@pytest.mark.parametrize(
    ("status", "method", "new_method", "drop_body"),
    [
        (301, "GET", "GET", False),
        (301, "POST", "GET", True),
        (301, "PUT", "PUT", False),
        (302, "POST", "GET", True),
        (302, "DELETE", "DELETE", False),
        (302, "HEAD", "HEAD", False),
        (303, "POST", "GET", True),
        (303, "PUT", "GET", True),
        (303, "GET", "GET", True),
        (303, "HEAD", "HEAD", True),
        (307, "POST", "POST", False),
        (307, "PATCH", "PATCH", False),
        (308, "POST", "POST", False),
        (308, "PUT", "PUT", False),
    ],
)
def test_method_and_body_rules(status: int, method: str, new_method: str, drop_body: bool) -> None:
    plan = plan_for(status, "/next", method, headers=BODY_HEADERS.copy())
    assert plan.method == new_method
    assert plan.drop_body is drop_body
    dropped = {"content-type", "content-length"} & set(plan.headers_to_drop)
    assert dropped == ({"content-type", "content-length"} if drop_body else set())


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/other", "https://api.example/other"),
        ("next", "https://api.example/v1/next"),
        ("../up", "https://api.example/up"),
        ("?page=2", "https://api.example/v1/items?page=2"),
        ("//cdn.example/x", "https://cdn.example/x"),
        ("https://other.example/a b", "https://other.example/a%20b"),
        ("https://api.example/caf\u00c3\u00a9", "https://api.example/caf%C3%A9"),  # raw UTF-8
    ],
)
def test_location_resolution(location: str, expected: str) -> None:
    assert str(plan_for(302, location).url) == expected


@pytest.mark.parametrize(
    ("request_url", "location", "expected_fragment"),
    [
        ("https://a.example/x#frag", "/y", "frag"),  # inherited (RFC 9110 10.2.2)
        ("https://a.example/x#frag", "/y#own", "own"),  # Location's own fragment wins
        ("https://a.example/x", "/y#own", "own"),
        ("https://a.example/x", "/y", ""),
    ],
)
def test_fragment_inheritance(request_url: str, location: str, expected_fragment: str) -> None:
    assert plan_for(301, location, url=URL(request_url)).url.fragment == expected_fragment


def test_not_a_redirect() -> None:
    headers = Headers()
    for status in (200, 300, 304, 305, 404):
        assert next_request_for_redirect("GET", BASE, status, "/x", headers) is None
    assert next_request_for_redirect("GET", BASE, 302, None, headers) is None


CREDENTIALS = {"authorization": "Bearer t", "cookie": "sid=1", "x-api-key": "k", "accept": "*/*"}


@pytest.mark.parametrize(
    ("request_url", "location", "stripped"),
    [
        ("https://api.example/a", "/b", False),  # same origin
        ("https://api.example/a", "https://api.example:443/b", False),
        ("https://api.example/a", "https://evil.example/b", True),
        ("https://api.example/a", "https://api.example:8443/b", True),  # port is origin
        ("https://api.example/a", "https://sub.api.example/b", True),
        ("http://api.example/a", "https://api.example/b", False),  # upgrade, same host
        ("http://api.example:8080/a", "https://api.example/b", True),
    ],
)
def test_credentials_never_cross_origins(request_url: str, location: str, stripped: bool) -> None:
    plan = next_request_for_redirect(
        "GET",
        URL(request_url),
        302,
        location,
        Headers(CREDENTIALS),
        sensitive_headers=("X-API-Key",),
    )
    assert isinstance(plan, RedirectPlan)
    dropped = {"authorization", "cookie", "x-api-key"} & set(plan.headers_to_drop)
    assert dropped == ({"authorization", "cookie", "x-api-key"} if stripped else set())
    assert "accept" not in plan.headers_to_drop
    assert plan.cross_origin == (URL(request_url).origin != plan.url.origin)
    assert ("host" in plan.headers_to_drop) == plan.cross_origin


def test_https_to_http_downgrade_refused_unless_allowed() -> None:
    refused = next_request_for_redirect("GET", BASE, 302, "http://api.example/x", Headers())
    assert isinstance(refused, RedirectDowngrade)
    assert refused.code == "REDIRECT_DOWNGRADE"
    allowed = plan_for(302, "http://api.example/x", allow_downgrade=True)
    assert allowed.url.scheme == "http"
    assert "authorization" not in allowed.headers_to_drop  # nothing to drop here
    with_auth = next_request_for_redirect(
        "GET",
        BASE,
        302,
        "http://api.example/x",
        Headers({"authorization": "x"}),
        allow_downgrade=True,
    )
    assert isinstance(with_auth, RedirectPlan)
    assert "authorization" in with_auth.headers_to_drop  # a downgrade is another origin


@pytest.mark.parametrize(
    "location",
    [
        "",
        "   ",
        "http://bad host/",
        "ftp://files.example/x",
        "javascript:alert(1)",
        "https://[::1/",
    ],
)
def test_bad_locations_are_errors(location: str) -> None:
    error = next_request_for_redirect("GET", BASE, 302, location, Headers())
    assert isinstance(error, InvalidRedirectLocation)
    assert error.code == "REDIRECT_LOCATION_INVALID"


def test_errors_never_show_the_password() -> None:
    url = URL("https://user:hunter2@api.example/a")
    error = next_request_for_redirect("GET", url, 302, "http://api.example/", Headers())
    assert isinstance(error, RedirectDowngrade)
    assert "hunter2" not in error.message
    assert error.url is not None and "hunter2" not in error.url


def test_tracker_limit_and_history() -> None:
    tracker = RedirectTracker(max_redirects=2)
    url = URL("https://a.example/0")
    for i in range(2):
        plan = tracker.follow("GET", url, 302, f"/{i + 1}", Headers())
        assert isinstance(plan, RedirectPlan)
        url = plan.url
    assert [str(u) for u in tracker.history] == [
        "https://a.example/0",
        "https://a.example/1",
        "https://a.example/2",
    ]
    assert tracker.redirects == 2
    error = tracker.follow("GET", url, 302, "/3", Headers())
    assert isinstance(error, TooManyRedirects)
    assert error.code == "TOO_MANY_REDIRECTS"
    assert "https://a.example/0" in error.message
    assert tracker.follow("GET", url, 200, None, Headers()) is None


def test_tracker_passes_options_and_errors_through() -> None:
    tracker = RedirectTracker(allow_downgrade=True, sensitive_headers=("x-token",))
    plan = tracker.follow(
        "GET", URL("https://a.example/"), 302, "http://b.example/", Headers({"x-token": "s"})
    )
    assert isinstance(plan, RedirectPlan)
    assert "x-token" in plan.headers_to_drop
    assert isinstance(
        RedirectTracker().follow("GET", URL("https://a.example/"), 302, "ftp://x/", Headers()),
        InvalidRedirectLocation,
    )
    with pytest.raises(ValueError):
        RedirectTracker(max_redirects=-1)
