"""The GraphQL client's public names, and ``GraphQLProtocol`` for the protocol registry.

``GraphQLClient`` (blocking) and ``AsyncGraphQLClient`` (asyncio and trio) run queries,
mutations, uploads and batches over the HTTP client and subscriptions over its WebSocket
client; the guide is docs/graphql.md. This module only re-exports: the rules live in
``flext_api.protocols._graphql_common``, the I/O in ``flext_api.protocols._async.graphql``
and its generated ``_sync`` twin.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flext_api._urls import URL
from flext_api.protocols import BaseProtocol
from flext_api.protocols._async.graphql import AsyncGraphQLClient, AsyncSubscription
from flext_api.protocols._graphql_common import (
    FileTypes,
    GraphQLClientError,
    GraphQLDecodeError,
    GraphQLError,
    GraphQLHTTPError,
    GraphQLLocation,
    GraphQLMalformed,
    GraphQLNotJSON,
    GraphQLOperation,
    GraphQLResponse,
    GraphQLSubscriptionError,
    SubscriptionProtocol,
)
from flext_api.protocols._sync.graphql import GraphQLClient, Subscription

__all__ = [
    "AsyncGraphQLClient",
    "AsyncSubscription",
    "FileTypes",
    "GraphQLClient",
    "GraphQLClientError",
    "GraphQLDecodeError",
    "GraphQLError",
    "GraphQLHTTPError",
    "GraphQLLocation",
    "GraphQLMalformed",
    "GraphQLNotJSON",
    "GraphQLOperation",
    "GraphQLProtocol",
    "GraphQLResponse",
    "GraphQLSubscriptionError",
    "Subscription",
    "SubscriptionProtocol",
]


class GraphQLProtocol(BaseProtocol):
    """The ``"graphql"`` entry of the protocol registry: ``open(url)`` is a
    :class:`GraphQLClient` on the protocol's own client (closed with the protocol, not with
    the GraphQL client)."""

    name: ClassVar[str] = "graphql"

    def open(self, url: str | URL, **options: Any) -> GraphQLClient:
        """A GraphQL client for the endpoint ``url`` (a path under the config's ``base_url``,
        or absolute); ``options`` are :class:`GraphQLClient`'s (``persisted_queries``...)."""
        return GraphQLClient(url, client=self.client, **options)
