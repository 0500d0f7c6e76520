"""Documentation that cannot rot: every ```python block of README.md and docs/*.md runs here.

A block runs in a fresh namespace, in a temporary working directory, with the names its
``<!-- fixture: NAME -->`` comment asks for (see tests/docs_blocks.py); a ``no-run`` block is
compiled. A block that raises, or names a fixture nobody provides, fails with its file and line.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from codegen.openapi.generate import generate
from flext_api import FlextApiClient
from tests.codegen.openapi.conftest import CORPUS, SPECS
from tests.docs_blocks import DocBlock, all_blocks, extract_blocks
from tests.servers import graphql_app, sse_app
from tests.servers.runners import RunningServer, run_uvicorn

BLOCKS = all_blocks()
Names = dict[str, Any]


# -- fixtures a block can name ---------------------------------------------------------------


@pytest.fixture
def docs_http_echo(uvicorn_h11: RunningServer) -> Names:
    """``BASE_URL``: the test app (tests/servers/app.py) on uvicorn."""
    return {"BASE_URL": uvicorn_h11.url}


@pytest.fixture
def docs_uploads(uvicorn_h11: RunningServer) -> Iterator[Names]:
    """``BASE_URL`` and an open ``client`` on it; the files the upload examples name exist in
    the working directory."""
    for name in ("report.pdf", "a.jpg", "b.jpg", "big.iso"):
        Path(name).write_bytes(b"%s contents\n" % name.encode())
    with FlextApiClient(base_url=uvicorn_h11.url) as client:
        yield {"BASE_URL": uvicorn_h11.url, "client": client}


@pytest.fixture(scope="module")
def _ws_echo() -> Iterator[str]:
    from tests.servers.websocket import EchoServer

    with EchoServer() as server:
        yield server.url


@pytest.fixture
def docs_ws_echo(_ws_echo: str) -> Names:
    """``ECHO_URL``: a `websockets` echo server (tests/servers/websocket.py); the text message
    ``close:<code>`` makes it close with that code."""
    return {"ECHO_URL": _ws_echo}


@pytest.fixture(scope="module")
def _sse_server() -> Iterator[RunningServer]:
    with run_uvicorn("h11", app=sse_app.app) as server:
        yield server


@pytest.fixture
def docs_sse(_sse_server: RunningServer) -> Names:
    """``BASE_URL``: tests/servers/sse_app.py (sse-starlette) on uvicorn: ``/events/<name>``
    sends ids 1-6, three per connection, then 204; ``/html`` is not an event stream."""
    return {"BASE_URL": _sse_server.url}


@pytest.fixture(scope="module")
def _redis_url() -> Iterator[str]:
    from tests.redis_servers import redis_process

    with redis_process() as server:
        yield server.url


@pytest.fixture
def docs_redis(_redis_url: str) -> Names:
    """``REDIS_URL``: a private redis-server on loopback (tests/redis_servers.py);
    ``serve(app)``: a context manager running an ASGI app under uvicorn, yielding its base URL."""
    from tests.server.helpers import serve as serve_on_port

    @contextmanager
    def serve(app: Any) -> Iterator[str]:
        with serve_on_port(app) as port:
            yield f"http://127.0.0.1:{port}"

    return {"REDIS_URL": _redis_url, "serve": serve}


@pytest.fixture(scope="module")
def _graphql_server() -> Iterator[RunningServer]:
    with run_uvicorn("h11", app=graphql_app.app) as server:
        yield server


@pytest.fixture
def docs_graphql(_graphql_server: RunningServer) -> Names:
    """``GRAPHQL_URL`` (tests/servers/graphql_app.py: ariadne under uvicorn, subscriptions over
    graphql-transport-ws), ``GRAPHQL_WS_URL`` (the same schema over the legacy graphql-ws),
    ``BATCH_URL`` (a batching endpoint) and ``APQ_URL`` (automatic persisted queries)."""
    base = _graphql_server.url
    return {
        "GRAPHQL_URL": f"{base}/graphql",
        "GRAPHQL_WS_URL": f"{base}/graphql-ws",
        "BATCH_URL": f"{base}/batch",
        "APQ_URL": f"{base}/apq",
    }


@pytest.fixture(scope="module")
def _cache_origin() -> Iterator[RunningServer]:
    from tests.servers.cache_app import cache_app

    with run_uvicorn("h11", app=cache_app) as server:
        yield server


@pytest.fixture
def docs_http_cache(_cache_origin: RunningServer) -> Names:
    """``BASE_URL``: tests/servers/cache_app.py on uvicorn (caching headers from the query);
    ``cache``: a fresh ``FlextApiCache("memory")``."""
    from flext_api.cache import FlextApiCache

    return {"BASE_URL": _cache_origin.url, "cache": FlextApiCache("memory")}


class _Pets:
    async def get_pet_by_id(self, *, pet_id: int) -> object:
        if pet_id != 1:
            return (404, None)
        return (200, {"id": 1, "name": "Rex", "photoUrls": [], "status": "available"})


@pytest.fixture(scope="module")
def _petstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The corpus petstore generated as package ``petstore`` (importable), served by its own
    generated stubs on uvicorn; yields the base URL."""
    out = tmp_path_factory.mktemp("petstore")
    result = generate(CORPUS / "swaggerapi_petstore.yaml", out, "petstore")
    sys.path.insert(0, str(result.package_dir.parent))
    importlib.invalidate_caches()
    try:
        stubs = importlib.import_module("petstore.stubs")
        with run_uvicorn("h11", app=stubs.make_app(_Pets())) as server:
            yield server.url + stubs.SERVER_PREFIX
    finally:
        sys.path.remove(str(result.package_dir.parent))
        for name in [m for m in sys.modules if m == "petstore" or m.startswith("petstore.")]:
            del sys.modules[name]


