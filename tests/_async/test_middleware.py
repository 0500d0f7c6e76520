"""The middleware pipeline against real servers: order, short-circuits, hooks, retries and the
circuit breaker. Generated into ``tests/_sync/test_middleware.py`` for the blocking client."""

from __future__ import annotations

import pickle
import socket
import time
from collections.abc import Iterator
from typing import Any, Final

import pytest

from flext_api import (
    URL,
    AsyncFlextApiClient,
    ConnectError,
    FlextApiError,
    Headers,
    InvalidRequest,
    ReadTimeout,
    Request,
    Response,
    Timeout,
    TimeoutException,
)
from flext_api._async.layers import client_layers
from flext_api._async.middleware import (
    AsyncApiKeyMiddleware,
    AsyncCallNext,
    AsyncCircuitBreakerMiddleware,
    AsyncCookieMiddleware,
    AsyncDigestAuthMiddleware,
    AsyncErrorTransformer,
    AsyncHeaderAuthMiddleware,
    AsyncMiddleware,
    AsyncOAuth2Middleware,
    AsyncRedirectMiddleware,
    AsyncRequestInterceptor,
    AsyncResponseProcessor,
    AsyncRetryMiddleware,
    R,
    ResponseLike,
    build_chain,
)
from flext_api._result import Failure, Success
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Flow
from flext_api._sansio.circuit import CircuitBreaker
from flext_api._sansio.cookies import CookieJar
from flext_api._sansio.digest import DigestAuth
from flext_api._sansio.retry import RetryPolicy
from flext_api.testing import MockResponse, MockRouter, mock_async_transport
from tests.servers.app import pattern_bytes
from tests.servers.raw import RawServerFactory, RequestReader, idle_until_closed
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
        retry=RetryPolicy(max_retries=2, backoff_base=0.0, jitter=0.0)
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


# -- a layer never mutates the request it receives -------------------------------------------


def snapshot(request: Request) -> tuple[object, ...]:
    """What a caller can see of a request: method, URL, every header field, body, budget."""
    return (
        request.method,
        str(request.url),
        list(request.headers.raw),
        request.content,
        request.timeout,
        request.deadline,
    )


Script = list[tuple[int, dict[str, str]]]


def scripted_router(script: Script) -> MockRouter:
    """The testing kit's router answering every request with the next (status, headers) of
    ``script``, then 200 (``router.calls`` is what reached the transport)."""
    router = MockRouter()
    router.any(
        [*(MockResponse(status, headers=headers) for status, headers in script), MockResponse()]
    )
    return router


async def token_endpoint(request: Request) -> Success[Response] | Failure[FlextApiError]:
    body = b'{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}'
    headers = Headers([("Content-Type", "application/json")])
    return Success(Response(200, headers, body, request=request))


def ignore(item: object) -> None:
    return None


async def no_wait(seconds: float) -> None:
    return None


DIGEST_CHALLENGE: Final = 'Digest realm="r", nonce="n", qop="auth", algorithm=MD5'


def every_layer() -> list[tuple[str, AsyncMiddleware, Script, int]]:
    """Each built-in layer, the script that makes it do its work, and how many sends that takes."""
    jar = CookieJar()
    jar.extract(URL("http://127.0.0.1/"), ["sid=abc"], time.time())

    def stamp(request: Request) -> None:  # an interceptor that changes its request in place
        request.headers["X-Stamp"] = "1"

    hooks = client_layers(
        [],
        auth=None,
        send=token_endpoint,
        follow_redirects=False,
        max_redirects=20,
        retry=None,
        circuit_breaker=None,
        event_hooks={"request": [stamp], "response": [ignore], "error": [ignore]},
    )
    return [
        ("basic", AsyncHeaderAuthMiddleware(BasicAuth("alice", "pw")), [], 1),
        ("bearer", AsyncHeaderAuthMiddleware(BearerAuth("tok")), [], 1),
        ("api key header", AsyncApiKeyMiddleware(ApiKeyAuth("X-Key", "k")), [], 1),
        ("api key query", AsyncApiKeyMiddleware(ApiKeyAuth("key", "k", location="query")), [], 1),
        ("api key cookie", AsyncApiKeyMiddleware(ApiKeyAuth("key", "k", location="cookie")), [], 1),
        (
            "digest",
            AsyncDigestAuthMiddleware(DigestAuth("alice", "pw")),
            [(401, {"WWW-Authenticate": DIGEST_CHALLENGE})],
            2,
        ),
        (
            "oauth2",
            AsyncOAuth2Middleware(OAuth2Flow("http://t/", "id", "s"), token_endpoint),
            [(401, {})],
            2,
        ),
        (
            "retry",
            AsyncRetryMiddleware(RetryPolicy(jitter=0.0, total_timeout=60), sleep=no_wait),
            [(503, {}), (503, {})],
            3,
        ),
        ("breaker", AsyncCircuitBreakerMiddleware(CircuitBreaker()), [], 1),
        ("redirects", AsyncRedirectMiddleware(), [(302, {"Location": "/next"})], 2),
        ("cookies", AsyncCookieMiddleware(jar), [(200, {"Set-Cookie": "more=1"})], 1),
        ("interceptor", AsyncRequestInterceptor(stamp), [], 1),
        ("processor", AsyncResponseProcessor(lambda response: None), [], 1),
        ("transformer", AsyncErrorTransformer(lambda error: error), [], 1),
        *[(f"event hook {i}", layer, [], 1) for i, layer in enumerate(hooks)],
    ]


