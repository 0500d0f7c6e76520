"""RFC 9111 decisions as tables, with a fake clock (no sleeping, no I/O).

Categories mirror the public HTTP caching test suites: freshness, heuristics, validation,
header updates, Vary, invalidation, status codes, no-store, stale serving (RFC 5861) and the
shared mode. Every row states the headers involved, the time elapsed and the expected decision.
"""

from __future__ import annotations

from email.utils import formatdate

import pytest

from flext_api import Headers
from flext_api._sansio.http_cache import (
    Decision,
    HTTPCachePolicy,
    StoredResponse,
    parse_cache_control,
)

T0 = 1_700_000_000.0  # the fake clock's start: when the response was received


def date(offset: float) -> str:
    return formatdate(T0 + offset, usegmt=True)


def stored(
    headers: dict[str, str],
    *,
    status: int = 200,
    shared: bool = False,
    request: dict[str, str] | None = None,
    delay: float = 0.0,
) -> StoredResponse:
    policy = HTTPCachePolicy(shared=shared)
    fields = {"Date": date(0), **headers}
    return policy.store(
        "GET",
        "http://example.test/r",
        Headers(request or {}),
        status,
        list(fields.items()),
        request_time=T0 - delay,
        response_time=T0,
    )


def decide(
    headers: dict[str, str],
    elapsed: float,
    *,
    request: dict[str, str] | None = None,
    shared: bool = False,
    stored_with: dict[str, str] | None = None,
) -> Decision:
    entry = stored(headers, shared=shared, request=stored_with)
    policy = HTTPCachePolicy(shared=shared)
    return policy.lookup(Headers(request or {}), entry, T0 + elapsed).decision


FRESHNESS = [
    ("max-age fresh", {"Cache-Control": "max-age=60"}, 59, Decision.FRESH),
    ("max-age stale at the limit", {"Cache-Control": "max-age=60"}, 60, Decision.MISS),
    ("max-age=0", {"Cache-Control": "max-age=0"}, 0, Decision.MISS),
    ("invalid max-age is stale", {"Cache-Control": "max-age=abc"}, 0, Decision.MISS),
    ("Expires in the future", {"Expires": date(100)}, 99, Decision.FRESH),
    ("Expires reached", {"Expires": date(100)}, 101, Decision.MISS),
    ("invalid Expires is stale", {"Expires": "0"}, 0, Decision.MISS),
    (
        "max-age beats Expires",
        {"Cache-Control": "max-age=10", "Expires": date(100)},
        50,
        Decision.MISS,
    ),
    ("Age counts", {"Cache-Control": "max-age=60", "Age": "50"}, 11, Decision.MISS),
    ("Age within", {"Cache-Control": "max-age=60", "Age": "50"}, 9, Decision.FRESH),
    ("Date in the past ages", {"Cache-Control": "max-age=60", "Date": date(-55)}, 6, Decision.MISS),
    (
        "no-cache always validates",
        {"Cache-Control": "no-cache", "ETag": '"a"'},
        0,
        Decision.VALIDATE,
    ),
    (
        "stale with ETag validates",
        {"Cache-Control": "max-age=1", "ETag": '"a"'},
        5,
        Decision.VALIDATE,
    ),
    (
        "stale with Last-Modified validates",
        {"Cache-Control": "max-age=1", "Last-Modified": date(-10)},
        5,
        Decision.VALIDATE,
    ),
]


@pytest.mark.parametrize(
    ("headers", "elapsed", "expected"), [r[1:] for r in FRESHNESS], ids=[r[0] for r in FRESHNESS]
)
def test_freshness(headers: dict[str, str], elapsed: float, expected: Decision) -> None:
    assert decide(headers, elapsed) is expected


REQUEST_DIRECTIVES = [
    ("request no-cache", {"Cache-Control": "no-cache"}, 0, Decision.VALIDATE),
    ("Pragma no-cache", {"Pragma": "no-cache"}, 0, Decision.VALIDATE),
    (
        "Cache-Control wins over Pragma",
        {"Pragma": "no-cache", "Cache-Control": "max-stale"},
        0,
        Decision.FRESH,
    ),
    ("request max-age exceeded", {"Cache-Control": "max-age=5"}, 10, Decision.VALIDATE),
    ("request max-age within", {"Cache-Control": "max-age=50"}, 10, Decision.FRESH),
    ("min-fresh not met", {"Cache-Control": "min-fresh=55"}, 10, Decision.VALIDATE),
    ("min-fresh met", {"Cache-Control": "min-fresh=5"}, 10, Decision.FRESH),
    ("max-stale without limit", {"Cache-Control": "max-stale"}, 500, Decision.STALE),
    ("max-stale within", {"Cache-Control": "max-stale=100"}, 150, Decision.STALE),
    ("max-stale beyond", {"Cache-Control": "max-stale=100"}, 170, Decision.VALIDATE),
    ("only-if-cached stale", {"Cache-Control": "only-if-cached"}, 500, Decision.STALE),
]


