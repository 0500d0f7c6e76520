"""A client that hangs up in the middle of its request body (item 1 of "hostile input").

Nobody is left to read a response, and nothing failed on the server: the request must not be
a 500, an ERROR record or a traceback. It is recorded as 499 (client closed the request, the
nginx convention) in the access line and in ``flext_api_requests_total``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.hostile_server.conftest import UvicornWorker, requests_total, uvicorn_workers


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornWorker]:
    with uvicorn_workers(tmp_path_factory.mktemp("abort"), {}) as workers:
        yield workers[0]


def send_half_a_body_and_hang_up(port: int, path: str, request_id: str, chunked: bool) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 100000"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Request-ID: {request_id}\r\n{framing}\r\n\r\n"
    ).encode()
    part = b'{"name": "' + b"x" * 5000
    body = b"%x\r\n%s\r\n" % (len(part), part) if chunked else part
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body)
        # Let the application start reading the body before the client goes away, as a
        # client that gives up halfway through an upload does.
        time.sleep(0.3)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "route"),
    [("/upload", "/upload"), ("/pets", "/pets")],
    ids=["streamed-by-the-handler", "parsed-by-fastapi"],
)
def test_client_abort_mid_body_is_a_499_not_a_500(
    worker: UvicornWorker, path: str, route: str, chunked: bool
) -> None:
    request_id = f"abort-{path.strip('/')}-{int(chunked)}"
    before = worker.metrics()
    send_half_a_body_and_hang_up(worker.port, path, request_id, chunked)

    line = worker.access_line(request_id)
    assert (line["method"], line["route"], line["status"]) == ("POST", route, 499)
    log = worker.stderr()
    assert "Traceback" not in log
    assert "ERROR" not in log
    after = worker.metrics()
    counted = requests_total(after, "POST", route, 499) - requests_total(before, "POST", route, 499)
    assert counted == 1
    assert not any(("status", "500") in labels for (_, labels) in after)
    # The server keeps serving.
    assert worker.call("GET", "/ping").status == 200
