"""The route template of a request, for labels and keys that must stay low-cardinality.

Never use the raw path as a label: ``/pets/1``, ``/pets/2``... would grow without bound.
"""

from __future__ import annotations

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
    router = getattr(app, "router", None)
    partial: str | None = None
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            template = str(route.path)
            scope[MATCHED_TEMPLATE_KEY] = template
            return template
        if match is Match.PARTIAL and partial is None:
            partial = str(route.path)
    template = UNMATCHED if partial is None else partial
    scope[MATCHED_TEMPLATE_KEY] = template
    return template