@pytest.mark.parametrize(
    ("request_headers", "elapsed", "expected"),
    [r[1:] for r in REQUEST_DIRECTIVES],
    ids=[r[0] for r in REQUEST_DIRECTIVES],
)
def test_request_directives(
    request_headers: dict[str, str], elapsed: float, expected: Decision
) -> None:
    headers = {"Cache-Control": "max-age=60", "ETag": '"v1"'}
    assert decide(headers, elapsed, request=request_headers) is expected


def test_only_if_cached_with_nothing_stored_is_a_gateway_timeout() -> None:
    policy = HTTPCachePolicy()
    lookup = policy.lookup(Headers({"Cache-Control": "only-if-cached"}), None, T0)
    assert lookup.decision is Decision.ONLY_IF_CACHED


HEURISTICS = [
    ("10% of Last-Modified age", {"Last-Modified": date(-1000)}, 99, 200, Decision.FRESH),
    ("10% elapsed", {"Last-Modified": date(-1000)}, 101, 200, Decision.VALIDATE),
    ("404 is heuristically cacheable", {"Last-Modified": date(-1000)}, 50, 404, Decision.FRESH),
    (
        "public allows 302",
        {"Last-Modified": date(-1000), "Cache-Control": "public"},
        50,
        302,
        Decision.FRESH,
    ),
    ("302 not heuristically fresh", {"Last-Modified": date(-1000)}, 50, 302, Decision.VALIDATE),
    ("Last-Modified after Date", {"Last-Modified": date(100)}, 1, 200, Decision.VALIDATE),
]


@pytest.mark.parametrize(
    ("headers", "elapsed", "status", "expected"),
    [r[1:] for r in HEURISTICS],
    ids=[r[0] for r in HEURISTICS],
)
def test_heuristic_freshness(
    headers: dict[str, str], elapsed: float, status: int, expected: Decision
) -> None:
    entry = stored(headers, status=status)
    assert HTTPCachePolicy().lookup(Headers(), entry, T0 + elapsed).decision is expected


def test_heuristic_fraction_is_configurable() -> None:
    entry = stored({"Last-Modified": date(-1000)})
    assert HTTPCachePolicy(heuristic_fraction=0.5).freshness_lifetime(entry) == 500
    with pytest.raises(ValueError, match="heuristic_fraction"):
        HTTPCachePolicy(heuristic_fraction=2)


def test_age_accounts_for_the_response_delay() -> None:
    # Section 4.2.3: a response that took 4 s to arrive with Age: 10 is 14 s old on arrival.
    entry = stored({"Cache-Control": "max-age=60", "Age": "10"}, delay=4)
    assert HTTPCachePolicy.current_age(entry, T0) == 14
    assert HTTPCachePolicy.current_age(entry, T0 + 6) == 20


VALIDATION = [
    ("ETag", {"ETag": '"abc"'}, [("If-None-Match", '"abc"')]),
    ("Last-Modified", {"Last-Modified": date(-10)}, [("If-Modified-Since", date(-10))]),
    (
        "both",
        {"ETag": 'W/"x"', "Last-Modified": date(-10)},
        [("If-None-Match", 'W/"x"'), ("If-Modified-Since", date(-10))],
    ),
    ("none", {}, []),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [r[1:] for r in VALIDATION], ids=[r[0] for r in VALIDATION]
)
def test_conditional_headers(headers: dict[str, str], expected: list[tuple[str, str]]) -> None:
    entry = stored({"Cache-Control": "max-age=0", **headers})
    assert HTTPCachePolicy.conditional_headers(entry) == expected


@pytest.mark.parametrize(
    ("stored_headers", "not_modified", "matches"),
    [
        ({"ETag": '"a"'}, {"ETag": '"a"'}, True),
        ({"ETag": '"a"'}, {"ETag": '"b"'}, False),
        ({"Last-Modified": date(-5)}, {"Last-Modified": date(-5)}, True),
        ({"Last-Modified": date(-5)}, {"Last-Modified": date(-1)}, False),
        ({"ETag": '"a"'}, {}, True),
    ],
)
def test_a_304_updates_only_the_response_it_names(
    stored_headers: dict[str, str], not_modified: dict[str, str], matches: bool
) -> None:
    entry = stored({"Cache-Control": "max-age=0", **stored_headers})
    assert HTTPCachePolicy.validator_matches(entry, Headers(not_modified)) is matches


