"""Pagination for generated clients: what the next page's request is, decided without I/O.

Generated ``iter_<operation>`` methods (sync and async alike) send a page, decode it, and ask
a :class:`Pages` for the items to yield and for the next request; the rule itself
(:class:`PageRule`) is written into the generated package by the generator. Styles:

- ``link-header``: the ``Link`` header's ``rel="next"`` target (RFC 8288);
- ``next-url``: a URL in the page (``PageRule.source`` names where);
- ``cursor``: a cursor in the page, sent back in the ``param`` argument;
- ``after-item``: the last item's ``item_key`` sent in ``param``;
- ``offset``: ``param`` advanced by the number of items received;
- ``page``: ``param`` advanced by one.

Iteration stops on the last page: no next URL or cursor (or the same one again), an empty
page, or, for the counting styles, a page shorter than the page size the caller asked for.
``max_items`` and ``max_pages`` stop it earlier.

Never: follow a next URL to another origin than the first request's (credentials would go
with it), or loop on a page that repeats its own cursor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from flext_api._models import Response
from flext_api.codegen_auth import RequestParts

__all__ = ["PageRule", "Pages", "link_next"]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PageRule:
    """How an operation pages (see the module docstring for ``style``)."""

    style: str
    items: tuple[str, ...] = ()
    param: str | None = None
    size: str | None = None
    source: tuple[str, ...] = ()
    item_key: str | None = None


def link_next(header: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header value, or ``None``."""
    for match in _LINK.finditer(header):
        for rel in _REL_NEXT.findall(match.group(2)):
            if "next" in rel.lower().split():
                return match.group(1).strip()
    return None


class Pages:
    """The state of one iteration: the arguments of the current request, the counts, and
    the next request (``None``: the iteration is over)."""

    __slots__ = ("_arguments", "_items", "_max_items", "_max_pages", "_origin", "_pages",
                 "_rule", "_seen")  # fmt: skip

    def __init__(
        self,
        rule: PageRule,
        arguments: Mapping[str, Any],
        *,
        max_items: int | None = None,
        max_pages: int | None = None,
    ) -> None:
        for name, limit in (("max_items", max_items), ("max_pages", max_pages)):
            if limit is not None and limit < 1:
                raise ValueError(f"{name}={limit!r}: give a count of at least 1, or None")
        self._rule = rule
        self._arguments = dict(arguments)
        self._max_items = max_items
        self._max_pages = max_pages
        self._items = 0
        self._pages = 0
        self._origin: tuple[str, str] | None = None
        self._seen: set[str] = set()

    @property
    def arguments(self) -> dict[str, Any]:
        """The arguments the next builder call gets (counting and cursor styles)."""
        return self._arguments

    def take(self, page: object) -> list[Any]:
        """The items of ``page`` to yield (cut at ``max_items``)."""
        self._pages += 1
        items = list(_get(page, self._rule.items) or ())
        if self._max_items is not None:
            items = items[: self._max_items - self._items]
        self._items += len(items)
        return items

    def next_request(
        self,
        page: object,
        response: Response,
        build: Callable[..., RequestParts],
    ) -> RequestParts | None:
        """The request of the next page, or ``None`` on the last page."""
        rule = self._rule
        if self._origin is None:
            self._origin = _origin(str(response.request.url))
        if self._done():
            return None
        received = list(_get(page, rule.items) or ())
        if rule.style in ("link-header", "next-url"):
            if rule.style == "link-header":
                target = link_next(response.headers.get("link") or "")
            else:
                value = _get(page, rule.source)
                target = value if isinstance(value, str) and value else None
            if target is None:
                return None
            url = urljoin(str(response.request.url), target)
            if _origin(url) != self._origin or url in self._seen:
                return None  # another origin: never send credentials there; a loop: stop
            self._seen.add(url)
            return RequestParts("GET", url)
        if not received:
            return None
        assert rule.param is not None  # the generator sets it for these styles
        if rule.style == "cursor":
            cursor = _get(page, rule.source)
            if not isinstance(cursor, str) or not cursor or cursor in self._seen:
                return None
            self._seen.add(cursor)
            self._arguments[rule.param] = cursor
            return build(**self._arguments)
        if self._short(received):
            return None
        if rule.style == "after-item":
            last = _get(received[-1], (rule.item_key or "id",))
            if last is None or str(last) in self._seen:
                return None
            self._seen.add(str(last))
            self._arguments[rule.param] = last
        elif rule.style == "offset":
            self._arguments[rule.param] = (self._arguments.get(rule.param) or 0) + len(received)
        else:  # page
            self._arguments[rule.param] = (self._arguments.get(rule.param) or 1) + 1
        return build(**self._arguments)

    def _done(self) -> bool:
        if self._max_pages is not None and self._pages >= self._max_pages:
            return True
        return self._max_items is not None and self._items >= self._max_items

    def _short(self, received: list[Any]) -> bool:
        size = self._arguments.get(self._rule.size) if self._rule.size else None
        return isinstance(size, int) and len(received) < size


def _get(value: object, path: tuple[str, ...]) -> Any:
    for name in path:
        if value is None:
            return None
        value = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
    if type(value).__name__ == "UnsetType":
        return None
    return value


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