async def test_no_built_in_layer_mutates_the_request_it_receives() -> None:
    for name, layer, script, sends in every_layer():
        request = Request(
            "POST",
            URL("http://127.0.0.1/path?q=1"),
            Headers(
                [
                    ("Host", "127.0.0.1"),
                    ("Cookie", "mine=1"),
                    ("Idempotency-Key", "k"),  # so the retry layer resends this POST
                    ("Content-Length", "4"),
                ]
            ),
            content=b"body",
            timeout=Timeout(5, total=60),
            deadline=time.monotonic() + 60,
        )
        before = snapshot(request)
        router = scripted_router(script)
        result = await layer.handle(request, mock_async_transport(router))
        assert result.is_success, name
        assert snapshot(request) == before, name
        assert len(router.calls) == sends, name  # the layer did its work (resends included)


async def test_the_client_chain_with_decoding_leaves_the_request_alone(
    uvicorn_h11: RunningServer,
) -> None:
    async with AsyncFlextApiClient(
        base_url=uvicorn_h11.url,
        auth=BearerAuth("tok"),
        follow_redirects=True,
        retry=RetryPolicy(total_timeout=30),
        circuit_breaker=CircuitBreaker(),
        event_hooks={"request": [lambda request: request.headers.add("X-Hook", "1")]},
    ) as client:
        (await client.get("/set-cookie", params={"sid": "abc"})).unwrap()
        request = Request(
            "GET",
            URL(uvicorn_h11.url + "/encoded/gzip"),
            Headers([("Host", URL(uvicorn_h11.url).host_header.decode())]),
            timeout=Timeout(5),
        )
        before = snapshot(request)
        chain = build_chain(client._layers(()), client._send)
        response = (await chain(request)).unwrap()
    assert response.content == pattern_bytes(100000)  # decoded
    assert response.request.headers.get("cookie") == "sid=abc"
    assert snapshot(request) == before


# -- the Cookie header each attempt carries, against a real server ----------------------------


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


TOKEN_ANSWER: Final = answer(
    200,
    {"Content-Type": "application/json"},
    b'{"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}',
)


def cookie_recorder(answers: list[bytes], seen: list[tuple[bytes, bytes | None]]) -> Any:
    """Answer each request with the next of ``answers`` (POST /token with a token); note each
    other request line with the Cookie header it carried (``None``: none)."""

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while (request := reader.next_request()) is not None:
            line, *fields = request.split(b"\r\n")
            if line.startswith(b"POST /token "):
                conn.sendall(TOKEN_ANSWER)
                continue
            cookies = [
                f.split(b":", 1)[1].strip() for f in fields if f.lower().startswith(b"cookie:")
            ]
            seen.append((line, b"; ".join(cookies) if cookies else None))
            conn.sendall(answers.pop(0) if answers else answer(200))

    return script


LOGIN: Final = answer(200, {"Set-Cookie": "sid=abc; Path=/"})


async def test_each_retry_attempt_carries_the_cookie_once(raw_server: RawServerFactory) -> None:
    seen: list[tuple[bytes, bytes | None]] = []
    server = raw_server(cookie_recorder([LOGIN, answer(503), answer(503), answer(200)], seen))
    policy = RetryPolicy(max_retries=3, backoff_base=0.0, jitter=0.0)
    async with AsyncFlextApiClient(base_url=server.url, retry=policy) as client:
        (await client.get("/login")).unwrap()
        assert (await client.get("/data")).unwrap().status_code == 200
    assert seen == [(b"GET /login HTTP/1.1", None)] + [(b"GET /data HTTP/1.1", b"sid=abc")] * 3


