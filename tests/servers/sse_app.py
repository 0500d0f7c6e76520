"""A Server-Sent Events peer: sse-starlette under uvicorn (started by the SSE tests).

``/events/{stream}`` sends three ``tick`` events per connection (ids counting on from the
``Last-Event-ID`` the client sent, ``retry: 10``), then closes; once six were sent it answers
``204`` (the standard's "stop reconnecting"). Every ``Last-Event-ID`` a stream received is in
``LAST_EVENT_IDS[stream]``, so a test can check what the client sent on reconnection.
``/html`` answers 200 text/html and ``/missing`` 404: not event streams.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

LAST_EVENT_IDS: defaultdict[str, list[str | None]] = defaultdict(list)
PER_CONNECTION = 3
TOTAL = 6


async def events(request: Request) -> Response:
    stream = request.path_params["stream"]
    last = request.headers.get("last-event-id")
    LAST_EVENT_IDS[stream].append(last)
    start = int(last) if last else 0
    if start >= TOTAL:
        return Response(status_code=204)

    async def ticks() -> AsyncIterator[ServerSentEvent]:
        for number in range(start + 1, start + PER_CONNECTION + 1):
            yield ServerSentEvent(
                data=f"tick {number}\nsecond line", id=str(number), event="tick", retry=10
            )

    return EventSourceResponse(ticks())


async def html(request: Request) -> Response:
    return HTMLResponse("<h1>not events</h1>")


async def missing(request: Request) -> Response:
    return JSONResponse({"detail": "no such stream"}, status_code=404)


app = Starlette(
    routes=[
        Route("/events/{stream}", events),
        Route("/html", html),
        Route("/missing", missing),
    ]
)
