"""The protocol registry: built-ins by name, third-party protocols from entry points (imported
only when used), refusals that say what is known, and the built-in protocols doing their job
against a real server."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flext_api import URL, Headers, ProtocolRegistry, Request
from flext_api.protocols import BaseProtocol
from flext_api.protocols.graphql import GraphQLProtocol
from flext_api.protocols.http import HTTPProtocol
from flext_api.protocols.sse import SSEProtocol
from flext_api.protocols.storage import StorageProtocol
from flext_api.protocols.websocket import WebSocketProtocol
from tests.servers.raw import RawServerFactory, read_request
from tests.servers.runners import RunningServer


def test_builtins_are_known_by_name_without_importing_them() -> None:
    registry = ProtocolRegistry(discover=False)
    assert registry.names() == ["graphql", "http", "sse", "storage", "websocket"]
    assert registry.target("http") == "flext_api.protocols.http:HTTPProtocol"
    assert registry.target("sse") == "flext_api.protocols.sse:SSEProtocol"
    assert registry.target("websocket") == "flext_api.protocols.websocket:WebSocketProtocol"
    assert registry.target("graphql") == "flext_api.protocols.graphql:GraphQLProtocol"
    assert registry.target("storage") == "flext_api.protocols.storage:StorageProtocol"


def test_get_protocol_loads_the_builtin_classes() -> None:
    registry = ProtocolRegistry(discover=False)
    assert registry.get_protocol("http") is HTTPProtocol
    assert registry.get_protocol("sse") is SSEProtocol
    assert registry.get_protocol("websocket") is WebSocketProtocol
    assert registry.get_protocol("graphql") is GraphQLProtocol
    assert registry.get_protocol("storage") is StorageProtocol
    assert registry.target("http") == "flext_api.protocols.http:HTTPProtocol"


def test_an_unknown_name_lists_the_known_ones() -> None:
    registry = ProtocolRegistry(discover=False)
    known = r"no protocol named 'gopher'; known: graphql, http, sse, storage, web"
    with pytest.raises(LookupError, match=known):
        registry.get_protocol("gopher")


class EchoProtocol(BaseProtocol):
    name = "echo"


def test_a_taken_name_is_refused_unless_replace() -> None:
    registry = ProtocolRegistry(discover=False)
    with pytest.raises(ValueError, match=r"'http' is already registered.*replace=True"):
        registry.register("http", EchoProtocol)
    registry.register("http", EchoProtocol, replace=True)
    name: str = "http"  # typed as str: the "http" overload promises the built-in class
    assert registry.get_protocol(name) is EchoProtocol
    registry.register("echo", "tests.test_protocol_registry:EchoProtocol")
    assert registry.get_protocol("echo") is EchoProtocol
    assert registry.names() == ["echo", "graphql", "http", "sse", "storage", "websocket"]


def test_register_refuses_what_is_not_a_protocol() -> None:
    registry = ProtocolRegistry(discover=False)
    with pytest.raises(TypeError, match="BaseProtocol subclass"):
        registry.register("bad", int)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="module:attribute"):
        registry.register("bad", "no_colon_here")
    registry.register(
        "notproto",
        "tests.test_protocol_registry:test_builtins_are_known_by_name_without_importing_them",
    )
    with pytest.raises(TypeError, match="not a BaseProtocol subclass"):
        registry.get_protocol("notproto")


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed-looking distribution on sys.path whose entry points name two protocols:
    one importable, one whose module does not exist."""
    module = "flext_fake_gopher"
    (tmp_path / f"{module}.py").write_text(
        "from flext_api.protocols import BaseProtocol\n\n"
        "class GopherProtocol(BaseProtocol):\n    name = 'gopher'\n"
    )
    info = tmp_path / "flext_fake_gopher-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flext-fake-gopher\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[flext_api.protocols]\n"
        f"gopher = {module}:GopherProtocol\n"
        "broken = flext_fake_missing_module:Nothing\n"
        "http = flext_fake_gopher:GopherProtocol\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


