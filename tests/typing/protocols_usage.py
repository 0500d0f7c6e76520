"""Checked by mypy in tests/typing/test_protocols_typing.py: what a user's type checker infers
for the protocol registry and the SSE client. Not executed as a test module."""

from flext_api import AsyncFlextApiClient, FlextApiClient, ProtocolRegistry


def registry_types(registry: ProtocolRegistry, name: str) -> None:
    reveal_type(registry.get_protocol("http"))  # reveal: type[HTTPProtocol]
    reveal_type(registry.get_protocol("sse"))  # reveal: type[SSEProtocol]
    reveal_type(registry.get_protocol("websocket"))  # reveal: type[WebSocketProtocol]
    reveal_type(registry.get_protocol("graphql"))  # reveal: type[GraphQLProtocol]
    reveal_type(registry.get_protocol(name))  # reveal: type[BaseProtocol]
    reveal_type(registry.names())  # reveal: list[str]
    http = registry.get_protocol("http")()
    reveal_type(http.client)  # reveal: FlextApiClient


def blocking_sse(client: FlextApiClient) -> None:
    with client.sse("GET", "/events") as result:
        reveal_type(result)  # reveal: Success[EventStream] | Failure[FlextApiError]
        if result.is_success:
            for event in result.value:
                reveal_type(event)  # reveal: ServerSentEvent
                reveal_type(event.retry)  # reveal: int | None


async def async_sse(client: AsyncFlextApiClient) -> None:
    async with client.sse("GET", "/events", last_event_id="3") as result:
        reveal_type(result)  # reveal: Success[AsyncEventStream] | Failure[FlextApiError]
        if result.is_success:
            async for event in result.value:
                reveal_type(event.data)  # reveal: str
