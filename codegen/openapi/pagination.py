"""Which operations are paginated, and how (CODEGEN.md G18).

Job: look at each GET operation's parameters and its success body and decide, by the first
rule that matches, how the next page is asked for:

1. ``x-pagination`` on the operation: the document says it (``style``, ``param``,
   ``items``, ``next``), checked against the operation;
2. ``link-header``: the success response declares a ``Link`` header (RFC 8288 ``rel=next``);
3. ``next-url``: the body carries the next page's URL (``next_page_url``, ``next_url``,
   ``nextLink``, a ``next`` string, or ``next.href``, at the top or under ``meta``,
   ``links``, ``_links``, ``pagination``);
4. ``cursor``: a cursor parameter (``cursor``, ``page_token``, ``next_token``...) and a
   cursor field in the body (``next_cursor``, ``next_page_token``, ``cursor``...);
5. ``after-item``: an ``after`` parameter over a list of objects with an ``id`` (the next
   page starts after the last item's id);
6. ``offset``: an ``offset`` parameter (with a page size from ``limit`` when there is one);
7. ``page``: a ``page`` parameter (with ``per_page``, ``page_size``, ``pageSize``... or
   ``limit`` as the page size).

The items are the body itself when it is an array, else its one array property (or, among
several, the one named ``data``, ``items``, ``results``...). An operation with a
pagination-looking parameter that no rule explains gets an info diagnostic.

Never: guess a rule from a name alone when the body cannot carry it (a cursor rule needs the
cursor field; a URL rule needs a string), or claim an operation whose items cannot be found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import ir
from .diagnostics import Diagnostics, join_pointer
from .plan import OperationPlan, Planner

__all__ = ["Pagination", "detect"]

_CURSOR_PARAMS = (
    "cursor",
    "page_token",
    "pagetoken",
    "next_token",
    "nexttoken",
    "marker",
    "continuation_token",
    "continuationtoken",
    "starting_after",
    "page_cursor",
)
_CURSOR_FIELDS = (
    "next_cursor",
    "nextcursor",
    "next_page_token",
    "nextpagetoken",
    "next_token",
    "nexttoken",
    "cursor",
    "next_marker",
    "nextmarker",
    "continuation_token",
)
_URL_FIELDS = (
    "next_page_url",
    "nextpageurl",
    "next_url",
    "nexturl",
    "next_link",
    "nextlink",
    "next_page_uri",
    "nextpageuri",
    "next",
)
_CONTAINERS = ("meta", "links", "_links", "pagination", "paging", "page_info", "response_metadata")
_SIZE_PARAMS = ("per_page", "perpage", "page_size", "pagesize", "size", "limit", "count")
_ITEM_NAMES = ("data", "items", "results", "records", "entries", "values", "elements")
_HINTS = frozenset(
    {
        "page",
        "offset",
        "cursor",
        "after",
        "page_token",
        "pagetoken",
        "next_token",
        "starting_after",
        "marker",
        "skip",
        "per_page",
        "page_size",
        "pagesize",
    }
)


@dataclass(frozen=True, slots=True)
class Pagination:
    """How one operation pages: ``style``, the argument it advances (``param``), the page size
    argument (``size``), where the items are (``items``: attribute names from the success
    value; empty = the value itself), where the next cursor or URL is (``source``), the item
    attribute an ``after-item`` page continues from (``item_key``), the item's annotation and
    the rule that matched (for docs/codegen.md and the method's docstring)."""

    style: str
    rule: str
    items: tuple[str, ...]
    item_annotation: str
    param: str | None = None
    size: str | None = None
    source: tuple[str, ...] = ()
    item_key: str | None = None


def detect(plan: OperationPlan, planner: Planner, diagnostics: Diagnostics) -> Pagination | None:
    """The pagination of ``plan``, or ``None``."""
    op = plan.op
    if op.method.upper() != "GET":
        return None
    ok = [r for r in op.responses if r.status.startswith("2")]
    body = next(
        (c.type for r in ok for c in r.contents if "json" in c.media_type and c.type is not None),
        None,
    )
    args = {p.param.name.lower(): p.arg for p in plan.params if p.param.location == "query"}
    hinted = sorted(set(args) & _HINTS)
    if body is None:
        return None
    found = _items(body, planner)
    if found is None:
        if hinted:
            _unmatched(op, diagnostics, hinted, "no list of items in its success body")
        return None
    items, item_type = found
    item_annotation = planner.render(item_type)
    size = next((args[n] for n in _SIZE_PARAMS if n in args), None)
    explicit = op.extensions.get("x-pagination")
    if isinstance(explicit, Mapping):
        return _explicit(
            explicit,
            args=args,
            items=items,
            item_annotation=item_annotation,
            size=size,
            body=body,
            planner=planner,
        )
    headers = {h.name.lower() for r in ok for h in r.headers}
    if "link" in headers:
        return Pagination(
            "link-header", "Link header (RFC 8288 rel=next)", items, item_annotation, size=size
        )
    url = _find(body, planner, _URL_FIELDS, want_url=True)
    if url is not None:
        return Pagination(
            "next-url",
            f"next page URL in the body ({'.'.join(url[1])})",
            items,
            item_annotation,
            size=size,
            source=url[0],
        )
    cursor_param = next((args[n] for n in _CURSOR_PARAMS if n in args), None)
    cursor = _find(body, planner, _CURSOR_FIELDS) if cursor_param else None
    if cursor_param and cursor is not None:
        return Pagination(
            "cursor",
            f"cursor parameter and body field ({'.'.join(cursor[1])})",
            items,
            item_annotation,
            param=cursor_param,
            size=size,
            source=cursor[0],
        )
    if "after" in args and _has_id(item_type, planner):
        return Pagination(
            "after-item",
            "'after' parameter over items with an id",
            items,
            item_annotation,
            param=args["after"],
            size=size,
            item_key="id",
        )
    if "offset" in args:
        return Pagination(
            "offset", "offset parameter", items, item_annotation, param=args["offset"], size=size
        )
    if "page" in args:
        return Pagination(
            "page", "page parameter", items, item_annotation, param=args["page"], size=size
        )
    if hinted:
        _unmatched(op, diagnostics, hinted, "no pagination rule matches")
    return None


def _explicit(
    spec: Mapping[str, object],
    *,
    args: dict[str, str],
    items: tuple[str, ...],
    item_annotation: str,
    size: str | None,
    body: ir.TypeExpr,
    planner: Planner,
) -> Pagination | None:
    style = str(spec.get("style", ""))
    param = args.get(str(spec.get("param", "")).lower())
    source: tuple[str, ...] = ()
    if "next" in spec:
        path = _python_path(body, planner, str(spec["next"]).split("."))
        if path is None:
            return None
        source = path
    if style in ("cursor", "offset", "page", "after-item") and param is None:
        return None
    return Pagination(
        style,
        "x-pagination",
        items,
        item_annotation,
        param=param,
        size=size,
        source=source,
        item_key="id" if style == "after-item" else None,
    )


def _unmatched(op: ir.Operation, diagnostics: Diagnostics, hinted: list[str], why: str) -> None:
    diagnostics.report(
        join_pointer(op.pointer),
        f"looks paginated (query parameters {', '.join(hinted)}) but {why}",
        "no iter_ method generated; describe it with an x-pagination extension",
        severity="info",
    )


def _items(body: ir.TypeExpr, planner: Planner) -> tuple[tuple[str, ...], ir.TypeExpr] | None:
    resolved = planner.resolve(body)
    if isinstance(resolved, ir.ArrayOf):
        return (), resolved.item
    if not isinstance(resolved, ir.SchemaModel):
        return None
    arrays = [
        (f, inner.item)
        for f in planner.fields(body)
        if isinstance(inner := planner.resolve(f.type), ir.ArrayOf)
        and f.wire_name.lower() not in ("warnings", "errors", "messages")
    ]
    if len(arrays) > 1:
        arrays = [(f, t) for f, t in arrays if f.wire_name.lower() in _ITEM_NAMES] or arrays
    if len(arrays) != 1:
        return None
    field, item = arrays[0]
    return (field.python_name,), item


def _find(
    body: ir.TypeExpr, planner: Planner, names: tuple[str, ...], want_url: bool = False
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(python path, wire path) of the first field named in ``names``, at the top or in a
    container; ``want_url`` also accepts ``next: {href: ...}``."""
    levels: list[tuple[tuple[str, ...], tuple[str, ...], ir.TypeExpr]] = [((), (), body)]
    levels.extend(
        ((field.python_name,), (field.wire_name,), field.type)
        for field in planner.fields(body)
        if field.wire_name.lower() in _CONTAINERS
    )
    for python, wire, node in levels:
        for field in planner.fields(node):
            if field.wire_name.lower() not in names:
                continue
            resolved = planner.resolve(field.type)
            if isinstance(resolved, ir.Primitive) and resolved.kind == "str":
                return (*python, field.python_name), (*wire, field.wire_name)
            if want_url and isinstance(resolved, ir.SchemaModel):
                href = next((f for f in planner.fields(field.type) if f.wire_name == "href"), None)
                if href is not None:
                    return (
                        (*python, field.python_name, href.python_name),
                        (*wire, field.wire_name, "href"),
                    )
    return None


def _python_path(body: ir.TypeExpr, planner: Planner, wire: list[str]) -> tuple[str, ...] | None:
    node: ir.TypeExpr = body
    out: list[str] = []
    for name in wire:
        field = next((f for f in planner.fields(node) if f.wire_name == name), None)
        if field is None:
            return None
        out.append(field.python_name)
        node = field.type
    return tuple(out)


def _has_id(item: ir.TypeExpr, planner: Planner) -> bool:
    return any(f.wire_name == "id" for f in planner.fields(item))