def test_entry_point_protocols_are_found_and_imported_only_when_used(
    fake_distribution: str,
) -> None:
    registry = ProtocolRegistry()
    builtins = ["graphql", "http", "sse", "storage", "websocket"]
    assert registry.names() == ["broken", "gopher", *builtins]
    assert fake_distribution not in sys.modules
    assert registry.target("gopher") == f"{fake_distribution}:GopherProtocol"
    assert fake_distribution not in sys.modules
    gopher = registry.get_protocol("gopher")
    assert gopher.__name__ == "GopherProtocol" and issubclass(gopher, BaseProtocol)
    assert fake_distribution in sys.modules
    # A built-in name is not taken over by a distribution.
    assert registry.get_protocol("http") is HTTPProtocol
    with pytest.raises(LookupError, match="flext_fake_missing_module cannot be imported"):
        registry.get_protocol("broken")


def test_http_protocol_executes_a_request(uvicorn_h11: RunningServer) -> None:
    with ProtocolRegistry().get_protocol("http")({"timeout": 5}) as http:
        request = Request("GET", URL(uvicorn_h11.url + "/"), Headers({"x-test": "1"}))
        result = http.execute_request(request)
    assert result.unwrap().status_code == 200
    assert result.unwrap().content == b"hello, world"


def test_sse_protocol_opens_a_stream_and_refuses_execute_request(
    raw_server: RawServerFactory,
) -> None:
    def events(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            b"event: hello\ndata: world\n\n"
        )

    server = raw_server(events)
    with SSEProtocol({"base_url": server.url}) as sse:
        with sse.open("GET", "/", reconnect=False) as result:
            assert [(e.event, e.data) for e in result.unwrap()] == [("hello", "world")]
        with pytest.raises(TypeError, match="use its open"):
            sse.execute_request(Request("GET", URL(server.url), Headers()))


def test_websocket_protocol_opens_a_connection_and_refuses_execute_request() -> None:
    from tests.servers.websocket import EchoServer

    with EchoServer() as server, WebSocketProtocol() as protocol:
        with protocol.open(server.url) as result:
            ws = result.unwrap()
            assert ws.send("ping").is_success
            assert ws.receive().unwrap() == "ping"
        with pytest.raises(TypeError, match="use its open"):
            protocol.execute_request(Request("GET", URL("http://127.0.0.1/"), Headers()))


def test_graphql_protocol_opens_a_client_on_its_own_http_client() -> None:
    from tests.servers import graphql_app
    from tests.servers.runners import run_uvicorn

    with run_uvicorn("h11", app=graphql_app.app) as server:
        protocol = ProtocolRegistry(discover=False).get_protocol("graphql")
        with protocol({"base_url": server.url}) as graphql:
            gql = graphql.open("/graphql")
            first = gql.execute("{ hello }")
            gql.close()  # the protocol's client stays open: it belongs to the protocol
            second = gql.execute("{ hello }")
    assert first.unwrap().data == {"hello": "Hello, world!"}
    assert second.unwrap().data == first.unwrap().data
    with pytest.raises(TypeError, match="streams"):
        protocol().execute_request(Request("GET", URL("http://127.0.0.1/"), Headers()))


def test_storage_protocol_opens_backends_by_kind_and_closes_them(tmp_path: Path) -> None:
    protocol = ProtocolRegistry(discover=False).get_protocol("storage")
    with protocol({"create": True}) as storage:
        backend = storage.open("local", root=tmp_path / "objects")
        assert backend.upload_file("a/b.txt", b"stored").is_success
        assert backend.download_file("a/b.txt").unwrap() == b"stored"
        assert storage.open_async("local", root=tmp_path / "objects").kind == "local"
        with pytest.raises(LookupError, match=r"no storage backend named 'ftp'; known: .*local"):
            storage.open("ftp")
        with pytest.raises(TypeError, match="streams: use its open"):
            storage.execute_request(Request("GET", URL("http://127.0.0.1/"), Headers()))
    assert (tmp_path / "objects/a/b.txt").read_bytes() == b"stored"