@pytest.fixture
def docs_petstore(_petstore: str) -> Names:
    """``BASE_URL``: the generated petstore's stub server (``petstore`` is importable)."""
    return {"BASE_URL": _petstore}


class _Things:
    """The pagination spec's stub handler for the docs: five things, two per page."""

    async def list_cursored(self, *, page_token: str | None = None) -> object:
        start = int(page_token or 0)
        things = [{"id": f"thing-{n}"} for n in range(start, min(start + 2, 5))]
        more = {"next_page_token": str(start + 2)} if start + 2 < 5 else {}
        return {"things": things, **more}


@pytest.fixture(scope="module")
def _paged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """tests/codegen/specs/pagination.yaml generated as package ``paged`` (importable), served
    by its own stubs; yields the base URL."""
    out = tmp_path_factory.mktemp("paged")
    result = generate(SPECS / "pagination.yaml", out, "paged")
    sys.path.insert(0, str(result.package_dir.parent))
    importlib.invalidate_caches()
    try:
        stubs = importlib.import_module("paged.stubs")
        with run_uvicorn("h11", app=stubs.make_app(_Things())) as server:
            yield server.url + stubs.SERVER_PREFIX
    finally:
        sys.path.remove(str(result.package_dir.parent))
        for name in [m for m in sys.modules if m == "paged" or m.startswith("paged.")]:
            del sys.modules[name]


@pytest.fixture
def docs_paged(_paged: str) -> Names:
    """``BASE_URL``: a stub that serves five things two per page (``paged`` is importable)."""
    return {"BASE_URL": _paged}


@pytest.fixture(scope="module")
def _hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """tests/codegen/specs/callbacks.yaml generated as package ``hooks`` (importable)."""
    out = tmp_path_factory.mktemp("hooks")
    result = generate(SPECS / "callbacks.yaml", out, "hooks")
    sys.path.insert(0, str(result.package_dir.parent))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(result.package_dir.parent))
        for name in [m for m in sys.modules if m == "hooks" or m.startswith("hooks.")]:
            del sys.modules[name]


@pytest.fixture
def docs_hooks(_hooks: None) -> Names:
    """``serve(app)``: a context manager running an ASGI app on uvicorn, yielding its URL
    (``hooks`` is importable)."""

    @contextmanager
    def serve(app: Any) -> Iterator[str]:
        with run_uvicorn("h11", app=app) as server:
            yield server.url

    return {"serve": serve}


class _Films:
    """The swapi stub's query resolvers for the docs: one film with one character."""

    def film(self, info: object, **arguments: object) -> object:
        if arguments.get("film_id") != "1":
            return None
        planet = {"id": "p1", "name": "Tatooine", "population": 2e5, "climates": ["arid"]}
        luke = {"id": "c1", "name": "Luke Skywalker", "birthYear": "19BBY", "height": 172,
                "mass": 77.0, "homeworld": planet}  # fmt: skip
        return {
            "id": "f1",
            "title": "A New Hope",
            "episodeID": 4,
            "releaseDate": "1977-05-25",
            "characterConnection": {
                "totalCount": 1,
                "pageInfo": {"hasNextPage": False, "endCursor": None},
                "characters": [luke],
            },
        }


