"""Every refusal the server stack makes answers in the documented JSON error shape (item 2).

One uvicorn process with CORS, a small body limit, a short body deadline and a rate limit;
each case sends one hostile request and checks what a client, an operator reading the access
log and a dashboard reading /metrics would see, then that a normal request still works.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
import pytest

from tests.hostile_server.conftest import UvicornWorker, requests_total, uvicorn_workers
from tests.server.helpers import Reply, read_raw_response

GOOD_ORIGIN = "https://good.example"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornWorker]:
    env = {
        "FLEXT_API_CORS_ORIGINS": GOOD_ORIGIN,
        "FLEXT_API_MAX_BODY_BYTES": "1000",
        "FLEXT_API_BODY_TIMEOUT_SECONDS": "0.5",
        "FLEXT_API_RATE_LIMIT": "30",
    }
    with uvicorn_workers(tmp_path_factory.mktemp("refusals"), env) as workers:
        yield workers[0]


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    status: int
    error_code: str
    route: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    details: object = ...


def preflight(path: str, origin: str, method: str, headers: str | None = None) -> dict[str, str]:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return sent


CASES = {
    "cors-origin": Refusal(
        "OPTIONS", "/pets/1", 400, "CORS_PREFLIGHT_REJECTED", "/pets/{pet_id}",
        headers=preflight("/pets/1", "https://evil.example", "GET"),
        details={"refused": ["origin"]},
    ),
    "cors-headers": Refusal(
        "OPTIONS", "/ping", 400, "CORS_PREFLIGHT_REJECTED", "/ping",
        headers=preflight("/ping", GOOD_ORIGIN, "GET", "Content-Type, X-Evil"),
        details={"refused": ["headers"]},
    ),
    "cors-method": Refusal(
        "OPTIONS", "/upload", 400, "CORS_PREFLIGHT_REJECTED", "/upload",
        headers=preflight("/upload", GOOD_ORIGIN, "TRACE"),
        details={"refused": ["method"]},
    ),
    "not-found": Refusal("GET", "/nope/1", 404, "NOT_FOUND", "<unmatched>"),
    "wrong-method": Refusal("DELETE", "/ping", 405, "METHOD_NOT_ALLOWED", "/ping"),
    "too-large": Refusal(
        "POST", "/upload", 413, "PAYLOAD_TOO_LARGE", "/upload",
        headers={"Content-Type": "application/json"}, body=b"x" * 5000,
        details={"max_body_bytes": 1000},
    ),
    "media-type": Refusal(
        "POST", "/upload", 415, "UNSUPPORTED_MEDIA_TYPE", "/upload",
        headers={"Content-Type": "text/plain"}, body=b"hello",
    ),
    "validation": Refusal(
        "POST", "/pets", 422, "VALIDATION_ERROR", "/pets",
        headers={"Content-Type": "application/json"}, body=b'{"name": 1}',
    ),
}  # fmt: skip


def check_error_shape(reply: Reply, refusal: Refusal, request_id: str) -> None:
    assert reply.status == refusal.status, reply.body
    assert reply.headers["content-type"] == "application/json"
    body = msgspec.json.decode(reply.body)
    assert set(body) == {"error_code", "message", "details", "request_id"}
    assert body["error_code"] == refusal.error_code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == request_id
    assert reply.headers["x-request-id"] == request_id
    if refusal.details is not ...:
        assert body["details"] == refusal.details


def check_recorded(worker: UvicornWorker, refusal: Refusal, request_id: str) -> None:
    line = worker.access_line(request_id)
    assert (line["method"], line["route"], line["status"]) == (
        refusal.method,
        refusal.route,
        refusal.status,
    )
    assert "Traceback" not in worker.stderr()
    assert worker.call("GET", "/ping").status == 200


@pytest.mark.parametrize("name", list(CASES))
def test_refusal_has_the_json_error_shape(worker: UvicornWorker, name: str) -> None:
    refusal = CASES[name]
    request_id = f"refusal-{name}"
    before = worker.metrics()
    reply = worker.call(
        refusal.method,
        refusal.path,
        headers={**refusal.headers, "X-Request-ID": request_id},
        body=refusal.body,
    )
    check_error_shape(reply, refusal, request_id)
    if name == "cors-origin":
        assert "access-control-allow-origin" not in reply.headers
    check_recorded(worker, refusal, request_id)
    after = worker.metrics()
    key = (refusal.method, refusal.route, refusal.status)
    assert requests_total(after, *key) - requests_total(before, *key) == 1


def test_allowed_preflight_is_still_answered(worker: UvicornWorker) -> None:
    reply = worker.call("OPTIONS", "/ping", headers=preflight("/ping", GOOD_ORIGIN, "GET"))
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == GOOD_ORIGIN


def test_slow_body_is_a_408_in_the_error_shape(worker: UvicornWorker) -> None:
    refusal = Refusal("POST", "/upload", 408, "BODY_READ_TIMEOUT", "/upload")
    before = worker.metrics()
    with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-Request-ID: refusal-slow-body\r\nContent-Length: 500\r\n\r\n" + b"x" * 10
        )
        reply = read_raw_response(sock)  # the rest of the body never comes
    check_error_shape(reply, refusal, "refusal-slow-body")
    assert reply.headers["connection"] == "close"
    check_recorded(worker, refusal, "refusal-slow-body")
    after = worker.metrics()
    key = ("POST", "/upload", 408)
    assert requests_total(after, *key) - requests_total(before, *key) == 1


def test_rate_limited_is_a_429_in_the_error_shape(worker: UvicornWorker) -> None:
    refusal = Refusal("GET", "/limited", 429, "RATE_LIMITED", "/limited")
    for _ in range(30):
        assert worker.call("GET", "/limited").status == 200
    reply = worker.call("GET", "/limited", headers={"X-Request-ID": "refusal-limited"})
    check_error_shape(reply, refusal, "refusal-limited")
    assert reply.headers["retry-after"]
    check_recorded(worker, refusal, "refusal-limited")
    assert requests_total(worker.metrics(), "GET", "/limited", 429) == 1