async def test_each_redirect_hop_carries_the_cookie_once(raw_server: RawServerFactory) -> None:
    seen: list[tuple[bytes, bytes | None]] = []
    hops = [answer(302, {"Location": "/a"}), answer(307, {"Location": "/b"}), answer(200)]
    server = raw_server(cookie_recorder([LOGIN, *hops], seen))
    async with AsyncFlextApiClient(base_url=server.url, follow_redirects=True) as client:
        (await client.get("/login")).unwrap()
        final = (await client.get("/start", headers={"Cookie": "mine=1"})).unwrap()
    assert final.status_code == 200 and len(final.history) == 2
    assert seen == [
        (b"GET /login HTTP/1.1", None),
        (b"GET /start HTTP/1.1", b"mine=1; sid=abc"),
        (b"GET /a HTTP/1.1", b"mine=1; sid=abc"),
        (b"GET /b HTTP/1.1", b"mine=1; sid=abc"),
    ]


async def test_a_digest_resend_carries_the_cookie_once(raw_server: RawServerFactory) -> None:
    seen: list[tuple[bytes, bytes | None]] = []
    challenge = answer(401, {"WWW-Authenticate": DIGEST_CHALLENGE})
    server = raw_server(cookie_recorder([LOGIN, challenge, answer(200)], seen))
    async with AsyncFlextApiClient(base_url=server.url, auth=DigestAuth("alice", "pw")) as client:
        (await client.get("/login")).unwrap()
        assert (await client.get("/private")).unwrap().status_code == 200
    assert seen == [(b"GET /login HTTP/1.1", None)] + [(b"GET /private HTTP/1.1", b"sid=abc")] * 2


async def test_an_oauth2_resend_carries_the_cookie_once(raw_server: RawServerFactory) -> None:
    seen: list[tuple[bytes, bytes | None]] = []
    server = raw_server(cookie_recorder([LOGIN, answer(401), answer(200)], seen))
    flow = OAuth2Flow(server.url + "/token", "id", "secret")
    async with AsyncFlextApiClient(base_url=server.url, auth=flow) as client:
        (await client.get("/login")).unwrap()
        assert (await client.get("/private")).unwrap().status_code == 200
    assert seen == [(b"GET /login HTTP/1.1", None)] + [(b"GET /private HTTP/1.1", b"sid=abc")] * 2


# -- retries: one budget, Idempotency-Key, why it gave up ------------------------------------


