"""App factory for the multi-process tests: `uvicorn tests.server.worker_app:create_app --factory`.

Everything comes from FLEXT_API_* variables (rate limit, Redis URL), as in a deployment.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from flext_api.server import create_fastapi_app


def create_app() -> FastAPI:
    app = create_fastapi_app(access_log=False)

    @app.get("/ping")
    async def ping() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app
