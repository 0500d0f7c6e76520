"""The client against real servers: requests, bodies, responses, streaming, pool reuse.

Written once as async tests; ``tests/_sync/test_client.py`` is generated from this file, so
every case here runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from flext_api import (
    URL,
    AsyncFlextApiClient,
    Failure,
    FlextApiError,
    Headers,
    Limits,
    Request,
    Response,
    RetryPolicy,
    Success,
    Timeout,
)
from flext_api._async.middleware import AsyncCallNext, AsyncRequestInterceptor, R
from flext_api._request_context import request_id_var
from flext_api._sansio.multipart import FormFile
from tests.servers.app import CHARSET_TEXT, pattern_bytes, stream_chunk
from tests.servers.raw import RawServerFactory, RequestReader, read_request
from tests.servers.runners import RunningServer

pytestmark = pytest.mark.anyio  # unasync: remove


@pytest.fixture(params=["uvicorn_h11", "uvicorn_httptools"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    """Each case runs against both of uvicorn's HTTP/1.1 parsers."""
    running: RunningServer = request.getfixturevalue(request.param)
    return running


def ok(result: Success[Response] | Failure[Any]) -> Response:
    assert result.is_success, f"expected success, got {result!r}"
    return result.value


def echoed(result: Success[Response] | Failure[Any]) -> dict[str, Any]:
    response = ok(result)
    assert response.status_code == 200
    data: dict[str, Any] = json.loads(response.content)
    return data


async def test_get_returns_status_headers_and_body(server: RunningServer) -> None:
    async with AsyncFlextApiClient() as client:
        response = ok(await client.get(server.url + "/"))
    assert response.status_code == 200
    assert response.reason_phrase == "OK"
    assert response.http_version == "HTTP/1.1"
    assert response.content == b"hello, world"
    assert response.text == "hello, world"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.url == URL(server.url + "/")
    assert response.elapsed > 0
    assert not response.is_error and not response.is_redirect


