"""The GraphQL client end to end: ariadne under uvicorn, and hostile endpoints beside it.

Written once as async tests; ``tests/_sync/test_graphql.py`` is generated from this file, so
every case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import enum
import io
import socket
from collections.abc import Iterator

import msgspec
import pytest

from flext_api import AsyncFlextApiClient, FlextApiError
from flext_api.protocols.graphql import (
    AsyncGraphQLClient,
    GraphQLClientError,
    GraphQLOperation,
    GraphQLSubscriptionError,
    SubscriptionProtocol,
)
from tests.servers import graphql_app
from tests.servers.runners import RunningServer, run_uvicorn

pytestmark = pytest.mark.anyio  # unasync: remove


class Kind(enum.Enum):
    DOG = "DOG"
    CAT = "CAT"


class Pet(msgspec.Struct):
    id: int
    name: str
    kind: Kind = Kind.DOG
    tags: list[str] = []


class PetData(msgspec.Struct):
    pet: Pet | None


class PetInput(msgspec.Struct):
    name: str
    kind: Kind
    tags: list[str]


class AddPetData(msgspec.Struct, rename="camel"):
    add_pet: Pet


class CountData(msgspec.Struct):
    count: int


PET_QUERY = """
query One($id: Int!) { pet(id: $id) { id name kind tags } }
query Hello { hello }
"""


@pytest.fixture(scope="module")
def gql_server() -> Iterator[RunningServer]:
    with run_uvicorn("h11", app=graphql_app.app) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- queries and mutations -----------------------------------------------------------------


async def test_a_query_with_variables_and_an_operation_name_decodes_into_the_type(
    gql_server: RunningServer,
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        result = await gql.execute(PET_QUERY, {"id": 1}, operation_name="One", data_type=PetData)
        hello = await gql.execute(PET_QUERY, operation_name="Hello")
    response = result.unwrap()
    assert response.data == PetData(pet=Pet(id=1, name="Rex", kind=Kind.DOG, tags=["good"]))
    assert response.errors == ()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert hello.unwrap().data == {"hello": "Hello, world!"}


async def test_a_query_over_get_sends_it_in_the_url(gql_server: RunningServer) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        result = await gql.execute(
            "query($n: String) { hello(name: $n) }", {"n": "GET"}, method="GET"
        )
    assert result.unwrap().data == {"hello": "Hello, GET!"}


async def test_partial_data_and_errors_are_both_kept_in_the_success(
    gql_server: RunningServer,
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        result = await gql.execute("{ partial { ok bad } }")
    response = result.unwrap()
    assert response.data == {"partial": {"ok": "fine", "bad": None}}
    [error] = response.errors
    assert error.message == "bad field failed"
    assert error.path == ["partial", "bad"]
    assert error.locations is not None
    assert (error.locations[0].line, error.locations[0].column) == (1, 16)


async def test_an_http_400_with_a_graphql_body_is_a_success_carrying_the_status(
    gql_server: RunningServer,
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        result = await gql.execute("{ nope }")
    response = result.unwrap()
    assert response.status_code == 400
    assert response.data is None
    assert "Cannot query field 'nope'" in response.errors[0].message


async def test_a_mutation_encodes_struct_and_enum_variables(gql_server: RunningServer) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        result = await gql.execute(
            "mutation Add($input: PetInput!) { addPet(input: $input) { id name kind tags } }",
            {"input": PetInput(name="Tom", kind=Kind.CAT, tags=["a", "b"])},
            operation_name="Add",
            data_type=AddPetData,
        )
    pet = result.unwrap().data
    assert pet is not None
    assert (pet.add_pet.name, pet.add_pet.kind, pet.add_pet.tags) == ("Tom", Kind.CAT, ["a", "b"])


async def test_files_are_uploaded_by_the_multipart_request_spec(
    gql_server: RunningServer,
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        one = await gql.execute(
            "mutation($f: Upload!, $note: String) "
            "{ upload(file: $f, note: $note) { filename size text } }",
            {"note": "kept"},
            files={"f": b"hello upload"},
        )
        many = await gql.execute(
            "mutation($fs: [Upload!]!) { uploadMany(files: $fs) { size text } }",
            {"fs": [None, None]},
            files={"fs.0": b"first", "fs.1": io.BytesIO(b"second")},
        )
    assert one.unwrap().data == {
        "upload": {"filename": "f", "size": 12, "text": "kept: hello upload"}
    }
    assert many.unwrap().data == {
        "uploadMany": [{"size": 5, "text": "first"}, {"size": 6, "text": "second"}]
    }


async def test_a_batch_is_one_request_with_answers_in_order(gql_server: RunningServer) -> None:
    operations = [
        GraphQLOperation(query="query($n: String) { hello(name: $n) }", variables={"n": "a"}),
        GraphQLOperation(query=PET_QUERY, variables={"id": 1}, operation_name="One"),
        GraphQLOperation(query="{ nope }"),
    ]
    async with AsyncGraphQLClient(f"{gql_server.url}/batch") as gql:
        result = await gql.execute_batch(operations)
    first, second, third = result.unwrap()
    assert first.data == {"hello": "Hello, a!"}
    assert second.data == {"pet": {"id": 1, "name": "Rex", "kind": "DOG", "tags": ["good"]}}
    assert third.data is None
    assert "nope" in third.errors[0].message


async def test_a_server_that_does_not_batch_is_a_failure_that_says_so(
    gql_server: RunningServer,
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        result = await gql.execute_batch([GraphQLOperation(query="{ hello }")])
    assert result.is_failure
    assert result.error.code == "GRAPHQL_MALFORMED"
    assert "does not support batching" in str(result.error)
    assert isinstance(result.error, GraphQLClientError)
    assert result.error.status_code == 400


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_persisted_queries_send_the_hash_and_the_query_only_when_unknown(
    gql_server: RunningServer, method: str
) -> None:
    query = f"query {method.title()}Apq {{ hello(name: {method!r}) }}".replace("'", '"')
    graphql_app.APQ_SEEN.clear()
    graphql_app.APQ_CACHE.clear()
    async with AsyncGraphQLClient(f"{gql_server.url}/apq", persisted_queries=True) as gql:
        first = await gql.execute(query, method="POST" if method == "POST" else "GET")
        second = await gql.execute(query, method="POST" if method == "POST" else "GET")
    assert first.unwrap().data == {"hello": f"Hello, {method}!"}
    assert second.unwrap().data == first.unwrap().data
    # hash only (unknown), hash with the query (registered), then hash only (known).
    assert graphql_app.APQ_SEEN == [False, True, False]


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code", "status"),
    [
        ("/html502", "GRAPHQL_HTTP_ERROR", 502),
        ("/text", "GRAPHQL_NOT_JSON", 200),
        ("/wrong-shape", "GRAPHQL_MALFORMED", 200),
    ],
)
async def test_answers_that_are_not_graphql_have_their_code_and_keep_the_body(
    gql_server: RunningServer, path: str, code: str, status: int
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}{path}") as gql:
        result = await gql.execute("{ hello }")
    assert result.is_failure
    error = result.error
    assert error.code == code
    assert isinstance(error, GraphQLClientError)
    assert error.status_code == status
    assert error.body
    assert error.url == f"{gql_server.url}{path}"


async def test_data_that_does_not_fit_the_type_is_a_decode_error(
    gql_server: RunningServer,
) -> None:
    async with AsyncGraphQLClient(f"{gql_server.url}/bad-data") as gql:
        typed = await gql.execute("{ pet(id: 1) { id name } }", data_type=PetData)
        untyped = await gql.execute("{ pet(id: 1) { id name } }")
    assert typed.is_failure
    assert typed.error.code == "GRAPHQL_DECODE_ERROR"
    assert "PetData" in str(typed.error)
    assert untyped.unwrap().data == {"pet": {"id": "not a number", "name": 3}}


async def test_a_transport_error_keeps_its_own_code() -> None:
    async with AsyncGraphQLClient(f"http://127.0.0.1:{closed_port()}/graphql") as gql:
        result = await gql.execute("{ hello }")
        async with gql.subscribe("subscription { count(to: 1) }") as opened:
            assert opened.is_failure
            assert opened.error.code == "CONNECT_ERROR"
    assert result.is_failure
    assert result.error.code == "CONNECT_ERROR"


async def test_a_shared_client_with_a_base_url_is_not_closed_by_the_graphql_client(
    gql_server: RunningServer,
) -> None:
    async with AsyncFlextApiClient(base_url=gql_server.url) as client:
        async with AsyncGraphQLClient("/graphql", client=client) as gql:
            first = await gql.execute("{ hello }")
        second = await client.get("/text")
    assert first.unwrap().data == {"hello": "Hello, world!"}
    assert second.unwrap().status_code == 200


# -- subscriptions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "protocol"), [("/graphql", "graphql-transport-ws"), ("/graphql-ws", "graphql-ws")]
)
async def test_a_subscription_yields_typed_events_until_complete(
    gql_server: RunningServer, path: str, protocol: str
) -> None:
    chosen: SubscriptionProtocol = (
        "graphql-ws" if protocol == "graphql-ws" else "graphql-transport-ws"
    )
    async with (
        AsyncGraphQLClient(f"{gql_server.url}{path}") as gql,
        gql.subscribe(
            "subscription Count($to: Int!) { count(to: $to) }",
            {"to": 3},
            operation_name="Count",
            data_type=CountData,
            protocol=chosen,
        ) as opened,
    ):
        subscription = opened.unwrap()
        assert subscription.websocket.subprotocol == protocol
        events = [event async for event in subscription]
    assert [event.data for event in events] == [CountData(1), CountData(2), CountData(3)]
    assert {event.status_code for event in events} == {101}


async def test_leaving_a_subscription_early_stops_it(gql_server: RunningServer) -> None:
    async with (
        AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql,
        gql.subscribe("subscription { count(to: 100000) }") as opened,
    ):
        subscription = opened.unwrap()
        first = await subscription.__anext__()
    assert first.data == {"count": 1}
    assert subscription.websocket.closed
    # The server is still fine after the early stop.
    async with AsyncGraphQLClient(f"{gql_server.url}/graphql") as gql:
        assert (await gql.execute("{ hello }")).is_success


@pytest.mark.parametrize(
    ("path", "protocol"), [("/graphql", "graphql-transport-ws"), ("/graphql-ws", "graphql-ws")]
)
async def test_an_execution_error_is_an_event_and_a_refused_operation_raises(
    gql_server: RunningServer, path: str, protocol: str
) -> None:
    chosen: SubscriptionProtocol = (
        "graphql-ws" if protocol == "graphql-ws" else "graphql-transport-ws"
    )
    async with AsyncGraphQLClient(f"{gql_server.url}{path}") as gql:
        async with gql.subscribe("subscription { failing }", protocol=chosen) as opened:
            events = [event async for event in opened.unwrap()]
        async with gql.subscribe("subscription { nope }", protocol=chosen) as opened:
            with pytest.raises(GraphQLSubscriptionError) as caught:
                await opened.unwrap().__anext__()
    # The source's failure after one value is a GraphQL error in an event, not a failure.
    assert [event.data for event in events] == [{"failing": 1}, None]
    assert [error.message for error in events[1].errors] == ["the source broke"]
    # An operation the server refuses is an ``error`` message: the iteration raises it.
    assert caught.value.code == "GRAPHQL_SUBSCRIPTION_ERROR"
    assert "Cannot query field 'nope'" in caught.value.errors[0].message


async def test_a_subscription_sending_garbage_fails_with_the_subscription_code(
    gql_server: RunningServer,
) -> None:
    async with (
        AsyncGraphQLClient(f"{gql_server.url}/ws-garbage") as gql,
        gql.subscribe("subscription { count(to: 1) }") as opened,
    ):
        with pytest.raises(GraphQLSubscriptionError) as caught:
            await opened.unwrap().__anext__()
    assert caught.value.body == b"<<not json>>"


async def test_a_silent_subscription_is_bounded_by_the_read_timeout(
    gql_server: RunningServer,
) -> None:
    async with (
        AsyncGraphQLClient(f"{gql_server.url}/ws-silent", timeout=0.3) as gql,
        gql.subscribe("subscription { count(to: 1) }") as opened,
    ):
        with pytest.raises(FlextApiError) as caught:
            await opened.unwrap().__anext__()
    assert caught.value.code == "READ_TIMEOUT"


async def test_a_refused_connection_init_is_a_failure_with_the_servers_reason(
    gql_server: RunningServer,
) -> None:
    async with (
        AsyncGraphQLClient(f"{gql_server.url}/ws-refuse") as gql,
        gql.subscribe("subscription { count(to: 1) }") as opened,
    ):
        assert opened.is_failure
        error = opened.error
    assert error.code == "GRAPHQL_SUBSCRIPTION_ERROR"
    assert isinstance(error, GraphQLSubscriptionError)
    assert [e.message for e in error.errors] == ["bad credentials"]


async def test_a_server_that_never_acks_is_bounded_by_the_connection_timeout(
    gql_server: RunningServer,
) -> None:
    async with (
        AsyncGraphQLClient(f"{gql_server.url}/ws-no-ack", connection_timeout=0.3) as gql,
        gql.subscribe("subscription { count(to: 1) }") as opened,
    ):
        assert opened.is_failure
        assert opened.error.code == "READ_TIMEOUT"


async def test_init_payload_headers_and_pings_are_handled_by_the_protocol(
    gql_server: RunningServer,
) -> None:
    async with (
        AsyncGraphQLClient(f"{gql_server.url}/ws-scripted") as gql,
        gql.subscribe(
            "subscription Watch($n: Int!) { count(to: $n) }",
            {"n": 2},
            operation_name="Watch",
            init_payload={"token": "secret"},
            headers={"x-token": "from-header"},
        ) as opened,
    ):
        events = [event.data async for event in opened.unwrap()]
    assert events == [
        {
            "init": {"token": "secret"},
            "answeredPing": True,
            "token": "from-header",
            "operation": "Watch",
            "variables": {"n": 2},
        }
    ]
