"""The application the container serves: the factory app, configured by ``FLEXT_API_*``.

Replace the example route with your own; keep ``app`` built by ``create_fastapi_app`` so the
probes (``/health``, ``/ready``), metrics, request ids and graceful shutdown come with it.
"""

from __future__ import annotations

from flext_api.server import create_fastapi_app

app = create_fastapi_app()


@app.get("/hello")
async def hello() -> dict[str, str]:
    """An example route."""
    return {"hello": "world"}
