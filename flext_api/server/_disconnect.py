"""Client aborts: a client that hangs up before its response started is not a server error.

Convention (docs/server.md): such a request is recorded with status **499** ("client closed
request", as nginx logs it) in the access line and in the ``status`` label of the metrics; no
response is sent (nobody is there to read it), nothing is logged at ERROR and no traceback is
written. The ASGI server tells the application through an ``http.disconnect`` message from
``receive()``; Starlette turns it into ``ClientDisconnect`` for a handler reading the body and
FastAPI into a 400 while it parses one, so the layers that record the status watch
``receive()`` itself rather than trust what the application did next.

This module must never swallow an exception of a request whose client is still there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect

if TYPE_CHECKING:
    from starlette.types import Message, Receive

__all__ = ["CLIENT_CLOSED_STATUS", "DisconnectWatch", "is_client_abort"]

CLIENT_CLOSED_STATUS = 499


class DisconnectWatch:
    """A ``receive`` that remembers whether the client left before the response started.

    The owner sets ``response_started`` when it sees ``http.response.start``; a disconnect
    after that is an ordinary end of a streamed response, not an abort.
    """

    __slots__ = ("_receive", "closed_early", "response_started")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.closed_early = False
        self.response_started = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" and not self.response_started:
            self.closed_early = True
        return message


def is_client_abort(exc: BaseException, watch: DisconnectWatch) -> bool:
    """Whether ``exc`` escaped the app because the client went away before the response.

    After an early disconnect any exception counts, even if an inner layer (Starlette's
    ``ServerErrorMiddleware``) then started a 500 that could never be delivered: libraries
    wrap ``ClientDisconnect`` in errors of their own. Without one, only a ``ClientDisconnect``
    raised before the response started does.
    """
    if watch.closed_early:
        return True
    return not watch.response_started and isinstance(exc, ClientDisconnect)
