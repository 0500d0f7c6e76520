"""Generated stubs under hostile input: the specs of this folder generated once per session,
served in-process (a minimal ASGI caller, for the bulk) or by a real uvicorn (for a sample)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from codegen.openapi.generate import GenerationResult, generate

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


def call(
    app: Any,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Answer:
    """One request through ``app`` in this thread (no socket): what uvicorn would hand it."""
    raw_headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers or []]
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": raw_headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a disconnect never comes while the app answers
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return Answer(out["status"], out["headers"], out["body"])


@dataclass(frozen=True)
class Stub:
    result: GenerationResult
    models: ModuleType
    stubs: ModuleType
    handlers: Any
    app: Any


class Recorder:
    """Answers every operation with ``reply`` and keeps the arguments it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reply: object = (200, None)

    def __getattr__(self, name: str) -> Any:
        async def handle(**kwargs: Any) -> object:
            self.calls.append((name, kwargs))
            return self.reply

        return handle


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GenerationResult]]:
    root = tmp_path_factory.mktemp("hostile_stubs")
    results = {
        spec.stem: generate(spec, root, f"hs_{spec.stem}") for spec in sorted(HERE.glob("*.yaml"))
    }
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield results
    sys.path.remove(str(root))


def _stub(generated: dict[str, GenerationResult], name: str) -> Stub:
    result = generated[name]
    package = result.package_dir.name
    stubs = importlib.import_module(f"{package}.stubs")
    handlers = Recorder()
    return Stub(
        result,
        importlib.import_module(f"{package}.models"),
        stubs,
        handlers,
        stubs.make_app(handlers),
    )


@pytest.fixture
def hostile(generated: dict[str, GenerationResult]) -> Stub:
    return _stub(generated, "hostile")


@pytest.fixture
def bounds30(generated: dict[str, GenerationResult]) -> Stub:
    return _stub(generated, "bounds30")
