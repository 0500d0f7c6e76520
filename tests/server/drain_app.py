"""An app for the graceful-shutdown test: the factory with a drain, and a request that waits.

``GET /slow`` writes ``$DRAIN_DIR/started`` and then waits until ``$DRAIN_DIR/release`` exists,
so the test decides when the in-flight request may finish.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from flext_api.server import create_fastapi_app

app = create_fastapi_app(shutdown_drain_seconds=float(os.environ.get("DRAIN_SECONDS", "30")))


@app.get("/slow")
async def slow() -> dict[str, str]:
    folder = Path(os.environ["DRAIN_DIR"])
    (folder / "started").touch()
    while not (folder / "release").exists():
        await anyio.sleep(0.02)
    return {"finished": "yes"}
