"""The application most server tests exercise: the full default stack plus demo routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from flext_api._exceptions import ConnectTimeout, FlextApiError
from flext_api._result import fail, ok
from flext_api.server import NotFound, create_fastapi_app, current_request_id, result_response

background_seen: list[tuple[str | None, str | None]] = []
handler_var: ContextVar[str | None] = ContextVar("handler_var", default=None)


class Pet(BaseModel):
    name: str
    age: int


def build_app(**overrides: Any) -> FastAPI:
    app = create_fastapi_app(title="Test API", **overrides)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @app.get("/pets/{pet_id}")
    async def get_pet(pet_id: int) -> Response:
        if pet_id == 404:
            return result_response(fail(NotFound(f"no pet {pet_id}")))
        return result_response(ok({"id": pet_id, "name": "Rex"}))

    @app.post("/pets")
    async def create_pet(pet: Pet) -> Response:
        return result_response(ok(pet), status_code=201)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.get("/upstream-timeout")
    async def upstream_timeout() -> Response:
        return result_response(fail(ConnectTimeout("connect to db.internal:5432 timed out")))

    @app.get("/raise-flext")
    async def raise_flext() -> None:
        raise FlextApiError("plain failure at secret-host.internal")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    @app.get("/background")
    async def background(tasks: BackgroundTasks) -> dict[str, str | None]:
        handler_var.set("set-in-handler")

        def record() -> None:
            background_seen.append((current_request_id(), handler_var.get()))

        tasks.add_task(record)
        return {"request_id": current_request_id()}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(3):
                yield f"data: {index}\n\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.05)
        return {"slow": True}

    return app
