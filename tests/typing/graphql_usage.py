"""Checked by mypy in tests/typing/test_graphql_typing.py: what a user's type checker infers
for the GraphQL client. Not executed as a test module."""

import msgspec

from flext_api.protocols.graphql import AsyncGraphQLClient, GraphQLClient, GraphQLOperation


class Pet(msgspec.Struct):
    name: str


def blocking(gql: GraphQLClient) -> None:
    typed = gql.execute("{ pet { name } }", data_type=Pet)
    reveal_type(typed)  # reveal: Success[GraphQLResponse[Pet]] | Failure[FlextApiError]
    plain = gql.execute("{ hello }")
    reveal_type(plain)  # reveal: Success[GraphQLResponse[dict[str, Any]]] | Failure[FlextApiError]
    result = gql.execute("{ pet { name } }", data_type=Pet)
    if result.is_success:
        reveal_type(result.value.data)  # reveal: Pet | None
        reveal_type(result.value.errors)  # reveal: tuple[GraphQLError, ...]
    batch = gql.execute_batch([GraphQLOperation(query="{ a }")], data_type=Pet)
    reveal_type(batch)  # reveal: Success[list[GraphQLResponse[Pet]]] | Failure[FlextApiError]
    with gql.subscribe("subscription { pet { name } }", data_type=Pet) as opened:
        reveal_type(opened)  # reveal: Success[Subscription[Pet]] | Failure[FlextApiError]
        if opened.is_success:
            for event in opened.value:
                reveal_type(event)  # reveal: GraphQLResponse[Pet]


async def non_blocking(gql: AsyncGraphQLClient) -> None:
    awaited = await gql.execute("{ pet { name } }", data_type=Pet)
    reveal_type(awaited)  # reveal: Success[GraphQLResponse[Pet]] | Failure[FlextApiError]
    async with gql.subscribe("subscription { n }", protocol="graphql-ws") as opened:
        if opened.is_success:
            async for event in opened.value:
                reveal_type(event.data)  # reveal: dict[str, Any] | None
