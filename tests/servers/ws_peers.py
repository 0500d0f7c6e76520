"""WebSocket echo peers for the interop matrix, each on 127.0.0.1 with a kernel-picked port.

- uvicorn with its `websockets` (sans-I/O API) and `wsproto` implementations, and hypercorn
  (wsproto inside), all serving `asgi_echo`;
- a `trio-websocket` server in a thread of its own;
- Node's `ws` package (`ws@8`), installed on first use into tests/servers/node/ by
  `npm install` (the Makefile's `peers` target does the same), started as a child process and
  stopped by its PID.

Every echo server sends each message back as it came (text as text, bytes as bytes) and
answers a close with the same code; the text message "close:<code>" makes it close with that
code instead.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

import trio
import uvicorn
from hypercorn.config import Config as HypercornConfig
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from tests.servers.runners import _HypercornThread, _listening_socket, _UvicornThread

NODE_DIR: Final = Path(__file__).parent / "node"
MAX_MESSAGE: Final = 4 * 1024 * 1024


async def asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            await send({"type": "websocket.close", "code": int(text[6:])})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


@contextlib.contextmanager
def run_uvicorn_ws(implementation: Literal["websockets-sansio", "wsproto"]) -> Iterator[str]:
    config = uvicorn.Config(
        asgi_echo,
        host="127.0.0.1",
        port=0,
        ws=implementation,
        ws_max_size=MAX_MESSAGE,
        ws_per_message_deflate=True,
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    runner = _UvicornThread(config)
    runner.start()
    try:
        port = runner.bound_address()[1]
        yield f"ws://127.0.0.1:{port}/echo"
    finally:
        runner.stop()


@contextlib.contextmanager
def run_hypercorn_ws() -> Iterator[str]:
    listener = _listening_socket()
    port = listener.getsockname()[1]
    config = HypercornConfig()
    config.bind = [f"fd://{listener.detach()}"]
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    config.websocket_max_message_size = MAX_MESSAGE
    runner = _HypercornThread(asgi_echo, config)
    runner.start()
    try:
        yield f"ws://127.0.0.1:{port}/echo"
    finally:
        runner.stop()


@contextlib.contextmanager
def run_trio_websocket() -> Iterator[str]:
    """trio-websocket's server on a trio loop in a thread; cancelled on exit."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def echo(request: WebSocketRequest) -> None:
        ws = await request.accept()
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await ws.get_message()
                if isinstance(message, str) and message.startswith("close:"):
                    await ws.aclose(int(message[6:]))
                    return
                await ws.send_message(message)

    async def main() -> None:
        with trio.CancelScope() as scope:
            state["scope"] = scope
            state["token"] = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                server = await nursery.start(
                    lambda task_status: serve_websocket(
                        echo,
                        "127.0.0.1",
                        0,
                        None,
                        max_message_size=MAX_MESSAGE,
                        task_status=task_status,
                    )
                )
                state["port"] = server.port
                ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    if not ready.wait(5):
        raise RuntimeError("trio-websocket did not start within 5 s")
    try:
        yield f"ws://127.0.0.1:{state['port']}/echo"
    finally:
        trio.from_thread.run_sync(state["scope"].cancel, trio_token=state["token"])
        thread.join(5)


def install_node_ws() -> Path:
    """``ws@8`` under tests/servers/node/node_modules (npm install on first use)."""
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
        )
    return NODE_DIR


@contextlib.contextmanager
def run_node_ws(*, compression: bool) -> Iterator[str]:
    directory = install_node_ws()
    process = subprocess.Popen(
        ["node", "ws_echo.js", "1" if compression else "0"],
        cwd=directory,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the script prints its port once listening
        if not line.strip().isdigit():
            raise RuntimeError(f"node ws server did not start: {line!r}")
        yield f"ws://127.0.0.1:{int(line)}/echo"
    finally:
        process.terminate()
        process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