def test_a_304_replaces_headers_and_times_but_not_content_length() -> None:
    entry = stored(
        {"Cache-Control": "max-age=0", "ETag": '"a"', "Content-Length": "5", "X-Old": "1"}
    )
    refreshed = HTTPCachePolicy.refresh(
        entry,
        [
            ("Cache-Control", "max-age=30"),
            ("Content-Length", "0"),
            ("X-New", "2"),
            ("Connection", "close"),
        ],
        request_time=T0 + 100,
        response_time=T0 + 101,
    )
    assert refreshed.header("cache-control") == "max-age=30"
    assert refreshed.header("content-length") == "5"
    assert refreshed.header("x-old") == "1"
    assert refreshed.header("x-new") == "2"
    assert refreshed.header("connection") is None
    assert refreshed.response_time == T0 + 101
    # Fresh again for 30 s from the 304 (Date still says T0: the corrected age wins).
    policy = HTTPCachePolicy()
    assert policy.lookup(Headers(), refreshed, T0 + 110).decision is Decision.VALIDATE
    refreshed = HTTPCachePolicy.refresh(
        entry,
        [("Cache-Control", "max-age=30"), ("Date", date(101))],
        request_time=T0 + 100,
        response_time=T0 + 101,
    )
    assert policy.lookup(Headers(), refreshed, T0 + 110).decision is Decision.FRESH


VARY = [
    ("same value", "Accept", {"Accept": "a/b"}, {"Accept": "a/b"}, Decision.FRESH),
    ("other value", "Accept", {"Accept": "a/b"}, {"Accept": "c/d"}, Decision.MISS),
    ("absent both", "Accept", {}, {}, Decision.FRESH),
    ("absent now", "Accept", {"Accept": "a/b"}, {}, Decision.MISS),
    (
        "whitespace normalised",
        "Accept",
        {"Accept": "a/b,  c/d"},
        {"Accept": "a/b, c/d"},
        Decision.FRESH,
    ),
    (
        "two fields, one differs",
        "Accept, Accept-Language",
        {"Accept": "a/b", "Accept-Language": "en"},
        {"Accept": "a/b", "Accept-Language": "fr"},
        Decision.MISS,
    ),
    (
        "field name case",
        "ACCEPT-language",
        {"Accept-Language": "en"},
        {"accept-language": "en"},
        Decision.FRESH,
    ),
]


@pytest.mark.parametrize(
    ("vary", "first", "second", "expected"), [r[1:] for r in VARY], ids=[r[0] for r in VARY]
)
def test_vary(vary: str, first: dict[str, str], second: dict[str, str], expected: Decision) -> None:
    headers = {"Cache-Control": "max-age=60", "Vary": vary}
    assert decide(headers, 1, request=second, stored_with=first) is expected


def test_vary_star_is_never_stored() -> None:
    policy = HTTPCachePolicy()
    response = Headers({"Cache-Control": "max-age=60", "Vary": "Accept, *"})
    assert not policy.is_storable("GET", Headers(), 200, response)


INVALIDATION = [
    ("POST 200", "POST", 201, {}, ["http://a.test/x"]),
    ("DELETE 204", "DELETE", 204, {}, ["http://a.test/x"]),
    ("PUT with Location", "PUT", 200, {"Location": "/y"}, ["http://a.test/x", "http://a.test/y"]),
    (
        "Content-Location relative",
        "PATCH",
        200,
        {"Content-Location": "z"},
        ["http://a.test/x", "http://a.test/z"],
    ),
    ("other origin ignored", "POST", 303, {"Location": "http://b.test/y"}, ["http://a.test/x"]),
    ("error leaves it", "POST", 500, {}, []),
    ("GET never", "GET", 200, {}, []),
    ("HEAD never", "HEAD", 200, {}, []),
    ("unknown method invalidates", "PURGE", 200, {}, ["http://a.test/x"]),
]


@pytest.mark.parametrize(
    ("method", "status", "headers", "expected"),
    [r[1:] for r in INVALIDATION],
    ids=[r[0] for r in INVALIDATION],
)
def test_invalidation(
    method: str, status: int, headers: dict[str, str], expected: list[str]
) -> None:
    urls = HTTPCachePolicy.invalidated(method, status, "http://a.test/x", Headers(headers))
    assert urls == expected