async def test_json_body_is_decoded_with_msgspec(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        response = ok(await client.get("/json"))
    assert response.json().unwrap() == {"hello": "world", "n": 1}
    assert response.json(dict[str, int | str]).unwrap() == {"hello": "world", "n": 1}
    wrong = response.json(list[int])
    assert wrong.is_failure and wrong.error_code == "DECODE_ERROR"
    assert "/json" in str(wrong.error)


async def test_non_json_body_is_a_decode_failure(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        response = ok(await client.get("/"))
    result = response.json()
    assert result.is_failure and result.error_code == "DECODE_ERROR"


async def test_base_url_prefix_default_headers_and_params(server: RunningServer) -> None:
    async with AsyncFlextApiClient(
        base_url=server.url + "/",
        headers={"X-Team": "core", "Accept": "application/json"},
        params={"api": "1"},
    ) as client:
        data = echoed(await client.get("echo", params={"q": ["a b", "c"], "flag": True}))
        overridden = echoed(await client.get("/echo", headers={"x-team": "edge"}))
    headers = dict(data["headers"])
    assert headers["x-team"] == "core"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("flext-api/")
    assert headers["host"] == server.url.split("//", 1)[1]
    assert data["path"] == "/echo"
    assert data["query"] == "api=1&q=a%20b&q=c&flag=true"
    assert dict(overridden["headers"])["x-team"] == "edge"
    assert [name for name, _ in overridden["headers"]].count("x-team") == 1


async def test_absolute_url_ignores_base_url(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url="http://127.0.0.1:9/never") as client:
        response = ok(await client.get(server.url + "/json"))
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_every_method_is_sent_as_named(server: RunningServer, method: str) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        helper = getattr(client, method.lower())
        response = ok(await helper("/echo"))
        lowercase = ok(await client.request(method.lower(), "/echo"))
    assert response.status_code == 200
    if method != "HEAD":
        assert json.loads(response.content)["method"] == method
        assert json.loads(lowercase.content)["method"] == method
    else:
        assert response.content == b""


async def test_json_form_and_text_bodies(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        as_json = echoed(await client.post("/echo", json={"name": "rex", "tags": [1, 2]}))
        as_null = echoed(await client.post("/echo", json=None))
        as_form = echoed(await client.put("/echo", data={"a": "1", "b": ["x", "y z"]}))
        as_text = echoed(await client.patch("/echo", content="caf\u00e9"))
        as_bytes = echoed(await client.post("/echo", content=b"\x00\x01raw"))
    assert json.loads(as_json["body"]) == {"name": "rex", "tags": [1, 2]}
    assert dict(as_json["headers"])["content-type"] == "application/json"
    assert as_null["body"] == "null"
    assert as_form["body"] == "a=1&b=x&b=y%20z"
    assert dict(as_form["headers"])["content-type"] == "application/x-www-form-urlencoded"
    assert as_text["body"].encode("latin-1").decode("utf-8") == "caf\u00e9"
    assert dict(as_text["headers"])["content-length"] == "5"
    assert as_bytes["body"] == "\x00\x01raw"


async def test_iterator_bodies_are_sent_chunked(server: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"one,"
        yield b""
        yield b"two"

    async with AsyncFlextApiClient(base_url=server.url) as client:
        data = echoed(await client.post("/echo", content=chunks()))
    assert data["body"] == "one,two"
    assert dict(data["headers"])["transfer-encoding"] == "chunked"


async def test_iterator_body_with_a_given_length_is_not_also_chunked(
    server: RunningServer,
) -> None:
    """A streamed body whose length the caller announces goes with Content-Length alone: the
    client's own chunked framing must not be added (both would be a framing error)."""

    def chunks() -> Iterator[bytes]:
        yield b"0123456789" * 1000
        yield b"tail"

    headers = {"Content-Length": "10004"}
    async with AsyncFlextApiClient(base_url=server.url) as client:
        data = echoed(await client.put("/echo", content=chunks(), headers=headers))
        lower = echoed(
            await client.put("/echo", content=chunks(), headers={"content-length": "10004"})
        )
    sent = dict(data["headers"])
    assert "transfer-encoding" not in sent
    assert sent["content-length"] == "10004"
    assert data["body"] == "0123456789" * 1000 + "tail"
    assert "transfer-encoding" not in dict(lower["headers"])


async def test_async_iterator_body(server: RunningServer) -> None:
    # unasync: begin-async-only
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            yield part

    async with AsyncFlextApiClient(base_url=server.url) as client:
        data = echoed(await client.post("/echo", content=chunks()))
    assert data["body"] == "abc"
    # unasync: end-async-only
    # unasync: sync-only: pass


async def test_file_body_is_streamed_with_its_length(server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    payload = pattern_bytes(300_000)
    path.write_bytes(payload)
    async with AsyncFlextApiClient(base_url=server.url) as client:
        with path.open("rb") as file:
            response = ok(await client.post("/echo/raw", content=file))
    assert response.content == payload


async def test_two_kinds_of_body_is_a_programming_error(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        with pytest.raises(TypeError, match="only one of"):
            await client.post("/echo", json={}, content=b"x")


async def test_status_codes_are_data_until_raise_for_status(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        not_found = ok(await client.get("/status/404"))
        unavailable = ok(await client.get("/status/503"))
        created = ok(await client.get("/status/201"))
    assert not_found.status_code == 404 and not_found.is_error
    failure = not_found.raise_for_status()
    assert failure.is_failure and failure.error_code == "HTTP_STATUS"
    assert failure.error.status_code == 404 and failure.error.response is not_found
    assert "client error" in str(failure.error)
    assert "server error" in str(unavailable.raise_for_status().unwrap_or(None) or "server error")
    assert created.raise_for_status() == Success(created)


async def test_charset_from_content_type(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        latin = ok(await client.get("/charset/latin-1"))
        utf16 = ok(await client.get("/charset/utf-16"))
    assert latin.encoding == "iso8859-1" and latin.text == CHARSET_TEXT
    assert utf16.text == CHARSET_TEXT


async def test_large_body_with_content_length(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        response = ok(await client.get("/bytes/5000000"))
    assert len(response.content) == 5_000_000
    assert response.content == pattern_bytes(5_000_000)


async def test_keep_alive_reuses_one_connection(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        ports = set()
        for _ in range(5):
            data = echoed(await client.get("/echo"))
            assert data["method"] == "GET"
        stats = client.pool_stats
        ports.add(stats.connections)
    assert stats.connections == 1 and stats.idle == 1 and stats.in_use == 0
    origin = next(iter(stats.origins))
    assert origin[0] == "http" and stats.origins[origin].idle == 1


async def test_streaming_response_chunks(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        async with client.stream("GET", "/stream/20") as result:
            assert result.is_success
            response = result.value
            assert response.status_code == 200
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
            assert response.is_closed
        assert received == b"".join(stream_chunk(i) for i in range(20))
        # the connection went back to the pool after the body was read to its end
        assert client.pool_stats.idle == 1


async def test_streaming_read_text_and_lines(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        async with client.stream("GET", "/charset/utf-8") as result:
            text = ""
            async for piece in result.unwrap().aiter_text():
                text += piece
        assert text == CHARSET_TEXT
        async with client.stream("POST", "/echo/raw", content=b"a\nb\r\nc") as result:
            lines = [line async for line in result.unwrap().aiter_lines()]
        assert lines == ["a", "b", "c"]
        async with client.stream("GET", "/json") as result:
            body = await result.unwrap().aread()
        assert body == Success(b'{"hello":"world","n":1}')


async def test_leaving_a_stream_early_closes_its_connection(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        async with client.stream("GET", "/bytes/2000000") as result:
            response = result.unwrap()
            async for _chunk in response.aiter_bytes():
                break
        stats = client.pool_stats
        assert (stats.connections, stats.in_use) == (0, 0)
        async with client.stream("GET", "/bytes/10") as result:
            assert result.is_success
        assert client.pool_stats.connections == 0  # body unread: closed, not reused
        assert ok(await client.get("/")).status_code == 200


async def test_stream_body_can_be_read_once(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        async with client.stream("GET", "/json") as result:
            response = result.unwrap()
            assert (await response.aread()).is_success
            again = await response.aread()
        assert again.is_failure and again.error_code == "STREAM_ERROR"


async def test_stream_failure_is_a_result(server: RunningServer) -> None:
    async with AsyncFlextApiClient() as client, client.stream("GET", "nope://x") as result:
        assert result.is_failure
        assert result.error_code == "UNSUPPORTED_SCHEME"


async def test_per_call_timeout_overrides_the_client(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url, timeout=Timeout(0.1)) as client:
        slow = await client.get("/delay/0.5")
        patient = await client.get("/delay/0.3", timeout=Timeout(5))
        unlimited = await client.get("/delay/0.2", timeout=None)
    assert slow.is_failure and slow.error_code == "READ_TIMEOUT"
    assert ok(patient).status_code == 200
    assert ok(unlimited).status_code == 200


async def test_client_headers_property_is_a_copy(server: RunningServer) -> None:
    async with AsyncFlextApiClient(headers=Headers({"X-A": "1"})) as client:
        headers = client.headers
        headers["X-A"] = "2"
        assert client.headers["x-a"] == "1"


async def test_configuration_errors_raise_at_construction() -> None:
    with pytest.raises(ValueError, match="query"):
        AsyncFlextApiClient(base_url="http://h/?a=1")
    with pytest.raises(TypeError, match="Limits"):
        AsyncFlextApiClient(limits=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_connections"):
        Limits(max_connections=0)
    with pytest.raises(ValueError, match=">= 0"):
        Timeout(-1)
    with pytest.raises(TypeError, match="seconds"):
        Timeout("5")  # type: ignore[arg-type]


async def test_invalid_method_is_a_failure(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        bad = await client.request("GE T", "/")
        custom = await client.request("PROPFIND", "/echo")
    assert bad.is_failure and bad.error_code == "METHOD_INVALID"
    assert json.loads(ok(custom).content)["method"] == "PROPFIND"


async def test_hand_set_framing_headers_are_checked(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        bad_length = await client.post("/echo", content=b"abc", headers={"Content-Length": "x"})
        bad_coding = await client.post("/echo", headers={"Transfer-Encoding": "gzip"})
        good = await client.post("/echo", content=b"abc", headers={"Content-Length": "3"})
    assert bad_length.is_failure and bad_length.error_code == "HEADER_INVALID"
    assert "Content-Length" in str(bad_length.error)
    assert bad_coding.is_failure and bad_coding.error_code == "HEADER_INVALID"
    assert echoed(good)["body"] == "abc"


async def test_request_id_of_the_current_request_is_propagated(server: RunningServer) -> None:
    token = request_id_var.set("req-42")
    try:
        async with AsyncFlextApiClient(base_url=server.url) as client:
            propagated = echoed(await client.get("/echo"))
            explicit = echoed(await client.get("/echo", headers={"X-Request-ID": "mine"}))
    finally:
        request_id_var.reset(token)
    assert dict(propagated["headers"])["x-request-id"] == "req-42"
    assert [v for k, v in explicit["headers"] if k == "x-request-id"] == ["mine"]
    async with AsyncFlextApiClient(base_url=server.url) as client:
        outside = echoed(await client.get("/echo"))
    assert "x-request-id" not in dict(outside["headers"])


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "gzip,br"])
async def test_content_encodings_are_undone(server: RunningServer, encoding: str) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        buffered = ok(await client.get(f"/encoded/{encoding}", params={"size": 300_000}))
        async with client.stream("GET", f"/encoded/{encoding}", params={"size": 300_000}) as r:
            streamed = b""
            async for chunk in r.unwrap().aiter_bytes():
                streamed += chunk
        async with client.stream("GET", f"/encoded/{encoding}", params={"size": 1000}) as r:
            raw = b""
            async for chunk in r.unwrap().aiter_raw():
                raw += chunk
    assert buffered.content == pattern_bytes(300_000)
    assert buffered.headers["content-encoding"] == encoding
    assert streamed == pattern_bytes(300_000)
    assert raw != pattern_bytes(1000) and len(raw) < 1000


async def test_accept_encoding_names_what_can_be_decoded(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url) as client:
        sent = echoed(await client.get("/echo"))
    assert dict(sent["headers"])["accept-encoding"] == "gzip, deflate, br, zstd"


async def test_decompression_bomb_is_stopped(server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=server.url, max_decoded_size=1_000_000) as client:
        bomb = await client.get("/encoded/gzip", params={"size": 50_000_000, "zeros": 1})
        async with client.stream(
            "GET", "/encoded/gzip", params={"size": 50_000_000, "zeros": 1}
        ) as result:
            streamed = await result.unwrap().aread()
        after = await client.get("/")
        stats = client.pool_stats
    assert bomb.is_failure and bomb.error_code == "DECOMPRESSION_LIMIT"
    assert streamed.is_failure and streamed.error_code == "DECOMPRESSION_LIMIT"
    assert ok(after).content == b"hello, world" and stats.in_use == 0


async def test_corrupt_encoding_is_a_decode_failure(raw_server: RawServerFactory) -> None:
    def corrupt(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\nnot-gzip!!"
        )

    server = raw_server(corrupt)
    async with AsyncFlextApiClient() as client:
        result = await client.get(server.url + "/")
    assert result.is_failure and result.error_code == "DECODE_ERROR"


async def test_multipart_files_and_fields(server: RunningServer, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(b"a,b\n1,2\n")
    progress: list[tuple[int, int | None]] = []
    async with AsyncFlextApiClient(base_url=server.url) as client:
        response = ok(
            await client.request(
                "POST",
                "/echo",
                data={"title": "Q3 caf\u00e9", "n": 3},
                files={
                    "report": report,
                    "pictures": [FormFile(b"\x89PNG", filename="a.png"), FormFile(b"GIF8")],
                },
                upload_progress=lambda sent, total: progress.append((sent, total)),
            )
        )
    echoed_request = json.loads(response.content)
    body = echoed_request["body"].encode("latin-1")
    headers = dict(echoed_request["headers"])
    boundary = headers["content-type"].split("boundary=", 1)[1]
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert int(headers["content-length"]) == len(body)
    parts = body.split(b"--" + boundary.encode())[1:-1]
    assert len(parts) == 5
    assert b'name="title"\r\n\r\nQ3 caf\xc3\xa9\r\n' in parts[0]
    assert b'name="report"; filename="report.csv"' in parts[2]
    assert b"Content-Type: text/csv" in parts[2] and parts[2].endswith(b"\r\n\r\na,b\n1,2\n\r\n")
    assert b'filename="a.png"' in parts[3] and b"image/png" in parts[3]
    assert progress and progress[-1] == (len(body), len(body))


async def test_download_progress_reports_every_chunk(server: RunningServer) -> None:
    seen: list[tuple[int, int | None]] = []
    async with AsyncFlextApiClient(base_url=server.url) as client:
        response = ok(
            await client.request(
                "GET",
                "/bytes/300000",
                download_progress=lambda got, total: seen.append((got, total)),
            )
        )
    assert response.content == pattern_bytes(300_000)
    assert seen[-1] == (300_000, 300_000)
    assert [got for got, _ in seen] == sorted(got for got, _ in seen)


async def test_multipart_body_from_disk_is_replayed_on_a_307(
    raw_server: RawServerFactory, tmp_path: Path
) -> None:
    upload = tmp_path / "up.bin"
    upload.write_bytes(b"x" * 100_000)
    bodies: list[int] = []

    def redirect_once(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        first = True
        while (head := reader.next_request()) is not None:
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            bodies.append(length)
            if first:
                first = False
                conn.sendall(b"HTTP/1.1 307 X\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = raw_server(redirect_once)
    async with AsyncFlextApiClient(follow_redirects=True) as client:
        result = await client.post(server.url + "/", files={"f": upload})
    assert ok(result).content == b"ok"
    assert len(bodies) == 2 and bodies[0] == bodies[1] > 100_000


async def test_large_upload_asks_100_continue_and_stops_on_refusal(
    raw_server: RawServerFactory,
) -> None:
    seen: list[bytes] = []

    def refuse(conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        seen.append(head)
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\n\r\nnope")
        conn.settimeout(0.5)
        try:
            while data := conn.recv(65536):
                seen.append(data)
        except OSError:
            pass

    def accept(conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        head, _, body = head.partition(b"\r\n\r\n")
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        while len(body) < length:
            body += conn.recv(1 << 20)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(b"%d" % len(body)), len(body))
        )

    payload = FormFile(b"z" * 2_000_000, filename="big.bin")
    refused = raw_server(refuse)
    accepted = raw_server(accept)
    async with AsyncFlextApiClient() as client:
        answer = ok(await client.post(refused.url + "/", files={"f": payload}))
        stored = ok(await client.post(accepted.url + "/", files={"f": payload}))
        small = ok(await client.post(raw_server(accept).url + "/", content=b"tiny"))
    assert answer.status_code == 413 and answer.content == b"nope"
    assert b"expect: 100-continue" in seen[0].lower()
    assert sum(len(chunk) for chunk in seen[1:]) == 0  # the body was never sent
    assert stored.status_code == 200 and int(stored.content) > 2_000_000
    assert small.status_code == 200 and small.request.headers.get("expect") is None


async def test_trace_hook_sees_each_connection_phase(server: RunningServer) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    def trace(event: str, info: Mapping[str, Any]) -> None:
        events.append((event, dict(info)))

    async with AsyncFlextApiClient(base_url=server.url, trace=trace) as client:
        ok(await client.get("/"))
        ok(await client.get("/json"))
        refused = await client.get("http://127.0.0.1:1/")
    assert [name for name, _ in events] == [
        "connect.start",
        "connect.end",
        "request.sent",
        "response.headers",
        "request.sent",  # the second request reuses the connection: no connect events
        "response.headers",
        "connect.start",
        "connect.failed",
    ]
    assert events[1][1]["tls"] is False and events[1][1]["elapsed"] >= 0
    assert events[3][1] == {"status_code": 200}
    assert events[-1][1]["error"] == "CONNECT_ERROR" and refused.is_failure


# -- Timeout(total=...): one deadline per call -------------------------------------------------


class DeadlineRecorder:
    """A per-call middleware noting the deadline of every request that passes it."""

    def __init__(self) -> None:
        self.deadlines: list[float | None] = []

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        self.deadlines.append(request.deadline)
        return await call_next(request)


async def test_total_timeout_sets_one_deadline_when_the_call_starts(
    uvicorn_h11: RunningServer,
) -> None:
    seen = DeadlineRecorder()
    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url, timeout=Timeout(10, total=5)
    ) as client:
        started = time.monotonic()
        ok(await client.get("/", middleware=[seen]))
        async with client.stream("GET", "/json", middleware=[seen]) as streamed:
            assert streamed.is_success
        ok(await client.get("/", timeout=Timeout(10), middleware=[seen]))
    buffered, stream, untimed = seen.deadlines
    assert buffered is not None and started < buffered <= time.monotonic() + 5
    assert stream is not None and buffered <= stream <= time.monotonic() + 5
    assert untimed is None  # no total budget: no deadline


async def test_retries_and_redirects_draw_on_the_same_deadline(
    uvicorn_h11: RunningServer, raw_server: RawServerFactory
) -> None:
    def flaky(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        statuses = [503, 503, 200]
        while reader.next_request() is not None:
            status = statuses.pop(0) if statuses else 200
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())

    server = raw_server(flaky)
    attempts = DeadlineRecorder()
    hops = DeadlineRecorder()
    async with AsyncFlextApiClient(
        timeout=Timeout(10, total=20),
        retry=RetryPolicy(backoff_base=0.0, jitter=0.0),
        follow_redirects=True,
    ) as client:
        ok(await client.get(server.url + "/", middleware=[attempts]))
        ok(await client.get(uvicorn_h11.url + "/redirect/2", middleware=[hops]))
    assert len(attempts.deadlines) == 3 and len(set(attempts.deadlines)) == 1
    assert len(hops.deadlines) == 3 and len(set(hops.deadlines)) == 1
    assert attempts.deadlines[0] is not None and hops.deadlines[0] is not None


async def test_every_verb_takes_per_call_middleware(raw_server: RawServerFactory) -> None:
    def answer_all(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while reader.next_request() is not None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    server = raw_server(answer_all)
    methods: list[str] = []

    def note(request: Request) -> None:
        methods.append(request.method)

    per_call = [AsyncRequestInterceptor(note)]
    async with AsyncFlextApiClient(base_url=server.url) as client:
        ok(await client.get("/", middleware=per_call))
        ok(await client.head("/", middleware=per_call))
        ok(await client.options("/", middleware=per_call))
        ok(await client.delete("/", middleware=per_call))
        ok(await client.post("/", content=b"x", middleware=per_call))
        ok(await client.put("/", content=b"x", middleware=per_call))
        ok(await client.patch("/", content=b"x", middleware=per_call))
    assert methods == ["GET", "HEAD", "OPTIONS", "DELETE", "POST", "PUT", "PATCH"]
