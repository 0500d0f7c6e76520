"""The middleware pipeline against real servers: order, short-circuits, hooks, retries and the
circuit breaker. Generated into ``tests/_sync/test_middleware.py`` for the blocking client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from flext_api import AsyncFlextApiClient, FlextApiError, InvalidRequest, Request, Response
from flext_api._async.middleware import (
    AsyncApiKeyMiddleware,
    AsyncCallNext,
    AsyncCircuitBreakerMiddleware,
    AsyncDigestAuthMiddleware,
    AsyncErrorTransformer,
    AsyncHeaderAuthMiddleware,
    AsyncOAuth2Middleware,
    AsyncRedirectMiddleware,
    AsyncRequestInterceptor,
    AsyncResponseProcessor,
    AsyncRetryMiddleware,
    R,
    ResponseLike,
)
from flext_api._result import Failure, Success
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, DigestAuth, OAuth2Flow
from flext_api._sansio.circuit import CircuitBreaker
from flext_api._sansio.retry import RetryPolicy
from tests.servers.raw import RawServerFactory, RequestReader
from tests.servers.runners import RunningServer

pytestmark = pytest.mark.anyio  # unasync: remove


class Recorder:
    """A middleware that notes when it sees the request and the response."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        self.log.append(f"{self.name}>")
        result = await call_next(request)
        self.log.append(f"<{self.name}")
        return result


def scripted(statuses: list[tuple[int, dict[str, str]]], seen: list[bytes]) -> Any:
    """A raw-server script answering each request with the next (status, headers)."""

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while (request := reader.next_request()) is not None:
            seen.append(request.split(b" ", 1)[0])
            status, headers = statuses.pop(0) if statuses else (200, {})
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            body = f"status {status}".encode()
            conn.sendall(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body
            )

    return script


async def test_order_is_outermost_first_then_per_call(uvicorn_h11: RunningServer) -> None:
    log: list[str] = []
    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url,
        middleware=[Recorder("a", log), Recorder("b", log)],
    ) as client:
        result = await client.get("/")
        assert result.is_success
        assert log == ["a>", "b>", "<b", "<a"]
        log.clear()
        result = await client.request("GET", "/", middleware=[Recorder("call", log)])
        assert result.is_success
        assert log == ["a>", "b>", "call>", "<call", "<b", "<a"]
        log.clear()
        async with client.stream("GET", "/json") as streamed:
            assert streamed.is_success
        assert log == ["a>", "b>", "<b", "<a"]


async def test_interceptor_can_change_or_stop_a_request(
    uvicorn_h11: RunningServer, raw_server: RawServerFactory
) -> None:
    def add_header(request: Request) -> None:
        request.headers["X-Added"] = "yes"

    def refuse(request: Request) -> Failure[FlextApiError]:
        return Failure(InvalidRequest(f"{request.url} is not allowed by policy"))

    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url, middleware=[AsyncRequestInterceptor(add_header)]
    ) as client:
        echoed = (await client.get("/headers")).unwrap().json().unwrap()
    assert echoed["x-added"] == "yes"

    server = raw_server(scripted([], []))
    async with AsyncFlextApiClient(middleware=[AsyncRequestInterceptor(refuse)]) as client:
        stopped = await client.get(server.url + "/")
    assert stopped.is_failure and stopped.error_code == "INVALID_REQUEST"
    assert server.connections == 0  # nothing was sent


async def test_response_processor_and_error_transformer(uvicorn_h11: RunningServer) -> None:
    def server_errors_fail(response: ResponseLike) -> Failure[FlextApiError] | None:
        if response.status_code >= 500:
            return Failure(FlextApiError(f"{response.request.url} failed"))
        return None

    def tag(error: FlextApiError) -> FlextApiError:
        error.message = f"[payments] {error.message}"
        return error

    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url,
        middleware=[AsyncErrorTransformer(tag), AsyncResponseProcessor(server_errors_fail)],
    ) as client:
        failed = await client.get("/status/503")
        fine = await client.get("/status/404")
        assert client.pool_stats.in_use == 0
    assert failed.is_failure and str(failed.error).startswith("[payments] ")
    assert fine.is_success and fine.value.status_code == 404


