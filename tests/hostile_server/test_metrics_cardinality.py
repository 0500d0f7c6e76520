"""Metric labels stay bounded whatever clients send (item 4).

Methods outside the standard set are one ``method="OTHER"``; a request refused before routing
(413, 415), and the probe routes, are counted under their route template; every path no route
matches is one ``route="<unmatched>"``. 10,000 requests with distinct methods and paths then
add no series to /metrics and leave the server's memory where it was.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from tests.hostile_server.conftest import UvicornWorker, requests_total, uvicorn_workers


@pytest.fixture
def worker(tmp_path: pytest.TempPathFactory) -> Iterator[UvicornWorker]:
    env = {"FLEXT_API_MAX_BODY_BYTES": "1000"}
    with uvicorn_workers(tmp_path, env) as workers:  # type: ignore[arg-type]
        yield workers[0]


def series(worker: UvicornWorker) -> list[str]:
    body = worker.call("GET", "/metrics").body.decode()
    return [line for line in body.splitlines() if line and not line.startswith("#")]


def test_refusals_probes_and_odd_methods_have_bounded_labels(worker: UvicornWorker) -> None:
    json_type = {"Content-Type": "application/json"}
    cases = [
        ("POST", "/upload", {"Content-Type": "text/plain"}, b"hi", 415, "POST", "/upload"),
        ("POST", "/upload", json_type, b"x" * 5000, 413, "POST", "/upload"),
        ("GET", "/health", {}, None, 200, "GET", "/health"),
        ("GET", "/ready", {}, None, 200, "GET", "/ready"),
        ("GET", "/nope/123", {}, None, 404, "GET", "<unmatched>"),
        ("BREW", "/ping", {}, None, 405, "OTHER", "/ping"),
        ("BREW", "/nope/7", {}, None, 404, "OTHER", "<unmatched>"),
    ]
    for index, (method, path, headers, body, status, _, route) in enumerate(cases):
        request_id = f"labels-{index}"
        reply = worker.call(method, path, headers={**headers, "X-Request-ID": request_id},
                            body=body)  # fmt: skip
        assert reply.status == status
        if path not in ("/health", "/ready"):  # probes are not access-logged
            line = worker.access_line(request_id)
            assert (line["method"], line["route"], line["status"]) == (method, route, status)
    samples = worker.metrics()
    for _, _, _, _, status, label, route in cases:
        assert requests_total(samples, label, route, status) >= 1, (label, route, status)
    assert requests_total(worker.metrics(), "GET", "/metrics", 200) >= 1
    methods = {value for (_, labels) in samples for key, value in labels if key == "method"}
    assert methods == {"GET", "POST", "OTHER"}
    assert worker.call("GET", "/ping").status == 200


@pytest.mark.slow
def test_ten_thousand_distinct_methods_and_paths_add_no_series(worker: UvicornWorker) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=10)

    def send(method: str, path: str) -> int:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status

    try:
        # Warm up every kind of request below once, so each (method, route, status) exists.
        assert [send("WARM", "/ping"), send("GET", "/nope/x"), send("GET", "/pets/1")] == [
            405, 404, 200,
        ]  # fmt: skip
        for index in range(200):  # and let the allocator settle before measuring
            send(f"SETTLE{index}", f"/settle/{index}")
        series(worker)  # /metrics counts itself once it has answered
        before, rss_before = series(worker), worker.rss_kib()
        statuses = set()
        for index in range(5000):
            statuses.add(send(f"M{index}", "/ping"))
        for index in range(5000):
            statuses.add(send("GET", f"/nope/{index}" if index % 2 else f"/pets/{index}"))
        assert statuses == {405, 404, 200}
    finally:
        connection.close()
    after, rss_after = series(worker), worker.rss_kib()
    names_before = {line.rpartition(" ")[0] for line in before}
    assert {line.rpartition(" ")[0] for line in after} - names_before == set()
    assert len(after) == len(before)
    # 10,000 new label sets would be tens of MiB (a histogram child per method); a few MiB
    # of slack covers the allocator and the access-log buffer.
    assert rss_after - rss_before < 8 * 1024, (rss_before, rss_after)
    assert worker.call("GET", "/ping").status == 200
