"""`make demo`: start a local server, call it with the sync, asyncio and trio clients, print
the Results (successes and the failures a user meets: 404 as data, a read timeout, a refused
connection, a malformed URL)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import trio
import uvicorn

from flext_api import AsyncFlextApiClient, Failure, FlextApiClient, Success, Timeout

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    """A tiny API: /pets/{id} as JSON, /slow sleeps, anything else is 404."""
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    status: int = 404
    body: dict[str, Any] = {"error": "not found", "path": path}
    if path.startswith("/pets/"):
        status, body = 200, {"id": int(path.rsplit("/", 1)[1]), "name": "rex", "tag": "dog"}
    elif path == "/slow":
        await asyncio.sleep(1.0)
        status, body = 200, {"slow": True}
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def show(label: str, result: Success[Any] | Failure[Any]) -> None:
    match result:
        case Success(response):
            print(f"  {label:<28} Success  {response.status_code} {response.content.decode()}")
        case Failure(error):
            print(f"  {label:<28} Failure  {error.code}: {error}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    print(f"demo server on {base}\n")
    try:
        print("sync (FlextApiClient):")
        with FlextApiClient(base_url=base) as client:
            show("GET /pets/1", client.get("/pets/1"))
            show("GET /missing (404 is data)", client.get("/missing"))
            show(
                "raise_for_status on 404",
                client.get("/missing").flat_map(lambda r: r.raise_for_status()),
            )
            show("GET /slow, read timeout 0.2s", client.get("/slow", timeout=Timeout(0.2)))
            show("GET /pets/2 after timeout", client.get("/pets/2"))
            show("malformed URL", client.get("http://exa mple.com/"))
            print(f"  pool: {client.pool_stats}")
        with FlextApiClient() as client:
            show("refused connection", client.get(f"http://127.0.0.1:{free_port()}/"))

        async def calls(label: str) -> None:
            print(f"\nasync on {label} (AsyncFlextApiClient):")
            async with AsyncFlextApiClient(base_url=base) as client:
                show("GET /pets/3", await client.get("/pets/3"))
                show("POST json to /pets/4", await client.post("/pets/4", json={"name": "rex"}))
                show("GET /slow, read timeout 0.2s", await client.get("/slow", timeout=0.2))
                print(f"  pool: {client.pool_stats}")

        asyncio.run(calls("asyncio"))
        trio.run(calls, "trio")
    finally:
        server.should_exit = True
        thread.join(5)


if __name__ == "__main__":
    main()
