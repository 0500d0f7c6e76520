"""GraphQL over HTTP and WebSocket without I/O: the value types, the errors, request payloads
and the decisions on what a server answered.

Both clients (``_async/graphql.py`` and its generated ``_sync`` twin) only move bytes; every
rule about what a response means lives here, so it is tested once, with no sockets. This
module must never import a client or do I/O.

Decoding is two-step on purpose: the envelope (``data``/``errors``/``extensions``) is decoded
with ``data`` kept raw, then ``data`` alone is decoded into the caller's type. That is how a
body of the wrong shape (``GRAPHQL_MALFORMED``) is told apart from data that does not fit the
caller's type (``GRAPHQL_DECODE_ERROR``) without decoding anything twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final, Generic, Literal, TypeVar, final

import msgspec

from flext_api._exceptions import FlextApiError
from flext_api._headers import Headers
from flext_api._result import Failure, Success
from flext_api._sansio.multipart import FormFile

__all__ = [
    "FileTypes",
    "GraphQLClientError",
    "GraphQLDecodeError",
    "GraphQLError",
    "GraphQLHTTPError",
    "GraphQLLocation",
    "GraphQLMalformed",
    "GraphQLNotJSON",
    "GraphQLOperation",
    "GraphQLResponse",
    "GraphQLSubscriptionError",
    "SocketMessage",
    "SubscriptionProtocol",
]

T = TypeVar("T")

FileTypes = str | os.PathLike[str] | bytes | IO[bytes] | FormFile
"""One upload: a path, an open binary file, bytes or a :class:`flext_api.FormFile`."""

SubscriptionProtocol = Literal["graphql-transport-ws", "graphql-ws"]

_BODY_LIMIT: Final = 64 * 1024
_ENCODER: Final = msgspec.json.Encoder()
_PERSISTED_NOT_FOUND: Final = frozenset({"PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"})


class GraphQLLocation(msgspec.Struct, frozen=True):
    line: int
    column: int


class GraphQLError(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a response's ``errors`` (a GraphQL-level error, not a failure)."""

    message: str
    locations: list[GraphQLLocation] | None = None
    path: list[str | int] | None = None
    extensions: dict[str, Any] | None = None


class GraphQLOperation(msgspec.Struct, frozen=True, kw_only=True):
    """One operation of a batch (``execute_batch``)."""

    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None


@final
@dataclass(frozen=True, slots=True)
class GraphQLResponse(Generic[T]):
    """A GraphQL answer. ``data`` is ``None`` when the server sent none; ``errors`` is empty
    when there were none. A response with both data and errors (a partial result) is still a
    Success: look at ``errors``. ``status_code`` and ``headers`` are the HTTP response's (a
    subscription event has status 101 and the handshake's headers)."""

    data: T | None
    errors: tuple[GraphQLError, ...]
    extensions: dict[str, Any] | None
    status_code: int
    headers: Headers = field(repr=False, compare=False)


# --- failures ------------------------------------------------------------------------------


class GraphQLClientError(FlextApiError):
    """The GraphQL client could not get a usable answer. ``status_code`` is the HTTP status
    (``None`` when there was none) and ``body`` the start of what the server sent (64 KiB at
    most), so the failure can be shown without another request."""

    code = "GRAPHQL_CLIENT_ERROR"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.body = body[:_BODY_LIMIT]


class GraphQLNotJSON(GraphQLClientError):
    """A 2xx answer whose body is not JSON (a proxy's page, a wrong URL)."""

    code = "GRAPHQL_NOT_JSON"


class GraphQLHTTPError(GraphQLClientError):
    """A 4xx/5xx answer whose body is not a GraphQL response. (A 4xx/5xx that carries a
    GraphQL response is a Success: its ``errors`` say what went wrong.)"""

    code = "GRAPHQL_HTTP_ERROR"


class GraphQLMalformed(GraphQLClientError):
    """JSON, but not a GraphQL response: no ``data`` nor ``errors``, or fields of the wrong
    shape (or a batch answer that does not match the batch)."""

    code = "GRAPHQL_MALFORMED"


class GraphQLDecodeError(GraphQLClientError):
    """A well-formed response whose ``data`` does not fit the ``data_type`` asked for."""

    code = "GRAPHQL_DECODE_ERROR"


class GraphQLSubscriptionError(GraphQLClientError):
    """A subscription failed: the server refused the connection or the operation, sent a
    message outside the protocol, or ended the connection before ``complete``. ``errors``
    holds the GraphQL errors the server sent, if any."""

    code = "GRAPHQL_SUBSCRIPTION_ERROR"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        errors: tuple[GraphQLError, ...] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(message, url=url, body=body)
        self.errors = errors


# --- requests ------------------------------------------------------------------------------


def encode_json(value: Any) -> bytes:
    """JSON with msgspec (so Structs, enums, dates in variables encode as the schema expects)."""
    return _ENCODER.encode(value)


