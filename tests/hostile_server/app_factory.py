"""The application the hostile-input tests run under uvicorn (``--factory``), in a real process.

Everything comes from ``FLEXT_API_*`` variables, as in a deployment. Log records of every
logger (the server's errors, uvicorn's own "Exception in ASGI application") go to stderr as
``LEVEL name message`` lines with their tracebacks; access lines stay bare JSON lines on the
access logger's own handler. The tests read that stderr file.
"""

from __future__ import annotations

import logging
import os
import sys

from fastapi import FastAPI, Request
from pydantic import BaseModel

from flext_api.server import create_fastapi_app


class Pet(BaseModel):
    name: str
    age: int


def create_app() -> FastAPI:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    app = create_fastapi_app(title="Hostile")

    @app.get("/ping")
    async def ping() -> dict[str, int]:
        return {"pid": os.getpid()}

    @app.get("/pets/{pet_id}")
    async def get_pet(pet_id: int) -> dict[str, int]:
        return {"id": pet_id}

    @app.post("/pets")
    async def create_pet(pet: Pet) -> Pet:
        return pet

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.get("/limited")
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    return app