async def test_event_hooks_see_requests_responses_and_errors(uvicorn_h11: RunningServer) -> None:
    seen: list[str] = []
    hooks: dict[str, list[Any]] = {
        "request": [lambda request: seen.append(f"request {request.method}")],
        "response": [lambda response: seen.append(f"response {response.status_code}")],
        "error": [lambda error: seen.append(f"error {error.code}")],
    }
    async with AsyncFlextApiClient(event_hooks=hooks) as client:
        await client.get(uvicorn_h11.url + "/status/201")
        await client.get("http://127.0.0.1:1/")
    assert seen == ["request GET", "response 201", "request GET", "error CONNECT_ERROR"]
    with pytest.raises(ValueError, match="unknown event hook"):
        AsyncFlextApiClient(event_hooks={"reqest": []})


async def test_retry_honours_retry_after_and_stops_after_success(
    raw_server: RawServerFactory,
) -> None:
    seen: list[bytes] = []
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    server = raw_server(scripted([(503, {"Retry-After": "2"}), (429, {})], seen))
    retry = AsyncRetryMiddleware(
        RetryPolicy(max_retries=3, backoff_base=0.5, jitter=0.0), sleep=fake_sleep
    )
    async with AsyncFlextApiClient(middleware=[retry]) as client:
        result = await client.get(server.url + "/")
        assert client.pool_stats.in_use == 0
    assert result.is_success and result.value.status_code == 200
    assert seen == [b"GET", b"GET", b"GET"]
    assert waits == [2.0, 1.0]  # Retry-After, then backoff 0.5 * 2**1


async def test_retry_gives_up_on_post_and_after_max_retries(raw_server: RawServerFactory) -> None:
    seen: list[bytes] = []

    async def no_sleep(seconds: float) -> None:
        return None

    server = raw_server(scripted([(503, {})] * 10, seen))
    retry = AsyncRetryMiddleware(RetryPolicy(max_retries=2, jitter=0.0), sleep=no_sleep)
    async with AsyncFlextApiClient(middleware=[retry]) as client:
        posted = await client.post(server.url + "/", content=b"x")
        assert seen == [b"POST"]
        got = await client.get(server.url + "/")
    assert posted.is_success and posted.value.status_code == 503
    assert got.is_success and got.value.status_code == 503
    assert seen == [b"POST", b"GET", b"GET", b"GET"]


async def test_retry_on_connect_errors_uses_the_client_setting() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempts: list[str] = []
    async with AsyncFlextApiClient(
        retry=RetryPolicy(max_retries=2, backoff_base=0.01, jitter=0.0)
    ) as client:
        # per-call middleware runs inside the client's retries: it sees every attempt
        result = await client.request(
            "POST", f"http://127.0.0.1:{port}/", middleware=[Recorder("try", attempts)]
        )
    assert result.is_failure and result.error_code == "CONNECT_ERROR"
    # nothing was sent, so even a POST is retried: three attempts in all
    assert attempts.count("try>") == 3


async def test_circuit_opens_fails_fast_and_closes_after_a_trial(
    raw_server: RawServerFactory,
) -> None:
    seen: list[bytes] = []
    server = raw_server(scripted([(503, {})] * 3, seen))
    async with AsyncFlextApiClient(
        circuit_breaker=CircuitBreaker(failure_threshold=3, open_duration=0.0)
    ) as client:
        for _ in range(3):
            assert (await client.get(server.url + "/")).unwrap().status_code == 503
        # open_duration=0: the next call is the half-open trial, and it succeeds
        trial = await client.get(server.url + "/")
        assert trial.unwrap().status_code == 200
    assert len(seen) == 4


async def test_open_circuit_sends_nothing(raw_server: RawServerFactory) -> None:
    seen: list[bytes] = []
    server = raw_server(scripted([(502, {})] * 5, seen))
    async with AsyncFlextApiClient(
        circuit_breaker=CircuitBreaker(failure_threshold=2, open_duration=60.0)
    ) as client:
        for _ in range(2):
            await client.get(server.url + "/")
        blocked = await client.get(server.url + "/")
        streamed_state = ""
        async with client.stream("GET", server.url + "/") as streamed:
            streamed_state = streamed.error_code if streamed.is_failure else "sent"
    assert blocked.is_failure and blocked.error_code == "CIRCUIT_OPEN"
    assert "open" in str(blocked.error) and "127.0.0.1" in str(blocked.error)
    assert streamed_state == "CIRCUIT_OPEN"
    assert len(seen) == 2


def redirecting(first: str, seen: list[bytes]) -> Any:
    """Answer the first request with ``first`` (a status line and headers), then 200s; note
    every request line and Authorization header."""

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        answered = False
        while (request := reader.next_request()) is not None:
            lines = request.split(b"\r\n")
            seen.append(lines[0])
            seen.extend(line for line in lines[1:] if line.lower().startswith(b"authorization"))
            if not answered:
                answered = True
                conn.sendall(first.encode() + b"Content-Length: 0\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")

    return script