def operation_payload(
    query: str | None,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if query is not None:
        payload["query"] = query
    if variables is not None:
        payload["variables"] = variables
    if operation_name is not None:
        payload["operationName"] = operation_name
    if extensions is not None:
        payload["extensions"] = extensions
    return payload


def persisted_extension(query: str) -> dict[str, Any]:
    """``extensions.persistedQuery`` of the automatic persisted queries protocol."""
    digest = hashlib.sha256(query.encode("utf-8")).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def get_params(payload: Mapping[str, Any]) -> dict[str, str]:
    """A payload as GET query parameters (variables and extensions JSON-encoded)."""
    params: dict[str, str] = {}
    for key, value in payload.items():
        params[key] = value if isinstance(value, str) else encode_json(value).decode("utf-8")
    return params


def multipart_fields(
    payload: Mapping[str, Any], files: Mapping[str, FileTypes]
) -> tuple[dict[str, str], list[tuple[str, FileTypes]]]:
    """The GraphQL multipart request: ``operations`` (the payload, each upload's variable set
    to null), ``map`` (part name -> variable path) and one part per file, in that order.

    ``files`` keys are paths inside ``variables`` (``"file"``, ``"files.0"``, ``"input.photo"``).
    """
    variables = _with_nulls(payload.get("variables") or {}, files)
    operations = {**payload, "variables": variables}
    mapping = {str(index): [f"variables.{path}"] for index, path in enumerate(files)}
    parts = [
        (str(index), _as_upload(path, file)) for index, (path, file) in enumerate(files.items())
    ]
    fields = {
        "operations": encode_json(operations).decode("utf-8"),
        "map": encode_json(mapping).decode("utf-8"),
    }
    return fields, parts


def _as_upload(path: str, file: FileTypes) -> FileTypes:
    # Servers take a part as a file only when it has a filename: bytes and nameless streams get
    # one (the variable path's last key), so an upload is never mistaken for a text field.
    if isinstance(file, FormFile | str | os.PathLike):
        return file
    name = getattr(file, "name", None)
    filename = os.path.basename(name) if isinstance(name, str) else path.rsplit(".", 1)[-1]
    return FormFile(file, filename=filename, content_type="application/octet-stream")


def _with_nulls(variables: Mapping[str, Any], files: Mapping[str, FileTypes]) -> Any:
    # A plain-data copy (Structs become dicts) whose upload slots are null, as the spec asks.
    copy: Any = msgspec.json.decode(encode_json(variables))
    for path in files:
        keys = path.split(".")
        node = copy
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        last = keys[-1]
        if isinstance(node, list):
            index = int(last)
            node.extend([None] * (index + 1 - len(node)))
            node[index] = None
        else:
            node[last] = None
    return copy


# --- responses -----------------------------------------------------------------------------


_UNSENT: Final = msgspec.Raw(b"")


class _Envelope(msgspec.Struct, kw_only=True):
    data: msgspec.Raw = _UNSENT  # b"null" when sent as null; empty when not sent
    errors: list[GraphQLError] | None = None
    extensions: dict[str, Any] | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_BATCH: Final = msgspec.json.Decoder(list[_Envelope])

Decoded = Success[GraphQLResponse[T]] | Failure[FlextApiError]


def is_persisted_not_found(errors: Sequence[GraphQLError]) -> bool:
    for error in errors:
        code = (error.extensions or {}).get("code")
        if error.message in _PERSISTED_NOT_FOUND or code in _PERSISTED_NOT_FOUND:
            return True
    return False


def decode_response(
    content: bytes, status_code: int, headers: Headers, url: str, data_type: type[T]
) -> Decoded[T]:
    """What one HTTP answer means: a GraphQL response, or the failure that says why not."""
    try:
        envelope = _ENVELOPE.decode(content)
    except msgspec.ValidationError as error:
        return Failure(_unusable(status_code, content, url, f"its JSON is not GraphQL ({error})"))
    except msgspec.DecodeError:
        return Failure(_unusable(status_code, content, url, "it is not JSON"))
    return _response(envelope, status_code, headers, url, data_type, content=content)


def decode_batch(
    content: bytes,
    status_code: int,
    headers: Headers,
    url: str,
    data_type: type[T],
    *,
    expected: int,
) -> Success[list[GraphQLResponse[T]]] | Failure[FlextApiError]:
    """A batch answer: a JSON array with one response per operation, in order."""
    try:
        envelopes = _BATCH.decode(content)
    except msgspec.ValidationError:
        single = decode_response(content, status_code, headers, url, data_type)
        if isinstance(single, Failure):
            return single
        return Failure(
            GraphQLMalformed(
                f"{url} answered a batch of {expected} operations with a single response; the "
                "server does not support batching: send the operations one by one",
                url=url,
                status_code=status_code,
                body=content,
            )
        )
    except msgspec.DecodeError:
        return Failure(_unusable(status_code, content, url, "it is not JSON"))
    if len(envelopes) != expected:
        return Failure(
            GraphQLMalformed(
                f"{url} answered a batch of {expected} operations with {len(envelopes)} "
                "responses; the server's batching is broken",
                url=url,
                status_code=status_code,
                body=content,
            )
        )
    responses: list[GraphQLResponse[T]] = []
    for envelope in envelopes:
        result = _response(envelope, status_code, headers, url, data_type, content=content)
        if isinstance(result, Failure):
            return result
        responses.append(result.value)
    return Success(responses)


def decode_event(
    payload: bytes, status_code: int, headers: Headers, url: str, data_type: type[T]
) -> Decoded[T]:
    """A subscription event's payload (the raw JSON of a ``next``/``data`` message)."""
    try:
        envelope = _ENVELOPE.decode(payload)
    except msgspec.DecodeError as error:
        return Failure(
            GraphQLSubscriptionError(
                f"{url} sent a subscription event that is not a GraphQL response ({error}); "
                "check the server's subscription resolver",
                url=url,
                body=payload,
            )
        )
    return _response(envelope, status_code, headers, url, data_type, content=payload)


# --- subscriptions: the two WebSocket subprotocols -------------------------------------------


class SocketMessage(msgspec.Struct, kw_only=True):
    """One message of graphql-transport-ws or graphql-ws (the fields both use); ``payload``
    is raw JSON, empty when absent."""

    type: str
    id: str | None = None
    payload: msgspec.Raw = _UNSENT


_MESSAGE: Final = msgspec.json.Decoder(SocketMessage)

SUBSCRIBE_TYPE: Final[Mapping[str, str]] = {
    "graphql-transport-ws": "subscribe",
    "graphql-ws": "start",
}
STOP_TYPE: Final[Mapping[str, str]] = {"graphql-transport-ws": "complete", "graphql-ws": "stop"}
EVENT_TYPES: Final = frozenset({"next", "data"})
ERROR_TYPES: Final = frozenset({"error", "connection_error"})
IGNORED_TYPES: Final = frozenset({"ka", "pong"})


def decode_message(message: str | bytes, url: str) -> SocketMessage | GraphQLSubscriptionError:
    """A WebSocket message as a protocol message, or the error that ends the subscription."""
    body = message.encode("utf-8") if isinstance(message, str) else message
    try:
        return _MESSAGE.decode(body)
    except msgspec.DecodeError as error:
        return GraphQLSubscriptionError(
            f"{url} sent a WebSocket message outside the GraphQL subscription protocol "
            f"({error}); check that the server speaks the subprotocol asked for",
            url=url,
            body=body,
        )


def message_errors(payload: msgspec.Raw) -> tuple[GraphQLError, ...]:
    """The GraphQL errors of an ``error`` message (a list, or one object in graphql-ws)."""
    if not bytes(payload):
        return ()
    try:
        return tuple(msgspec.json.decode(payload, type=list[GraphQLError]))
    except msgspec.DecodeError:
        pass
    try:
        return (msgspec.json.decode(payload, type=GraphQLError),)
    except msgspec.DecodeError:
        return ()


def encode_message(type_: str, id_: str | None = None, payload: Any = None) -> str:
    message: dict[str, Any] = {"type": type_}
    if id_ is not None:
        message["id"] = id_
    if payload is not None:
        message["payload"] = payload
    return encode_json(message).decode("utf-8")


def _response(
    envelope: _Envelope,
    status_code: int,
    headers: Headers,
    url: str,
    data_type: type[T],
    *,
    content: bytes,
) -> Decoded[T]:
    errors = tuple(envelope.errors or ())
    raw = bytes(envelope.data)
    if not raw and not errors:
        return Failure(_unusable(status_code, content, url, "it has neither 'data' nor 'errors'"))
    data: T | None = None
    if raw and raw != b"null":
        try:
            data = msgspec.json.decode(raw, type=data_type)
        except msgspec.DecodeError as error:
            return Failure(
                GraphQLDecodeError(
                    f"the data {url} sent does not fit {_type_name(data_type)}: {error}; "
                    "regenerate the client or fix data_type",
                    url=url,
                    status_code=status_code,
                    body=content,
                )
            )
    return Success(GraphQLResponse(data, errors, envelope.extensions, status_code, headers))


def _unusable(status_code: int, content: bytes, url: str, why: str) -> GraphQLClientError:
    if status_code >= 400:
        return GraphQLHTTPError(
            f"{url} answered HTTP {status_code} without a GraphQL response ({why}); check "
            "the endpoint URL and the server's logs",
            url=url,
            status_code=status_code,
            body=content,
        )
    if why == "it is not JSON":
        return GraphQLNotJSON(
            f"{url} answered HTTP {status_code} with a body that is not JSON; check the "
            "endpoint URL (a proxy or a web page may be answering)",
            url=url,
            status_code=status_code,
            body=content,
        )
    return GraphQLMalformed(
        f"{url} answered HTTP {status_code} with a body that is not a GraphQL response "
        f"({why}); check that the URL is a GraphQL endpoint",
        url=url,
        status_code=status_code,
        body=content,
    )


def _type_name(data_type: object) -> str:
    # A generic alias (dict[str, int]) says more through repr than through its origin's name.
    if getattr(data_type, "__origin__", None) is not None:
        return repr(data_type)
    return getattr(data_type, "__qualname__", None) or repr(data_type)
