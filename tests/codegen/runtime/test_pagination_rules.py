"""The pure pagination decisions generated clients rely on (flext_api.codegen_pagination):
RFC 8288's Link header examples, each style's next request and its stop conditions, and the
guards (another origin, a repeated cursor or URL, max_items/max_pages)."""

from __future__ import annotations

from typing import Any

import pytest

from flext_api import URL, Headers, Request, Response
from flext_api.codegen_auth import RequestParts
from flext_api.codegen_pagination import PageRule, Pages, link_next


def _response(url: str = "https://api.test/v1/items?page=1", link: str | None = None) -> Response:
    headers = Headers([("link", link)] if link is not None else [])
    request = Request("GET", URL(url), Headers([]))
    return Response(200, headers, b"", request=request)


def _build(**arguments: Any) -> RequestParts:
    query = "&".join(f"{k}={v}" for k, v in arguments.items() if v is not None)
    return RequestParts("GET", "/items", query)


@pytest.mark.parametrize(
    ("header", "target"),
    [
        # RFC 8288 section 3.5's examples, and the shapes APIs send.
        ('<http://example.com/TheBook/chapter2>; rel="previous"; title="previous chapter"', None),
        ("</>; rel=\"http://example.net/foo\"", None),
        ('<https://api.test/items?page=2>; rel="next", <https://api.test/items?page=9>; rel="last"',
         "https://api.test/items?page=2"),
        ('<https://api.test/items?page=9>; rel="last",<https://api.test/items?page=2>; rel=next',
         "https://api.test/items?page=2"),
        ('<https://api.test/p3>; rel="prev next"', "https://api.test/p3"),
        ('<https://api.test/p3>; REL="Next"', "https://api.test/p3"),
        ("", None),
        ("garbage without brackets; rel=next", None),
    ],
)  # fmt: skip
def test_link_header_next(header: str, target: str | None) -> None:
    assert link_next(header) == target


def test_link_header_pages_follow_next_and_stop_without_it() -> None:
    pages = Pages(PageRule("link-header"), {})
    first = pages.next_request([1, 2], _response(link='</v1/items?page=2>; rel="next"'), _build)
    assert first == RequestParts("GET", "https://api.test/v1/items?page=2")
    assert pages.next_request([3], _response(link='<x>; rel="last"'), _build) is None


def test_a_next_url_on_another_origin_is_never_followed() -> None:
    rule = PageRule("next-url", items=("data",), source=("meta", "next"))
    pages = Pages(rule, {})
    page = {"data": [1], "meta": {"next": "https://evil.test/steal?page=2"}}
    assert pages.next_request(page, _response(), _build) is None
    page = {"data": [1], "meta": {"next": "http://api.test/v1/items?page=2"}}  # scheme differs
    assert pages.next_request(page, _response(), _build) is None


def test_a_repeated_next_url_or_cursor_ends_the_iteration() -> None:
    rule = PageRule("next-url", items=("data",), source=("next",))
    pages = Pages(rule, {})
    page = {"data": [1], "next": "/v1/items?page=2"}
    assert pages.next_request(page, _response(), _build) is not None
    assert pages.next_request(page, _response(), _build) is None
    cursor = Pages(PageRule("cursor", items=("data",), param="cursor", source=("next",)), {})
    page = {"data": [1], "next": "abc"}
    assert cursor.next_request(page, _response(), _build) == _build(cursor="abc")
    assert cursor.next_request(page, _response(), _build) is None
    assert cursor.next_request({"data": [1], "next": ""}, _response(), _build) is None


def test_counting_styles_stop_on_an_empty_or_short_page() -> None:
    offset = Pages(PageRule("offset", param="offset", size="limit"), {"limit": 2})
    assert offset.next_request([1, 2], _response(), _build) == _build(limit=2, offset=2)
    assert offset.next_request([3, 4], _response(), _build) == _build(limit=2, offset=4)
    assert offset.next_request([5], _response(), _build) is None  # shorter than the limit
    page = Pages(PageRule("page", param="page"), {"page": None})
    assert page.next_request([1], _response(), _build) == _build(page=2)
    assert page.next_request([], _response(), _build) is None  # empty: the end
    after = Pages(PageRule("after-item", param="after", item_key="id"), {})
    assert after.next_request([{"id": "7"}, {"id": "9"}], _response(), _build) == _build(after="9")
    assert after.next_request([{"id": "9"}], _response(), _build) is None  # the same again


def test_max_items_cuts_the_page_and_max_pages_stops_after_it() -> None:
    pages = Pages(PageRule("page", param="page"), {}, max_items=3)
    assert pages.take([1, 2]) == [1, 2]
    assert pages.next_request([1, 2], _response(), _build) is not None
    assert pages.take([3, 4]) == [3]
    assert pages.next_request([3, 4], _response(), _build) is None
    once = Pages(PageRule("page", param="page"), {}, max_pages=1)
    assert once.take([1, 2]) == [1, 2]
    assert once.next_request([1, 2], _response(), _build) is None
    for bad in ({"max_items": 0}, {"max_pages": -1}):
        with pytest.raises(ValueError, match="at least 1"):
            Pages(PageRule("page", param="page"), {}, **bad)


def test_unset_and_missing_values_end_the_iteration() -> None:
    import msgspec

    class Meta(msgspec.Struct):
        next: str | msgspec.UnsetType = msgspec.UNSET

    class Page(msgspec.Struct):
        data: list[int]
        meta: Meta | None = None

    rule = PageRule("next-url", items=("data",), source=("meta", "next"))
    assert Pages(rule, {}).next_request(Page([1], Meta()), _response(), _build) is None
    assert Pages(rule, {}).next_request(Page([1], None), _response(), _build) is None
    assert Pages(rule, {}).take(Page([1, 2])) == [1, 2]
