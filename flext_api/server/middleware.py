"""FlextApiMiddleware: the extension point for request and response hooks, pure ASGI.

A subclass overrides ``process_request`` and/or ``process_response``; a ``Failure`` from
either short-circuits into the JSON error shape with the error's status. The hooks see the
request's headers and the response's status and headers; the body streams through
untouched, so server-sent events and large downloads keep working, and because nothing runs
in another task, contextvars set in ``process_request`` are visible to the handler and
background tasks still run.

This module must never read or buffer a body, and never start a task of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders
from starlette.requests import Request

from flext_api._result import FlextResult, Success, ok
from flext_api.server.errors import send_failure

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FlextApiMiddleware", "ResponseHead"]


@dataclass(slots=True)
class ResponseHead:
    """The start of a response as ``process_response`` sees it: change either in place."""

    status_code: int
    headers: MutableHeaders


class FlextApiMiddleware:
    """Subclass and override the hooks; add with ``app.add_middleware(YourMiddleware)``.

    ``process_request`` must not read the body (the handler still needs it): it sees the
    method, path, query, headers and client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def process_request(self, request: Request) -> FlextResult[None]:
        """Run before the handler; a ``Failure`` answers instead of it."""
        return ok(None)

    async def process_response(self, request: Request, response: ResponseHead) -> FlextResult[None]:
        """Run when the response starts; a ``Failure`` replaces the whole response."""
        return ok(None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        outcome = await self.process_request(request)
        if not isinstance(outcome, Success):
            await send_failure(send, outcome.error)
            return
        replaced = False

        async def send_processed(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the handler's own response was replaced by the error: drop it
            if message["type"] == "http.response.start":
                head = ResponseHead(message["status"], MutableHeaders(scope=message))
                result = await self.process_response(request, head)
                if not isinstance(result, Success):
                    replaced = True
                    await send_failure(send, result.error)
                    return
                message["status"] = head.status_code
            await send(message)

        await self.app(scope, receive, send_processed)