STATUS_CODES = [
    (200, {}, True),
    (203, {}, True),
    (204, {}, True),
    (300, {}, True),
    (301, {}, True),
    (308, {}, True),
    (404, {}, True),
    (405, {}, True),
    (410, {}, True),
    (414, {}, True),
    (501, {}, True),
    (302, {}, False),
    (307, {}, False),
    (500, {}, False),
    (302, {"Cache-Control": "max-age=10"}, True),
    (500, {"Cache-Control": "max-age=10"}, True),
    (206, {"Cache-Control": "max-age=10"}, False),
    (304, {"Cache-Control": "max-age=10"}, False),
    (299, {"Cache-Control": "max-age=10"}, False),
    (201, {}, False),
]


@pytest.mark.parametrize(("status", "extra", "storable"), STATUS_CODES)
def test_status_codes(status: int, extra: dict[str, str], storable: bool) -> None:
    response = Headers({"ETag": '"a"', **extra})
    assert HTTPCachePolicy().is_storable("GET", Headers(), status, response) is storable


NO_STORE = [
    ("response no-store", {}, {"Cache-Control": "no-store, max-age=60"}, False, False),
    (
        "request no-store",
        {"Cache-Control": "no-store"},
        {"Cache-Control": "max-age=60"},
        False,
        False,
    ),
    ("private in private mode", {}, {"Cache-Control": "private, max-age=60"}, False, True),
    ("private in shared mode", {}, {"Cache-Control": "private, max-age=60"}, True, False),
    ("authorization shared", {"Authorization": "x"}, {"Cache-Control": "max-age=60"}, True, False),
    (
        "authorization shared, public",
        {"Authorization": "x"},
        {"Cache-Control": "public, max-age=60"},
        True,
        True,
    ),
    (
        "authorization shared, s-maxage",
        {"Authorization": "x"},
        {"Cache-Control": "s-maxage=60"},
        True,
        True,
    ),
    ("authorization private", {"Authorization": "x"}, {"Cache-Control": "max-age=60"}, False, True),
    ("nothing to serve it by", {}, {}, False, False),
]


@pytest.mark.parametrize(
    ("request_headers", "response", "shared", "storable"),
    [r[1:] for r in NO_STORE],
    ids=[r[0] for r in NO_STORE],
)
def test_no_store_and_modes(
    request_headers: dict[str, str], response: dict[str, str], shared: bool, storable: bool
) -> None:
    policy = HTTPCachePolicy(shared=shared)
    got = policy.is_storable("GET", Headers(request_headers), 200, Headers(response))
    assert got is storable


def test_only_get_is_stored() -> None:
    policy = HTTPCachePolicy()
    response = Headers({"Cache-Control": "max-age=60"})
    assert not policy.is_storable("POST", Headers(), 200, response)
    assert not policy.is_storable("HEAD", Headers(), 200, response)


SHARED = [
    (
        "s-maxage wins when shared",
        {"Cache-Control": "max-age=100, s-maxage=10"},
        20,
        True,
        Decision.VALIDATE,
    ),
    (
        "s-maxage ignored when private",
        {"Cache-Control": "max-age=100, s-maxage=10"},
        20,
        False,
        Decision.FRESH,
    ),
    (
        "proxy-revalidate forbids stale when shared",
        {"Cache-Control": "max-age=1, proxy-revalidate, stale-while-revalidate=100"},
        5,
        True,
        Decision.VALIDATE,
    ),
    (
        "proxy-revalidate is for proxies",
        {"Cache-Control": "max-age=1, proxy-revalidate, stale-while-revalidate=100"},
        5,
        False,
        Decision.STALE,
    ),
]


@pytest.mark.parametrize(
    ("headers", "elapsed", "shared", "expected"),
    [r[1:] for r in SHARED],
    ids=[r[0] for r in SHARED],
)
def test_shared_mode(
    headers: dict[str, str], elapsed: float, shared: bool, expected: Decision
) -> None:
    assert decide({"ETag": '"e"', **headers}, elapsed, shared=shared) is expected


def test_shared_mode_drops_fields_named_by_private() -> None:
    entry = stored(
        {"Cache-Control": 'max-age=60, private="X-User"', "X-User": "ann", "X-Other": "1"},
        shared=True,
    )
    assert entry.header("x-user") is None
    assert entry.header("x-other") == "1"


