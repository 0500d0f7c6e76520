"""Conditional GET and the response cache of create_fastapi_app: in process, and two workers
sharing one Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse

from flext_api.cache import AsyncFlextApiCache, CacheConfig
from flext_api.server import ResponseCaching, RouteCaching, create_fastapi_app
from tests.redis_servers import free_port, hung_server, redis_process, wait_for_port
from tests.server.conftest import RedisServer
from tests.server.helpers import asgi_call, http_call

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent.parent


def build(caching: ResponseCaching) -> tuple[FastAPI, list[str]]:
    runs: list[str] = []
    app = create_fastapi_app(access_log=False, metrics=False, caching=caching)

    @app.get("/items/{item_id}")
    async def item(item_id: int, q: str = "") -> dict[str, object]:
        runs.append(f"item {item_id} {q}")
        return {"id": item_id, "q": q, "run": len(runs)}

    @app.get("/tagged")
    async def tagged() -> Response:
        runs.append("tagged")
        return Response(b"body", headers={"ETag": '"v1"', "Cache-Control": "no-cache"})

    @app.get("/cookie")
    async def cookie() -> Response:
        runs.append("cookie")
        response = Response(b"with cookie")
        response.set_cookie("session", "s")
        return response

    @app.get("/private")
    async def private() -> Response:
        runs.append("private")
        return Response(b"mine", headers={"Cache-Control": "private"})

    @app.get("/missing")
    async def missing() -> Response:
        return Response(b"nope", status_code=404)

    @app.get("/big")
    async def big() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * 1000

        return StreamingResponse(chunks())

    @app.post("/items/{item_id}")
    async def change(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app, runs


async def test_etag_and_304_on_every_get_route_with_route_cache_control() -> None:
    caching = ResponseCaching(
        routes={"/items/{item_id}": RouteCaching(cache_control="public, max-age=30")},
        default=RouteCaching(etag="weak"),
    )
    app, runs = build(caching)
    first = await asgi_call(app, "GET", "/items/1")
    assert first.status == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong by default
    assert first.headers["cache-control"] == "public, max-age=30"
    again = await asgi_call(app, "GET", "/items/1", headers=[("If-None-Match", etag)])
    # no ttl, so the handler ran again; its body changed ("run"), so: a new ETag, a full answer
    assert len(runs) == 2
    assert again.status == 200
    assert again.headers["etag"] != etag

    tagged = await asgi_call(app, "GET", "/tagged")
    assert tagged.headers["etag"] == '"v1"'  # the handler's own ETag is kept
    assert tagged.headers["cache-control"] == "no-cache"  # and its own Cache-Control
    not_modified = await asgi_call(app, "GET", "/tagged", headers=[("If-None-Match", 'W/"v1"')])
    assert not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.headers["etag"] == '"v1"'
    assert (
        "content-length" not in not_modified.headers
        or not_modified.headers["content-length"] == "0"
    )
    star = await asgi_call(app, "GET", "/tagged", headers=[("If-None-Match", "*")])
    assert star.status == 304
    other = await asgi_call(app, "GET", "/tagged", headers=[("If-None-Match", '"v0", "v2"')])
    assert other.status == 200
    assert other.body == b"body"

    weak = await asgi_call(app, "GET", "/cookie")
    assert weak.headers["etag"].startswith('W/"')  # the default policy asks for weak tags
    assert "etag" not in (await asgi_call(app, "GET", "/missing")).headers  # only 200s
    assert "etag" not in (await asgi_call(app, "POST", "/items/1")).headers


async def test_big_bodies_stream_through_untouched() -> None:
    app, _ = build(ResponseCaching(max_body_bytes=1500))
    reply = await asgi_call(app, "GET", "/big")
    assert reply.status == 200
    assert reply.body == b"x" * 4000
    assert "etag" not in reply.headers


async def test_response_cache_keys_on_path_query_and_vary() -> None:
    caching = ResponseCaching(
        routes={"/items/{item_id}": RouteCaching(ttl=60, vary=("Accept-Language",))}
    )
    app, runs = build(caching)
    first = await asgi_call(app, "GET", "/items/1?q=a&r=b")
    assert first.headers["x-cache"] == "MISS"
    assert first.headers["vary"] == "Accept-Language"
    hit = await asgi_call(app, "GET", "/items/1?r=b&q=a")  # same query, other order
    assert hit.headers["x-cache"] == "HIT"
    assert hit.body == first.body
    assert hit.headers["etag"] == first.headers["etag"]
    assert int(hit.headers["age"]) >= 0
    assert len(runs) == 1
    not_modified = await asgi_call(
        app, "GET", "/items/1?q=a&r=b", headers=[("If-None-Match", first.headers["etag"])]
    )
    assert not_modified.status == 304  # from the cache, without running the handler
    assert len(runs) == 1
    assert (await asgi_call(app, "GET", "/items/1?q=other")).headers["x-cache"] == "MISS"
    assert (await asgi_call(app, "GET", "/items/2?q=a&r=b")).headers["x-cache"] == "MISS"
    french = await asgi_call(app, "GET", "/items/1?q=a&r=b", headers=[("Accept-Language", "fr")])
    assert french.headers["x-cache"] == "MISS"
    assert len(runs) == 4


async def test_authenticated_requests_are_not_cached_unless_the_route_says_so() -> None:
    caching = ResponseCaching(
        routes={
            "/items/{item_id}": RouteCaching(ttl=60),
            "/tagged": RouteCaching(ttl=60, cache_authenticated=True),
        }
    )
    app, runs = build(caching)
    await asgi_call(app, "GET", "/items/1")  # an anonymous copy in the cache
    for _ in range(2):
        reply = await asgi_call(app, "GET", "/items/1", headers=[("Authorization", "Bearer t")])
        assert "x-cache" not in reply.headers
    with_cookie = await asgi_call(app, "GET", "/items/1", headers=[("Cookie", "session=s")])
    assert "x-cache" not in with_cookie.headers
    assert runs.count("item 1 ") == 4  # the handler saw every authenticated request

    alice = [("Authorization", "Bearer alice")]
    assert (await asgi_call(app, "GET", "/tagged", headers=alice)).headers["x-cache"] == "MISS"
    assert (await asgi_call(app, "GET", "/tagged", headers=alice)).headers["x-cache"] == "HIT"
    bob = [("Authorization", "Bearer bob")]
    assert (await asgi_call(app, "GET", "/tagged", headers=bob)).headers["x-cache"] == "MISS"


async def test_responses_that_set_cookies_or_are_private_are_not_stored() -> None:
    caching = ResponseCaching(
        routes={"/cookie": RouteCaching(ttl=60), "/private": RouteCaching(ttl=60)}
    )
    app, runs = build(caching)
    for path in ("/cookie", "/cookie", "/private", "/private"):
        assert (await asgi_call(app, "GET", path)).headers["x-cache"] == "MISS"
    assert runs == ["cookie", "cookie", "private", "private"]


async def test_an_unavailable_cache_never_fails_a_request() -> None:
    with hung_server() as port:
        cache = AsyncFlextApiCache(
            "redis", config=CacheConfig(redis_url=f"redis://127.0.0.1:{port}/0", timeout=0.1)
        )
        caching = ResponseCaching(routes={"/items/{item_id}": RouteCaching(ttl=60)}, cache=cache)
        app, runs = build(caching)
        for _ in range(2):
            reply = await asgi_call(app, "GET", "/items/7")
            assert reply.status == 200
            assert reply.json()["id"] == 7
        assert len(runs) == 2  # nothing could be stored: the handler answered both
        cache.close()


def test_invalid_route_caching_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        RouteCaching(ttl=0)
    with pytest.raises(ValueError, match="etag"):
        RouteCaching(etag="medium")  # type: ignore[arg-type]


@pytest.fixture
def two_workers(
    redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[tuple[int, int], Path]]:
    """Two uvicorn workers (processes) sharing one Redis-backed response cache."""
    runs = tmp_path / "runs"
    runs.touch()
    env = {
        **os.environ,
        "CACHE_TEST_REDIS_URL": redis_server.url.replace("/0", "/2"),
        "CACHE_TEST_RUNS": str(runs),
        "PYTHONPATH": str(ROOT),
    }
    ports = (free_port(), free_port())
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.server.cache_worker_app:create_app",
        "--factory",
    ]
    processes = [
        subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=env,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_for_port(port, timeout=15)
        yield ports, runs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def test_two_workers_share_one_redis_response_cache(
    two_workers: tuple[tuple[int, int], Path],
) -> None:
    ports, runs = two_workers
    pids = {http_call(port, "GET", "/pid").json()["pid"] for port in ports}
    assert len(pids) == 2
    replies = [http_call(ports[i % 2], "GET", "/items/5") for i in range(6)]
    assert [r.headers["x-cache"] for r in replies] == ["MISS"] + ["HIT"] * 5
    assert len({r.body for r in replies}) == 1
    assert replies[0].headers["cache-control"] == "public, max-age=60"
    assert len(runs.read_text().split()) == 1  # one handler run for both workers
    tag = replies[0].headers["etag"]
    assert http_call(ports[1], "GET", "/items/5", headers={"If-None-Match": tag}).status == 304


async def test_redis_killed_mid_run_requests_still_answer_then_the_cache_recovers() -> None:
    with redis_process() as server:
        cache = AsyncFlextApiCache(
            "redis", config=CacheConfig(redis_url=server.url, timeout=0.5, connect_timeout=0.5)
        )
        caching = ResponseCaching(routes={"/items/{item_id}": RouteCaching(ttl=60)}, cache=cache)
        app, runs = build(caching)
        assert (await asgi_call(app, "GET", "/items/3")).headers["x-cache"] == "MISS"
        assert (await asgi_call(app, "GET", "/items/3")).headers["x-cache"] == "HIT"
        server.kill()
        during = await asgi_call(app, "GET", "/items/3")
        assert during.status == 200  # the handler answers while the cache is gone
        assert during.headers["x-cache"] == "MISS"
        server.restart()
        assert (await asgi_call(app, "GET", "/items/3")).headers["x-cache"] == "MISS"
        assert (await asgi_call(app, "GET", "/items/3")).headers["x-cache"] == "HIT"
        assert len(runs) == 3
        cache.close()
