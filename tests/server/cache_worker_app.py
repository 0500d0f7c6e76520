"""App factory for the two-worker response-cache test:
`uvicorn tests.server.cache_worker_app:create_app --factory`.

The Redis URL comes from CACHE_TEST_REDIS_URL; every handler run appends the worker's pid to
the file CACHE_TEST_RUNS, so the test counts runs across processes.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from flext_api.cache import AsyncFlextApiCache, CacheConfig
from flext_api.server import ResponseCaching, RouteCaching, create_fastapi_app


def create_app() -> FastAPI:
    cache = AsyncFlextApiCache(
        "redis",
        config=CacheConfig(redis_url=os.environ["CACHE_TEST_REDIS_URL"], key_prefix="workers:"),
    )
    caching = ResponseCaching(
        routes={"/items/{item_id}": RouteCaching(ttl=60, cache_control="public, max-age=60")},
        default=None,
        cache=cache,
    )
    app = create_fastapi_app(access_log=False, metrics=False, caching=caching)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        with open(os.environ["CACHE_TEST_RUNS"], "a") as runs:
            runs.write(f"{os.getpid()}\n")
        return {"id": item_id, "pid": os.getpid()}

    @app.get("/pid")
    async def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app