STALE = [
    ("swr within", "max-age=10, stale-while-revalidate=30", 35, Decision.STALE),
    ("swr beyond", "max-age=10, stale-while-revalidate=30", 45, Decision.VALIDATE),
    (
        "must-revalidate forbids swr",
        "max-age=10, must-revalidate, stale-while-revalidate=30",
        15,
        Decision.VALIDATE,
    ),
]


@pytest.mark.parametrize(
    ("cache_control", "elapsed", "expected"), [r[1:] for r in STALE], ids=[r[0] for r in STALE]
)
def test_stale_while_revalidate(cache_control: str, elapsed: float, expected: Decision) -> None:
    assert decide({"Cache-Control": cache_control, "ETag": '"e"'}, elapsed) is expected


@pytest.mark.parametrize(
    ("cache_control", "request_cc", "elapsed", "allowed"),
    [
        ("max-age=10, stale-if-error=60", "", 50, True),
        ("max-age=10, stale-if-error=60", "", 80, False),
        ("max-age=10", "stale-if-error=60", 50, True),
        ("max-age=10", "", 11, False),
        ("max-age=10, must-revalidate, stale-if-error=60", "", 50, False),
    ],
)
def test_stale_if_error(cache_control: str, request_cc: str, elapsed: float, allowed: bool) -> None:
    entry = stored({"Cache-Control": cache_control})
    request = Headers({"Cache-Control": request_cc} if request_cc else {})
    assert HTTPCachePolicy().may_serve_stale_on_error(entry, request, T0 + elapsed) is allowed


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["max-age=5, no-cache"], {"max-age": "5", "no-cache": None}),
        (['no-cache="a, b", Private'], {"no-cache": "a, b", "private": None}),
        (["max-age=5", "max-age=9"], {"max-age": "5"}),
        ([" , ,"], {}),
    ],
)
def test_parse_cache_control(values: list[str], expected: dict[str, str | None]) -> None:
    assert parse_cache_control(values) == expected


def test_stored_entries_round_trip_through_msgpack() -> None:
    import msgspec

    entry = stored({"Cache-Control": "max-age=60", "Vary": "Accept"}, request={"Accept": "x"})
    data = msgspec.msgpack.encode(entry)
    assert msgspec.msgpack.decode(data, type=StoredResponse) == entry


@pytest.mark.parametrize(
    ("cache_control", "request_cc", "revalidate"),
    [
        ("max-age=10, stale-while-revalidate=30", "", True),
        ("max-age=10", "max-stale=100", False),
        ("max-age=10, stale-while-revalidate=5", "max-stale=100", False),
    ],
)
def test_only_the_stale_while_revalidate_window_asks_for_a_background_revalidation(
    cache_control: str, request_cc: str, revalidate: bool
) -> None:
    entry = stored({"Cache-Control": cache_control, "ETag": '"e"'})
    request = Headers({"Cache-Control": request_cc} if request_cc else {})
    lookup = HTTPCachePolicy().lookup(request, entry, T0 + 20)
    assert (lookup.decision, lookup.revalidate) == (Decision.STALE, revalidate)


HEADER_UPDATES = [
    ("new field added", {"X-A": "1"}, [("X-B", "2")], {"x-a": ["1"], "x-b": ["2"]}),
    ("same field replaced", {"X-A": "1"}, [("x-a", "9")], {"x-a": ["9"]}),
    (
        "Content-Length kept",
        {"Content-Length": "5"},
        [("Content-Length", "0")],
        {"content-length": ["5"]},
    ),
    (
        "hop-by-hop ignored",
        {"X-A": "1"},
        [("Keep-Alive", "timeout=5"), ("TE", "trailers")],
        {"x-a": ["1"], "keep-alive": [], "te": []},
    ),
    (
        "ETag and freshness",
        {"ETag": '"a"'},
        [("ETag", '"a"'), ("Cache-Control", "max-age=9")],
        {"etag": ['"a"'], "cache-control": ["max-age=9"]},
    ),
    (
        "multi-valued replaced whole",
        {"Link": "<a>"},
        [("Link", "<b>"), ("Link", "<c>")],
        {"link": ["<b>", "<c>"]},
    ),
]


@pytest.mark.parametrize(
    ("before", "update", "after"),
    [r[1:] for r in HEADER_UPDATES],
    ids=[r[0] for r in HEADER_UPDATES],
)
def test_header_updates_from_a_304(
    before: dict[str, str], update: list[tuple[str, str]], after: dict[str, list[str]]
) -> None:
    entry = stored({"Cache-Control": "max-age=0", **before})
    refreshed = HTTPCachePolicy.refresh(entry, update, request_time=T0, response_time=T0)
    assert {name: refreshed.header_list(name) for name in after} == after