async def test_redirects_are_followed_with_history(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=uvicorn_h11.url, follow_redirects=True) as client:
        followed = (await client.get("/redirect/3")).unwrap()
        assert client.pool_stats.in_use == 0
        async with client.stream("GET", "/redirect/2") as streamed:
            final = streamed.unwrap()
            assert final.status_code == 200
            assert [r.status_code for r in final.history] == [302, 302]
    assert followed.status_code == 200 and followed.content == b"hello, world"
    assert [r.status_code for r in followed.history] == [302, 302, 302]
    assert str(followed.history[0].request.url).endswith("/redirect/3")
    async with AsyncFlextApiClient(base_url=uvicorn_h11.url) as client:
        not_followed = (await client.get("/redirect/1")).unwrap()
    assert not_followed.status_code == 302 and not_followed.history == []


async def test_redirect_limit_is_a_failure(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url, follow_redirects=True, max_redirects=2
    ) as client:
        result = await client.get("/redirect/5")
        assert client.pool_stats.in_use == 0
    assert result.is_failure and result.error_code == "TOO_MANY_REDIRECTS"
    assert "more than 2" in str(result.error)


async def test_303_turns_post_into_get_and_307_replays_it(raw_server: RawServerFactory) -> None:
    seen_303: list[bytes] = []
    seen_307: list[bytes] = []
    s303 = raw_server(redirecting("HTTP/1.1 303 See Other\r\nLocation: /next\r\n", seen_303))
    s307 = raw_server(redirecting("HTTP/1.1 307 Temp\r\nLocation: /again\r\n", seen_307))
    async with AsyncFlextApiClient(follow_redirects=True) as client:
        after_303 = await client.post(s303.url + "/form", content=b"payload")
        after_307 = await client.post(s307.url + "/form", content=b"payload")
    assert after_303.unwrap().content == b"done"
    assert seen_303 == [b"POST /form HTTP/1.1", b"GET /next HTTP/1.1"]
    assert after_307.unwrap().status_code == 200
    assert seen_307 == [b"POST /form HTTP/1.1", b"POST /again HTTP/1.1"]


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    raw_server: RawServerFactory,
) -> None:
    seen_target: list[bytes] = []
    seen_origin: list[bytes] = []
    target = raw_server(redirecting("HTTP/1.1 200 OK\r\n", seen_target))
    origin = raw_server(
        redirecting(f"HTTP/1.1 302 Found\r\nLocation: {target.url}/landing\r\n", seen_origin)
    )
    async with AsyncFlextApiClient(follow_redirects=True) as client:
        result = await client.get(origin.url + "/", headers={"Authorization": "Bearer s3cret"})
    assert result.is_success
    assert seen_origin == [b"GET / HTTP/1.1", b"Authorization: Bearer s3cret"]
    assert seen_target == [b"GET /landing HTTP/1.1"]  # no Authorization line


async def test_cookie_jar_stores_and_sends_cookies(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=uvicorn_h11.url) as client:
        assert client.cookies is not None and len(client.cookies) == 0
        (await client.get("/set-cookie", params={"session": "abc", "theme": "dark"})).unwrap()
        assert len(client.cookies) == 2
        sent = (await client.get("/headers")).unwrap().json().unwrap()
        mine = (
            (await client.get("/headers", headers={"Cookie": "extra=1"})).unwrap().json().unwrap()
        )
    assert sent["cookie"] == "session=abc; theme=dark"
    assert mine["cookie"] == "extra=1; session=abc; theme=dark"
    async with AsyncFlextApiClient(base_url=uvicorn_h11.url, cookies=False) as client:
        (await client.get("/set-cookie", params={"session": "abc"})).unwrap()
        sent = (await client.get("/headers")).unwrap().json().unwrap()
        assert client.cookies is None
    assert "cookie" not in sent


async def test_every_redirect_hop_carries_the_jar_cookies(
    uvicorn_h11: RunningServer,
) -> None:
    async with AsyncFlextApiClient(base_url=uvicorn_h11.url, follow_redirects=True) as client:
        # /set-cookie answers 200; its cookie must ride on the next request of the client
        (await client.get("/set-cookie", params={"step": "1"})).unwrap()
        followed = (await client.get("/redirect/1")).unwrap()
    assert followed.status_code == 200
    assert followed.history[0].request.headers.get("cookie") == "step=1"