class FakeClock:
    """Monotonic seconds that move only when a test (or a fake sleep) moves them."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_total_timeout_caps_every_attempt_and_ends_with_a_timeout() -> None:
    clock = FakeClock()
    budgets: list[float] = []
    deadlines_left: list[float] = []

    async def server_that_stops_answering(
        request: Request,
    ) -> Success[Response] | Failure[FlextApiError]:
        budgets.append(request.timeout.read or 0.0)
        deadlines_left.append((request.deadline or 0.0) - time.monotonic())
        if len(budgets) < 3:
            clock.now += 0.3
            return Failure(ConnectError("refused"))
        clock.now += request.timeout.read or 0.0  # waits out all it was given
        return Failure(ReadTimeout("no answer"))

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    policy = RetryPolicy(
        max_retries=10, backoff_base=0.1, backoff_multiplier=1.0, jitter=0.0, total_timeout=1.0
    )
    retry = AsyncRetryMiddleware(policy, clock=clock, sleep=sleep)
    request = Request("GET", URL("http://127.0.0.1/"), Headers([("Host", "127.0.0.1")]))
    result = await retry.handle(request, server_that_stops_answering)
    assert isinstance(result, Failure) and result.error_code == "READ_TIMEOUT"
    assert budgets == pytest.approx([1.0, 0.6, 0.2])  # what was left of the budget each time
    assert all(0 < left <= budget for left, budget in zip(deadlines_left, budgets, strict=True))
    assert clock.now - 100.0 == pytest.approx(1.0)  # the budget, and not a second more
    error = result.error
    assert (error.attempts, error.give_up_reason, error.last_status) == (3, "deadline", None)
    assert request.deadline is None and request.timeout.read == 30.0  # the caller's is untouched


async def test_the_give_up_data_names_the_last_status_and_pickles() -> None:
    outcomes: list[int | FlextApiError] = [503, 502, ConnectError("refused")]

    async def flaky(request: Request) -> Success[Response] | Failure[FlextApiError]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, FlextApiError):
            return Failure(outcome)
        return Success(Response(outcome, Headers(), b"", request=request))

    retry = AsyncRetryMiddleware(RetryPolicy(max_retries=2, jitter=0.0), sleep=no_wait)
    request = Request("GET", URL("http://127.0.0.1/"), Headers([("Host", "127.0.0.1")]))
    result = await retry.handle(request, flaky)
    assert isinstance(result, Failure) and result.error_code == "CONNECT_ERROR"
    copy = pickle.loads(pickle.dumps(result.error))
    for error in (result.error, copy):
        assert (error.attempts, error.give_up_reason, error.last_status) == (
            3,
            "retries_exhausted",
            502,
        )


async def test_a_server_that_never_answers_ends_at_the_retry_budget(
    raw_server: RawServerFactory,
) -> None:
    def silent(conn: socket.socket) -> None:
        RequestReader(conn).next_request()
        idle_until_closed(conn)

    server = raw_server(silent)
    async with AsyncFlextApiClient(retry=RetryPolicy(total_timeout=0.5)) as client:
        result = await client.get(server.url + "/")
    assert result.is_failure and isinstance(result.error, TimeoutException)
    assert result.error.give_up_reason == "deadline" and result.error.attempts == 1


async def test_a_post_with_an_idempotency_key_is_retried(raw_server: RawServerFactory) -> None:
    seen: list[bytes] = []
    server = raw_server(scripted([(503, {}), (200, {})], seen))
    policy = RetryPolicy(max_retries=2, backoff_base=0.0, jitter=0.0)
    async with AsyncFlextApiClient(retry=policy) as client:
        keyed = await client.post(server.url + "/", content=b"x", headers={"Idempotency-Key": "k1"})
        plain = await client.post(server.url + "/", content=b"x")
    assert keyed.unwrap().status_code == 200
    assert plain.unwrap().status_code == 200  # the script is spent: 200 at once, one attempt
    assert seen == [b"POST", b"POST", b"POST"]


async def test_a_post_with_an_idempotency_key_is_retried_after_a_dropped_connection(
    raw_server: RawServerFactory,
) -> None:
    lines: list[bytes] = []

    def drop_first(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while (request := reader.next_request()) is not None:
            lines.append(request.split(b"\r\n", 1)[0])
            if len(lines) == 1:
                return  # closed without a response: the server may or may not have acted
            conn.sendall(answer(200, body=b"done"))

    server = raw_server(drop_first)
    policy = RetryPolicy(max_retries=2, backoff_base=0.0, jitter=0.0)
    async with AsyncFlextApiClient(retry=policy) as client:
        result = await client.post(
            server.url + "/pay", content=b"x", headers={"Idempotency-Key": "k"}
        )
    assert result.unwrap().content == b"done"
    assert lines == [b"POST /pay HTTP/1.1", b"POST /pay HTTP/1.1"]


async def test_the_breaker_reopens_for_trials_on_its_clock_not_the_wall() -> None:
    clock = FakeClock()
    breaker = AsyncCircuitBreakerMiddleware(
        CircuitBreaker(failure_threshold=1, open_duration=30.0), clock=clock
    )
    request = Request("GET", URL("http://127.0.0.1/"), Headers([("Host", "127.0.0.1")]))
    router = MockRouter()
    router.any(MockResponse(503))
    codes: list[str | int] = []
    for step in (0.0, 29.0, 1.0):  # fail once, still open 29 s later, half-open at 30 s
        clock.now += step
        result = await breaker.handle(request, mock_async_transport(router))
        codes.append(result.error_code if isinstance(result, Failure) else result.value.status_code)
    assert codes == [503, "CIRCUIT_OPEN", 503]
    assert len(router.calls) == 2


async def test_a_streamed_body_is_not_resent_and_the_error_says_so() -> None:
    def body() -> Iterator[bytes]:
        yield b"once"

    async with AsyncFlextApiClient(retry=RetryPolicy(backoff_base=0.0, jitter=0.0)) as client:
        result = await client.post("http://127.0.0.1:1/", content=body())
    assert isinstance(result, Failure) and result.error_code == "CONNECT_ERROR"
    assert (result.error.attempts, result.error.give_up_reason) == (1, "body_not_replayable")
