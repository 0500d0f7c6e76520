"""Receiving webhooks and callbacks: the routes a generated ``webhooks`` module mounts.

Job: for each :class:`~flext_api.codegen_webhooks.WebhookRoute`, a route that reads the raw
body, has the verifier check it (401 ``UNAUTHORIZED`` with the reason when it fails), decodes
it into the event's generated type (422 ``VALIDATION_ERROR`` naming the bad field when it
does not fit), hands the event and a :class:`~flext_api.codegen_webhooks.WebhookContext` to
the handler's method, and answers the documented status. Mounted in
:func:`~flext_api.create_fastapi_app`, deliveries get its body-size and time limits and its
JSON error shape.

Never: call a handler with an unverified or undecoded event, or echo the body back in an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response

from flext_api._request_context import current_request_id
from flext_api.codegen_webhooks import WebhookContext, WebhookRoute, WebhookVerifier
from flext_api.server.errors import RequestRejected, Unauthorized, error_response

__all__ = ["InvalidEvent", "webhook_router"]


class InvalidEvent(RequestRejected):
    """A webhook delivery whose body does not fit its event's schema (or is not JSON)."""

    code = "VALIDATION_ERROR"
    default_status = 422


def webhook_router(
    handlers: object,
    routes: Sequence[WebhookRoute],
    *,
    verifier: WebhookVerifier | None = None,
    prefix: str = "",
) -> APIRouter:
    """An ``APIRouter`` receiving ``routes`` for ``handlers`` (one method per route's
    ``handler``); ``verifier`` checks every delivery first (``None``: no check)."""
    missing = [r.handler for r in routes if not callable(getattr(handlers, r.handler, None))]
    if missing:
        raise TypeError(f"the webhook handlers have no method {', '.join(missing)}")
    router = APIRouter(prefix=prefix)
    for route in routes:
        router.add_api_route(
            route.path,
            _endpoint(getattr(handlers, route.handler), route, verifier),
            methods=[route.method],
            name=f"webhook:{route.name}",
            include_in_schema=False,
        )
    return router


def _endpoint(
    handle: Callable[[Any, WebhookContext], Awaitable[object]],
    route: WebhookRoute,
    verifier: WebhookVerifier | None,
) -> Callable[[Request], Awaitable[Response]]:
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(route.event_type)

    async def receive(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        if verifier is not None:
            problem = verifier.verify(headers, body)
            if problem is not None:
                return error_response(Unauthorized(f"webhook {route.name!r}: {problem}"))
        try:
            event = decoder.decode(body)
        except msgspec.ValidationError as exc:
            return error_response(
                InvalidEvent(
                    f"webhook {route.name!r}: the event does not fit its schema: {exc}",
                    details=[{"loc": ["body"], "msg": str(exc)}],
                )
            )
        except msgspec.DecodeError:
            return error_response(InvalidEvent(f"webhook {route.name!r}: the body is not JSON"))
        context = WebhookContext(route.name, headers, body, current_request_id())
        await handle(event, context)
        return Response(status_code=route.status)

    return receive