async def test_interceptor_can_replace_the_request(uvicorn_h11: RunningServer) -> None:
    def to_json_route(request: Request) -> Request:
        return Request("GET", request.url.copy_with(path="/json"), request.headers)

    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url, middleware=[AsyncRequestInterceptor(to_json_route)]
    ) as client:
        response = (await client.get("/anything")).unwrap()
    assert response.json().unwrap() == {"hello": "world", "n": 1}


async def test_circuit_counts_transport_errors_and_shows_its_state() -> None:
    breaker = AsyncCircuitBreakerMiddleware(CircuitBreaker(failure_threshold=2, open_duration=60))
    async with AsyncFlextApiClient(middleware=[breaker]) as client:
        codes = []
        for _ in range(3):
            result = await client.get("http://127.0.0.1:1/")
            codes.append(result.error_code if result.is_failure else "sent")
    assert codes == ["CONNECT_ERROR", "CONNECT_ERROR", "CIRCUIT_OPEN"]
    state = breaker.state(("http", "127.0.0.1", 1))
    assert state.state == "open" and state.failures == 2


async def test_redirect_edge_cases(raw_server: RawServerFactory) -> None:
    with pytest.raises(ValueError, match="max_redirects"):
        AsyncRedirectMiddleware(max_redirects=-1)
    no_location = raw_server(redirecting("HTTP/1.1 302 Found\r\n", []))
    to_file = raw_server(redirecting("HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n", []))
    seen: list[bytes] = []
    replay = raw_server(redirecting("HTTP/1.1 307 Temp\r\nLocation: /again\r\n", seen))

    def body() -> Iterator[bytes]:
        yield b"once"

    async with AsyncFlextApiClient(follow_redirects=True) as client:
        kept = (await client.get(no_location.url + "/")).unwrap()
        refused = await client.get(to_file.url + "/")
        unreplayable = (await client.post(replay.url + "/", content=body())).unwrap()
        assert client.pool_stats.in_use == 0
    assert kept.status_code == 302  # a 3xx without Location is returned as it is
    assert refused.is_failure and refused.error_code == "REDIRECT_LOCATION_INVALID"
    assert unreplayable.status_code == 307 and seen == [b"POST / HTTP/1.1"]


async def test_auth_layers_hide_credentials_in_reprs() -> None:
    layers = [
        AsyncHeaderAuthMiddleware(BasicAuth("alice", "s3cret")),
        AsyncApiKeyMiddleware(ApiKeyAuth("X-Key", "s3cret")),
        AsyncDigestAuthMiddleware(DigestAuth("alice", "s3cret")),
        AsyncOAuth2Middleware(OAuth2Flow("http://127.0.0.1:1/t", "id", "s3cret"), no_send),
    ]
    for layer in layers:
        assert "s3cret" not in repr(layer) and type(layer).__name__ in repr(layer)


async def no_send(request: Request) -> Success[Response] | Failure[FlextApiError]:
    return Failure(FlextApiError("never called"))


async def test_digest_refuses_an_unsupported_challenge(raw_server: RawServerFactory) -> None:
    challenge = (
        'HTTP/1.1 401 No\r\nWWW-Authenticate: Digest realm="r", nonce="n", qop="auth-int", '
        "algorithm=MD5\r\n"
    )
    server = raw_server(redirecting(challenge, []))
    async with AsyncFlextApiClient(auth=DigestAuth("alice", "s3cret")) as client:
        result = await client.get(server.url + "/")
    assert result.is_failure and result.error_code == "AUTH_ERROR"
    assert "auth-int" in str(result.error)


async def test_oauth2_edges(raw_server: RawServerFactory) -> None:
    seen: list[bytes] = []
    server = raw_server(redirecting("HTTP/1.1 401 No\r\n", seen))
    refresh_only = OAuth2Flow(server.url + "/token", "id", grant="refresh_token")
    async with AsyncFlextApiClient(auth=refresh_only) as client:
        own = await client.get(server.url + "/", headers={"Authorization": "Bearer mine"})
        no_grant = await client.get(server.url + "/")
    assert own.unwrap().status_code == 401  # the call's own credentials are left alone
    assert seen == [b"GET / HTTP/1.1", b"Authorization: Bearer mine"]
    assert no_grant.is_failure and no_grant.error_code == "TOKEN_REFRESH_FAILED"
    assert "refresh token" in str(no_grant.error)
