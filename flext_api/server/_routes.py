"""The route template of a request, for labels and keys that must stay low-cardinality.

Never use the raw path as a label: ``/pets/1``, ``/pets/2``... would grow without bound.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.routing import Match

if TYPE_CHECKING:
    from starlette.types import Scope

UNMATCHED = "<unmatched>"
# Set by middleware that matched the route before the router ran (the rate limiter), so that a
# request answered before routing (a 429) is still counted under its route template.
MATCHED_TEMPLATE_KEY = "flext_api.route_template"


def route_template(scope: Scope) -> str:
    """The template of the route that handled ``scope`` (``/pets/{pet_id}``), once it is done.

    The router's choice when it ran; for a request answered before routing (a 413, 415, 429
    or a refused CORS preflight), the route it would have reached, so that refusals are
    counted and logged under their real route. A path no route matches is :data:`UNMATCHED`.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    matched = scope.get(MATCHED_TEMPLATE_KEY)
    return matched if isinstance(matched, str) else match_route_template(scope)


def match_route_template(scope: Scope) -> str:
    """The template of the route that will handle ``scope``, before routing runs.

    Walks the application's routes the way the router does (first full match wins, a partial
    match, such as the wrong method, counts when nothing matches fully); records it in the
    scope so that :func:`route_template` knows it even if the router never runs.
    """
    app = scope.get("app")
    full, partial = _walk(getattr(getattr(app, "router", None), "routes", ()), scope)
    template = full or partial or UNMATCHED
    scope[MATCHED_TEMPLATE_KEY] = template
    return template


def _walk(routes: Iterable[object], scope: Scope) -> tuple[str | None, str | None]:
    """The first full match's template and the first partial one's, among ``routes``."""
    partial: str | None = None
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        match, _ = matches(scope)
        if match is Match.NONE:
            continue
        template = _template(route, scope)
        if match is Match.FULL:
            return template, partial
        if partial is None:
            partial = template
    return None, partial


def _template(route: object, scope: Scope) -> str:
    """A matching route's template. FastAPI keeps a router included whole as one route
    without a ``path``; its ``_match`` (private, so looked up defensively) names the route
    inside, with the include prefixes applied. Without it, the label stays bounded."""
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    select = getattr(route, "_match", None)
    if select is not None:
        with contextlib.suppress(Exception):
            context = select(scope)[3]
            inner = getattr(context, "path", None)
            if isinstance(inner, str):
                return inner
    return UNMATCHED
