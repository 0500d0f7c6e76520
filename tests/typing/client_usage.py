"""Checked by mypy in tests/typing/test_client_typing.py: each reveal_type line states what a
user's type checker must infer for the clients, responses, streams and middleware. Not executed
as a test module."""

from typing import TypeVar

import msgspec

from flext_api import (
    AsyncFlextApiClient,
    CallNext,
    Failure,
    FlextApiClient,
    FlextApiError,
    Middleware,
    Request,
    Response,
    ResponseLike,
    Success,
)

R = TypeVar("R", bound=ResponseLike)


class User(msgspec.Struct):
    id: int
    name: str


def blocking_verbs(client: FlextApiClient) -> None:
    reveal_type(client.get("/users/1"))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.head("/"))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.options("/"))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.delete("/"))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.post("/", json={}))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.put("/", content=b""))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.patch("/", data={}))  # reveal: Success[Response] | Failure[FlextApiError]
    reveal_type(client.request("GET", "/"))  # reveal: Success[Response] | Failure[FlextApiError]
    with client.stream("GET", "/big") as streamed:
        reveal_type(streamed)  # reveal: Success[StreamingResponse] | Failure[FlextApiError]
        if streamed.is_success:
            for chunk in streamed.value.iter_bytes():
                reveal_type(chunk)  # reveal: bytes


async def async_verbs(client: AsyncFlextApiClient) -> None:
    reveal_type(await client.get("/"))  # reveal: Success[Response] | Failure[FlextApiError]
    posted = await client.post("/", json=[])
    reveal_type(posted)  # reveal: Success[Response] | Failure[FlextApiError]
    async with client.stream("GET", "/big") as streamed:
        reveal_type(streamed)  # reveal: Success[AsyncStreamingResponse] | Failure[FlextApiError]
        if streamed.is_success:
            async for chunk in streamed.value.aiter_bytes():
                reveal_type(chunk)  # reveal: bytes


def typed_json(response: Response) -> None:
    reveal_type(response.json(type=User))  # reveal: Success[User] | Failure[DecodingError]
    reveal_type(response.json(list[int]))  # reveal: Success[list[int]] | Failure[DecodingError]
    reveal_type(response.json())  # reveal: Success[Any] | Failure[DecodingError]
    user = response.json(type=User)
    if user.is_success:
        reveal_type(user.value.name)  # reveal: str


class Stamp:
    """A user's middleware: the Protocol is satisfied structurally, generic in the response."""

    def handle(
        self, request: Request, call_next: CallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        result = call_next(request)
        reveal_type(result)  # reveal: Success[R] | Failure[FlextApiError]
        if result.is_success:
            reveal_type(result.value.status_code)  # reveal: int
        return result


class NotAMiddleware:
    def handle(self, request: Request) -> None: ...


def middleware_protocol() -> None:
    layer: Middleware = Stamp()
    FlextApiClient(middleware=[Stamp()]).get("/", middleware=[layer])
    # mypy must reject these (strict reports an unused ignore if it did not).
    FlextApiClient(middleware=[NotAMiddleware()])  # type: ignore[list-item]
    FlextApiClient().get("/", middleware=[NotAMiddleware()])  # type: ignore[list-item]