@pytest.fixture(scope="module")
def _swapi_graphql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The corpus swapi schema and operations generated as package ``swapi`` (importable),
    served by its generated ``stubs.make_router``; yields the endpoint URL."""
    from fastapi import FastAPI

    from codegen.graphql.generate import generate_graphql
    from tests.codegen.graphql.conftest import case_paths

    out = tmp_path_factory.mktemp("swapi")
    schema, operations = case_paths("swapi")
    generate_graphql(schema, [operations], out, "swapi")
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    try:
        stubs = importlib.import_module("swapi.stubs")
        app = FastAPI()
        app.include_router(stubs.make_router(stubs.Resolvers(query=_Films())))
        with run_uvicorn("h11", app=app) as server:
            yield server.url + "/graphql"
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "swapi" or m.startswith("swapi.")]:
            del sys.modules[name]


@pytest.fixture
def docs_graphql_swapi(_swapi_graphql: str) -> Names:
    """``GRAPHQL_URL``: the generated swapi package's stub (``swapi`` is importable; its
    ``film`` resolver knows film ``"1"``)."""
    return {"GRAPHQL_URL": _swapi_graphql}


@pytest.fixture(scope="module")
def _gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.storage_gcs.emulator import run_emulator

    with run_emulator(tmp_path_factory.mktemp("gcs-docs")) as emulator:
        yield emulator.url


@pytest.fixture
def docs_gcs(_gcs_emulator: str, tmp_path: Path) -> Names:
    """``GCS_ENDPOINT``: gcp-storage-emulator on loopback, with bucket ``BUCKET``; ``KEY_FILE``:
    a throwaway service-account JSON key (tests/storage_gcs/keys.py)."""
    from tests.storage_gcs import keys
    from tests.storage_gcs.emulator import BUCKET

    return {
        "GCS_ENDPOINT": _gcs_emulator,
        "BUCKET": BUCKET,
        "KEY_FILE": str(keys.write_key_file(tmp_path)),
    }


# -- the runner ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _moto_s3() -> Iterator[Any]:
    from tests.servers.moto_s3 import run_moto_s3

    with run_moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def _azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.azurite import azurite_available, running_azurite

    missing = azurite_available()
    if missing is not None:
        pytest.fail(missing)
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def docs_s3(_moto_s3: Any, monkeypatch: pytest.MonkeyPatch) -> Names:
    """``S3_ENDPOINT`` (moto, authentication on) and ``BUCKET`` (a new, empty bucket); the
    credentials are in ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", _moto_s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _moto_s3.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return {"S3_ENDPOINT": _moto_s3.url, "BUCKET": _moto_s3.new_bucket()}


@pytest.fixture
def docs_azurite(_azurite: Any) -> Names:
    """``AZURE_CONNECTION_STRING`` and ``AZURE_BLOB_ENDPOINT``: Azurite's development account
    on a private port (tests/servers/azurite.py)."""
    return {
        "AZURE_CONNECTION_STRING": _azurite.connection_string,
        "AZURE_BLOB_ENDPOINT": _azurite.endpoint,
    }


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.no_run is None], ids=lambda b: b.name)
def test_block_runs(
    block: DocBlock,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: Names = {"__name__": "__docs__"}
    if block.fixture is not None:
        try:
            names = request.getfixturevalue(f"docs_{block.fixture}")
        except pytest.FixtureLookupError:
            pytest.fail(f"{block.name}: no docs fixture named {block.fixture!r}")
        namespace.update(names)
    # dont_inherit: a block must not get this module's `from __future__ import annotations`
    # (string annotations on a block's msgspec Structs could not be resolved).
    exec(compile(block.code, block.name, "exec", dont_inherit=True), namespace)


def test_every_block_compiles_including_no_run_ones() -> None:
    for block in BLOCKS:
        compile(block.code, block.name, "exec")


def test_the_documentation_has_blocks_and_few_are_exempt() -> None:
    assert {b.path.name for b in BLOCKS} >= {
        "README.md",
        "client.md",
        "graphql.md",
        "server.md",
        "sse.md",
        "websocket.md",
    }
    assert len(BLOCKS) >= 20
    assert sum(b.no_run is not None for b in BLOCKS) <= 3


def test_the_extractor_reads_directives(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n<!-- fixture: http_echo -->\n\n```python\nprint(BASE_URL)\n```\n"
        "<!-- no-run: runs forever -->\n```python\nwhile True: pass\n```\n"
        "```sh\nmake\n```\n```python\nx = 1\n```\n"
    )
    blocks = extract_blocks(doc)
    assert [(b.line, b.fixture, b.no_run, b.code) for b in blocks] == [
        (5, "http_echo", None, "print(BASE_URL)\n"),
        (9, None, "runs forever", "while True: pass\n"),
        (15, None, None, "x = 1\n"),
    ]
    doc.write_text("<!-- fixture: -->\n```python\nx = 1\n```\n")
    with pytest.raises(ValueError, match="needs a name"):
        extract_blocks(doc)
    doc.write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="never closed"):
        extract_blocks(doc)


def test_a_broken_block_fails_with_its_location(tmp_path: Path) -> None:
    doc = tmp_path / "broken.md"
    doc.write_text("```python\nx = 1\nraise RuntimeError('stale example')\n```\n")
    (block,) = extract_blocks(doc)
    with pytest.raises(RuntimeError, match="stale example") as caught:
        exec(compile(block.code, block.name, "exec"), {})
    # The report names the Markdown file and the line of the block's first line of code.
    assert str(caught.traceback[-1].path).endswith("broken.md:2")
