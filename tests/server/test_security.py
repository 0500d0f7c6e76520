"""Security headers and the body guard (413 while streaming, 408 slow drip, 415)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from flext_api.server import RequestBodyGuardMiddleware, SecurityHeadersMiddleware
from tests.server.apps import build_app
from tests.server.helpers import asgi_call, http_call, read_raw_response, serve


@pytest.fixture(scope="module")
def guarded_port() -> Iterator[int]:
    app = build_app(access_log=False, max_body_bytes=1000, body_timeout_seconds=0.3)
    with serve(app) as port:
        yield port


@pytest.mark.anyio
async def test_safe_default_headers_without_hsts_on_plain_http() -> None:
    reply = await asgi_call(build_app(access_log=False), "GET", "/ping")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in reply.headers


@pytest.mark.anyio
async def test_hsts_on_https_and_configurable_csp() -> None:
    app = build_app(
        access_log=False, content_security_policy="default-src 'self'", hsts_max_age=600
    )
    reply = await asgi_call(app, "GET", "/ping", scheme="https")
    assert reply.headers["strict-transport-security"] == "max-age=600; includeSubDomains"
    assert reply.headers["content-security-policy"] == "default-src 'self'"


@pytest.mark.anyio
async def test_response_headers_win_and_csp_can_be_off() -> None:
    async def sets_own(scope: object, receive: object, send: object) -> None:
        assert callable(send)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-frame-options", b"SAMEORIGIN")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    app = SecurityHeadersMiddleware(sets_own, content_security_policy=None, hsts_max_age=0)
    reply = await asgi_call(app, "GET", "/", scheme="https")
    assert [v for k, v in reply.raw_headers if k == "x-frame-options"] == ["SAMEORIGIN"]
    assert "content-security-policy" not in reply.headers
    assert "strict-transport-security" not in reply.headers


def test_declared_content_length_over_limit_is_413_before_any_body(guarded_port: int) -> None:
    with socket.create_connection(("127.0.0.1", guarded_port), timeout=5) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        reply = read_raw_response(sock)  # no body byte was sent: the server decided early
    assert reply.status == 413
    assert reply.headers["connection"] == "close"
    body = reply.json()
    assert body["error_code"] == "PAYLOAD_TOO_LARGE"
    assert body["details"] == {"max_body_bytes": 1000}


def test_chunked_body_over_limit_is_413_while_streaming(guarded_port: int) -> None:
    with socket.create_connection(("127.0.0.1", guarded_port), timeout=5) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        # 600 + 600 bytes cross the 1000-byte limit; the body never ends, yet we get a 413.
        for _ in range(2):
            sock.sendall(b"258\r\n" + b"x" * 600 + b"\r\n")
        reply = read_raw_response(sock)
    assert reply.status == 413
    assert reply.json()["error_code"] == "PAYLOAD_TOO_LARGE"


def test_body_within_limit_streams_to_the_handler(guarded_port: int) -> None:
    reply = http_call(
        guarded_port,
        "POST",
        "/upload",
        headers={"Content-Type": "application/json"},
        body=b"y" * 1000,
    )
    assert reply.status == 200
    assert reply.json() == {"size": 1000}


def test_slow_drip_body_is_408(guarded_port: int) -> None:
    with socket.create_connection(("127.0.0.1", guarded_port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b"z" * 10
        )
        reply = read_raw_response(sock)  # the other 90 bytes never come
        elapsed = time.monotonic() - started
    assert reply.status == 408
    assert reply.json()["error_code"] == "BODY_READ_TIMEOUT"
    assert reply.headers["connection"] == "close"
    assert elapsed < 3


def test_slow_drip_into_a_pydantic_body_is_408_not_400(guarded_port: int) -> None:
    with socket.create_connection(("127.0.0.1", guarded_port), timeout=5) as sock:
        sock.sendall(
            b"POST /pets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        reply = read_raw_response(sock)
    assert reply.status == 408
    assert reply.json()["error_code"] == "BODY_READ_TIMEOUT"


def test_oversized_pydantic_body_is_413_not_400(guarded_port: int) -> None:
    with socket.create_connection(("127.0.0.1", guarded_port), timeout=5) as sock:
        sock.sendall(
            b"POST /pets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(b"4b0\r\n" + b" " * 1200 + b"\r\n")
        reply = read_raw_response(sock)
    assert reply.status == 413


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        (None, 415),
        ("application/json; charset=utf-8", 200),
        ("multipart/form-data; boundary=x", 200),
    ],
)
def test_content_types_of_post_bodies(
    guarded_port: int, content_type: str | None, status: int
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = http_call(guarded_port, "POST", "/upload", headers=headers, body=b"{}")
    assert reply.status == status
    if status == 415:
        assert reply.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert "application/json" in reply.json()["details"]["allowed"]


def test_post_without_body_needs_no_content_type(guarded_port: int) -> None:
    reply = http_call(guarded_port, "POST", "/upload", headers={"Content-Length": "0"})
    assert reply.status == 200
    assert reply.json() == {"size": 0}


@pytest.mark.anyio
async def test_guard_alone_wildcards_any_type_and_no_timeout() -> None:
    async def echo_size(scope: object, receive: object, send: object) -> None:
        assert callable(receive) and callable(send)
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    text_only = RequestBodyGuardMiddleware(
        echo_size, max_body_bytes=10, body_timeout=None, allowed_content_types=["text/*"]
    )
    ok_reply = await asgi_call(
        text_only,
        "PUT",
        "/",
        headers=[("content-type", "text/csv"), ("content-length", "bad")],
        body_chunks=[b"abc"],
    )
    assert (ok_reply.status, ok_reply.body) == (200, b"3")
    refused = await asgi_call(
        text_only,
        "PUT",
        "/",
        headers=[("content-type", "image/png"), ("content-length", "3")],
        body_chunks=[b"abc"],
    )
    assert refused.status == 415
    too_big = await asgi_call(
        text_only,
        "PUT",
        "/",
        headers=[("content-type", "text/csv"), ("transfer-encoding", "chunked")],
        body_chunks=[b"123456", b"123456"],
    )
    assert too_big.status == 413
    anything = RequestBodyGuardMiddleware(echo_size, allowed_content_types=None)
    any_reply = await asgi_call(
        anything, "PATCH", "/", headers=[("content-length", "2")], body_chunks=[b"hi"]
    )
    assert (any_reply.status, any_reply.body) == (200, b"2")
