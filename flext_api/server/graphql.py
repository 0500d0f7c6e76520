"""create_graphql_router: a GraphQL endpoint (HTTP and WebSocket) executed by graphql-core.

One path serves GET and POST (JSON, a JSON array for batching, and the GraphQL multipart request
spec for uploads) and, over WebSocket, subscriptions with the ``graphql-transport-ws``
subprotocol. Every failure a client causes is answered as a GraphQL response (``{"errors": [...]}``)
with a 4xx when nothing executed; a resolver that raises becomes an entry of ``errors`` carrying
its path, and its details stay in the log unless ``debug`` is on. Mounted in
:func:`flext_api.server.create_fastapi_app`, the factory's body guards run before this router.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import anyio
import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    execute,
    get_operation_ast,
    parse,
    subscribe,
    validate,
    validate_schema,
    value_from_ast_untyped,
)
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from flext_api._exceptions import FlextApiError
from flext_api.server.graphql_limits import measure_operation

__all__ = ["GraphQLScalarCodec", "create_graphql_router"]

logger = logging.getLogger("flext_api.server.graphql")

Resolver = Callable[..., Any]
_JSON_TYPES = ("application/json", "application/graphql-response+json")
_SUBPROTOCOL = "graphql-transport-ws"
# A document of more tokens than this is refused before parsing finishes: parse time is linear
# in tokens, and the depth and complexity limits only run after parsing.
_MAX_TOKENS = 20_000
_INIT_TIMEOUT = 10.0  # seconds a WebSocket may stay open without connection_init


class GraphQLScalarCodec(Protocol):
    """How one custom scalar crosses the wire: ``serialize`` for output, ``parse_value`` for input.

    Literals in the query are turned into plain values first and then go through ``parse_value``.
    A ``ValueError``/``TypeError`` raised by ``parse_value`` becomes a variable or argument error.
    """

    def serialize(self, value: Any) -> Any: ...

    def parse_value(self, value: Any) -> Any: ...


@dataclass(frozen=True)
class _Limits:
    max_depth: int
    max_complexity: int
    max_batch: int
    debug: bool


class _Refused(Exception):
    """A request refused before execution: answered with ``status`` and a GraphQL error."""

    def __init__(self, message: str, status: int = 400, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def create_graphql_router(
    schema_sdl: str,
    resolvers: Mapping[str, Mapping[str, Callable[..., Any]]],
    *,
    path: str = "/graphql",
    max_depth: int = 15,
    max_complexity: int = 5000,
    context_factory: Callable[[Request], Any] | None = None,
    scalars: Mapping[str, GraphQLScalarCodec] | None = None,
    max_batch: int = 100,
    debug: bool = False,
) -> APIRouter:
    """Build an ``APIRouter`` serving ``schema_sdl`` at ``path`` (HTTP and WebSocket).

    ``resolvers`` maps a type name to ``{field: fn(parent, info, **arguments)}``, sync or async;
    a ``Subscription`` field's fn is an async generator. Fields without a resolver read the
    parent's dict key or attribute. An abstract type may have ``"__resolve_type"``; otherwise
    a dict's ``__typename`` names its concrete type. ``context_factory(request)`` builds
    ``info.context`` (default ``{"request": request}``); for subscriptions it is given the
    WebSocket, which has the same ``headers``/``query_params``/``state``. A schema or resolver
    map that does not fit raises ``ValueError``/``TypeError`` here, at build time.
    """
    schema = _build(schema_sdl, resolvers, scalars or {})
    limits = _Limits(max_depth, max_complexity, max_batch, debug)

    make_context: Callable[[Any], Any] = context_factory or _default_context

    router = APIRouter()

    async def http_endpoint(request: Request) -> Response:
        forms: list[FormData] = []
        try:
            operations, batched = await _read_operations(request, limits, forms)
            context = make_context(request)
            results = [
                await _run_http(schema, op, context, limits, request.method) for op in operations
            ]
        except _Refused as refused:
            return _respond({"errors": [_plain_error(str(refused), refused.code)]}, refused.status)
        finally:
            # Uploads are spooled to temporary files: released once the resolvers are done.
            for form in forms:
                await form.close()
        if batched:
            return _respond([body for body, _ in results], 200)
        body, status = results[0]
        return _respond(body, status)

    async def ws_endpoint(websocket: WebSocket) -> None:
        await _serve_transport_ws(websocket, schema, make_context(websocket), limits)

    router.add_api_route(
        path, http_endpoint, methods=["GET", "POST"], include_in_schema=False, response_model=None
    )
    router.add_api_websocket_route(path, ws_endpoint)
    return router


def _build(
    sdl: str,
    resolvers: Mapping[str, Mapping[str, Resolver]],
    scalars: Mapping[str, GraphQLScalarCodec],
) -> GraphQLSchema:
    try:
        schema = build_schema(sdl)
    except (GraphQLError, TypeError) as error:  # TypeError: a type defined twice, and the like
        raise ValueError(f"the GraphQL schema does not parse: {error}") from None
    # A parsed SDL can still break type-system rules; graphql-core would then fail every request.
    if problems := validate_schema(schema):
        listed = "; ".join(problem.message for problem in problems[:3])
        raise ValueError(f"the GraphQL schema is invalid ({len(problems)}): {listed}; fix the SDL")
    for type_name, fields in resolvers.items():
        graphql_type = schema.type_map.get(type_name)
        if graphql_type is None:
            raise ValueError(f"resolvers name the type {type_name!r}, which the schema lacks")
        if "__resolve_type" in fields and hasattr(graphql_type, "resolve_type"):
            graphql_type.resolve_type = fields["__resolve_type"]
            continue
        if not isinstance(graphql_type, GraphQLObjectType):
            raise TypeError(f"resolvers for {type_name!r}: only object types have fields")
        is_subscription = graphql_type is schema.subscription_type
        for field_name, fn in fields.items():
            field = graphql_type.fields.get(field_name)
            if field is None:
                raise ValueError(f"{type_name}.{field_name} has a resolver but no schema field")
            if is_subscription:
                field.subscribe = fn
                field.resolve = _event_itself
            else:
                field.resolve = fn
    for scalar_name, codec in scalars.items():
        scalar = schema.type_map.get(scalar_name)
        if not isinstance(scalar, GraphQLScalarType):
            raise TypeError(f"scalars name {scalar_name!r}, which is not a scalar of the schema")
        # graphql-core 3.3 reads coerce_*; 3.2 reads serialize/parse_value: set both.
        out, into = codec.serialize, codec.parse_value
        vars(scalar).update(serialize=out, coerce_output_value=out, parse_value=into)
        vars(scalar).update(coerce_input_value=into, parse_literal=_literal_parser(codec))
    return schema


def _default_context(connection: Any) -> Any:
    return {"request": connection}


def _event_itself(event: Any, _info: Any, **_arguments: Any) -> Any:
    # A subscription's source stream already yields the field's value.
    return event


def _literal_parser(codec: GraphQLScalarCodec) -> Callable[..., Any]:
    def parse_literal(node: Any, variables: Any = None) -> Any:
        return codec.parse_value(value_from_ast_untyped(node, variables))

    return parse_literal


async def _read_operations(
    request: Request, limits: _Limits, forms: list[FormData]
) -> tuple[list[Any], bool]:
    """The request's operations (one, or a batch) as raw JSON-like values."""
    if request.method == "GET":
        params = request.query_params
        operation: dict[str, Any] = {"query": params.get("query")}
        if "operationName" in params:
            operation["operationName"] = params["operationName"]
        if "variables" in params:
            operation["variables"] = _json(params["variables"].encode(), "variables")
        return [operation], False
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type in _JSON_TYPES:
        payload = _json(await request.body(), "the request body")
    elif media_type == "multipart/form-data":
        payload = await _read_multipart(request, forms)
    else:
        raise _Refused(
            "POST a GraphQL request as application/json (or multipart/form-data for uploads)",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
    if isinstance(payload, list):
        if not payload:
            raise _Refused("the batch is empty: send at least one operation")
        if len(payload) > limits.max_batch:
            raise _Refused(
                f"the batch holds {len(payload)} operations; the limit is {limits.max_batch}"
            )
        return payload, True
    return [payload], False


def _json(raw: bytes, what: str) -> Any:
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # msgspec's depth limit is a RecursionError
        raise _Refused(f"{what} is not valid JSON (or is nested too deeply)") from None


async def _read_multipart(request: Request, forms: list[FormData]) -> Any:
    """Apply the GraphQL multipart request spec: ``operations``, ``map``, then the files."""
    try:
        form = await request.form()
    except Exception:  # starlette raises several types for a malformed or oversized form
        raise _Refused("the multipart body does not parse") from None
    forms.append(form)
    operations_field = form.get("operations")
    map_field = form.get("map")
    if not isinstance(operations_field, str) or not isinstance(map_field, str):
        raise _Refused("a multipart GraphQL request needs the 'operations' and 'map' fields")
    operations = _json(operations_field.encode(), "the 'operations' field")
    file_map = _json(map_field.encode(), "the 'map' field")
    if not isinstance(file_map, dict):
        raise _Refused("the 'map' field must be an object of file key -> list of paths")
    for key, paths in file_map.items():
        upload = form.get(key)
        if not isinstance(upload, UploadFile):
            raise _Refused(f"the 'map' field names the file {key!r}, which the request lacks")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise _Refused(f"the 'map' entry {key!r} must be a list of paths")
        for dotted in paths:
            _place(operations, dotted, upload)
    return operations


def _place(target: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    try:
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        # The spec replaces a null placeholder: a path to nothing is the client's mistake.
        placed = (isinstance(target, dict) and last in target) or isinstance(target, list)
        if placed:
            target[int(last) if isinstance(target, list) else last] = value
    except (KeyError, IndexError, ValueError, TypeError):
        placed = False
    if not placed:
        raise _Refused(f"the 'map' path {dotted!r} does not point into 'operations'")


async def _run_http(
    schema: GraphQLSchema, raw: Any, context: Any, limits: _Limits, method: str
) -> tuple[Any, int]:
    try:
        document, operation, variables, name = _prepare(schema, raw, limits)
    except _Refused as refused:
        return {"errors": [_plain_error(str(refused), refused.code)]}, refused.status
    except _Invalid as invalid:
        return {"errors": [_format(error, limits.debug) for error in invalid.errors]}, 400
    if operation.operation is OperationType.SUBSCRIPTION:
        message = "subscriptions run over WebSocket (graphql-transport-ws) on this path"
        return {"errors": [_plain_error(message, "BAD_REQUEST")]}, 400
    if method == "GET" and operation.operation is OperationType.MUTATION:
        message = "a mutation over GET is refused: send it with POST"
        return {"errors": [_plain_error(message, "METHOD_NOT_ALLOWED")]}, 405
    result = await _execute(schema, document, context, variables, name)
    return _result_body(result, limits.debug), 200 if _executed(result) else 400


class _Invalid(Exception):
    """The document does not parse or validate: answered with graphql-core's errors."""

    def __init__(self, errors: Sequence[GraphQLError]) -> None:
        super().__init__("invalid")
        self.errors = errors


def _prepare(
    schema: GraphQLSchema, raw: Any, limits: _Limits
) -> tuple[DocumentNode, OperationDefinitionNode, dict[str, Any] | None, str | None]:
    """Parse, validate and limit one raw operation; refuse what cannot run."""
    if not isinstance(raw, dict):
        raise _Refused("each GraphQL request must be a JSON object with a 'query' string")
    query = raw.get("query")
    variables = raw.get("variables")
    name = raw.get("operationName")
    if not isinstance(query, str):
        raise _Refused("the request has no 'query' string")
    if variables is not None and not isinstance(variables, dict):
        raise _Refused("'variables' must be a JSON object")
    if name is not None and not isinstance(name, str):
        raise _Refused("'operationName' must be a string")
    try:
        document = parse(query, max_tokens=_MAX_TOKENS)
        errors = validate(schema, document, max_errors=20)
    except GraphQLError as error:
        raise _Invalid([error]) from None
    except RecursionError:  # graphql-core 3.2 has no nesting limit of its own
        raise _Refused("the document is nested too deeply") from None
    if errors:
        raise _Invalid(errors)
    operation = get_operation_ast(document, name)
    if operation is None:
        raise _Refused("name the operation to run with 'operationName'")
    _check_limits(document, operation, limits)
    return document, operation, variables, name


async def _execute(
    schema: GraphQLSchema,
    document: DocumentNode,
    context: Any,
    variables: dict[str, Any] | None,
    name: str | None,
) -> ExecutionResult:
    result = execute(
        schema, document, context_value=context, variable_values=variables, operation_name=name
    )
    if isinstance(result, ExecutionResult):
        return result
    return await result


def _result_body(result: ExecutionResult, debug: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_format(error, debug) for error in result.errors]
    if _executed(result):
        body["data"] = result.data
    return body


def _executed(result: ExecutionResult) -> bool:
    # Errors that all lack a path come from variable coercion: execution never started.
    return result.data is not None or not all(e.path is None for e in result.errors or ())


def _format(error: GraphQLError, debug: bool) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return formatted
    extensions = dict(formatted.get("extensions") or {})
    if isinstance(original, FlextApiError):
        # A FlextApiError is a deliberate, user-facing failure: its message and code are the API.
        extensions["code"] = original.code
    elif debug:
        extensions["code"] = "INTERNAL_SERVER_ERROR"
        extensions["exception"] = type(original).__name__
    else:
        logger.error("GraphQL resolver failed at %s", error.path, exc_info=original)
        formatted["message"] = "Internal server error"
        extensions["code"] = "INTERNAL_SERVER_ERROR"
    formatted["extensions"] = extensions
    return formatted


def _plain_error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _respond(body: Any, status: int) -> Response:
    return Response(
        msgspec.json.encode(body, enc_hook=str), status_code=status, media_type="application/json"
    )


def _check_limits(
    document: DocumentNode, operation: OperationDefinitionNode, limits: _Limits
) -> None:
    depth, complexity = measure_operation(
        document, operation, limits.max_depth, limits.max_complexity
    )
    if depth > limits.max_depth:
        raise _Refused(
            f"the query is nested {depth} levels deep; the limit is {limits.max_depth}",
            code="QUERY_TOO_DEEP",
        )
    if complexity > limits.max_complexity:
        raise _Refused(
            f"the query selects at least {complexity} fields; the limit is {limits.max_complexity}",
            code="QUERY_TOO_COMPLEX",
        )


async def _serve_transport_ws(
    websocket: WebSocket, schema: GraphQLSchema, context: Any, limits: _Limits
) -> None:
    """Speak graphql-transport-ws until the client leaves or breaks the protocol."""
    if _SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        # Refused at the handshake: the client speaks another protocol.
        await websocket.close(code=4406, reason="Subprotocol not acceptable")
        return
    await websocket.accept(subprotocol=_SUBPROTOCOL)
    session = _TransportWS(websocket, schema, context, limits)
    close: _Refused | None = None
    async with anyio.create_task_group() as group:
        try:
            await session.loop(group)
        except _Refused as error:  # its status is the close code
            close = error
        except WebSocketDisconnect:
            pass
        finally:
            group.cancel_scope.cancel()
    if close is not None:
        await websocket.close(code=close.status, reason=str(close))


class _TransportWS:
    """One graphql-transport-ws connection: its operations, each in its own cancel scope."""

    def __init__(
        self, websocket: WebSocket, schema: GraphQLSchema, context: Any, limits: _Limits
    ) -> None:
        self.websocket = websocket
        self.schema = schema
        self.context = context
        self.limits = limits
        self.running: dict[str, anyio.CancelScope] = {}
        # Operations send from their own tasks: one frame at a time.
        self.send_lock = anyio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(msgspec.json.encode(message, enc_hook=str).decode())

    async def receive(self) -> dict[str, Any]:
        text = await self.websocket.receive_text()
        try:
            message = msgspec.json.decode(text)
        except msgspec.DecodeError:
            raise _Refused(status=4400, message="Invalid message: not JSON") from None
        if not isinstance(message, dict):
            raise _Refused(status=4400, message="Invalid message: not an object")
        return message

    async def loop(self, group: anyio.abc.TaskGroup) -> None:
        with anyio.move_on_after(_INIT_TIMEOUT) as init_wait:
            message = await self.receive()
        if init_wait.cancelled_caught:
            raise _Refused(status=4408, message="Connection initialisation timeout")
        if message.get("type") != "connection_init":
            raise _Refused(status=4401, message="Unauthorized")
        await self.send({"type": "connection_ack"})
        while True:
            message = await self.receive()
            kind = message.get("type")
            op_id = message.get("id")
            if kind == "connection_init":
                raise _Refused(status=4429, message="Too many initialisation requests")
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "subscribe":
                payload = message.get("payload")
                if not isinstance(op_id, str) or not op_id or not isinstance(payload, dict):
                    raise _Refused(status=4400, message="Invalid subscribe message")
                if op_id in self.running:
                    raise _Refused(status=4409, message=f"Subscriber for {op_id} already exists")
                scope = anyio.CancelScope()
                self.running[op_id] = scope
                group.start_soon(self.run_operation, op_id, payload, scope)
            elif kind == "complete":
                stopped = self.running.pop(op_id, None) if isinstance(op_id, str) else None
                if stopped is not None:
                    stopped.cancel()
            elif kind != "pong":
                raise _Refused(status=4400, message=f"Unknown message type {kind!r}")

    async def run_operation(
        self, op_id: str, payload: dict[str, Any], scope: anyio.CancelScope
    ) -> None:
        with scope:
            try:
                await self.stream(op_id, payload)
            except Exception:  # the client left mid-send: the receive loop ends the connection
                logger.debug("graphql-transport-ws operation %s ended early", op_id, exc_info=True)
            finally:
                self.running.pop(op_id, None)

    async def error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        await self.send({"id": op_id, "type": "error", "payload": errors})

    async def stream(self, op_id: str, payload: dict[str, Any]) -> None:
        debug = self.limits.debug
        try:
            document, operation, variables, name = _prepare(self.schema, payload, self.limits)
        except _Refused as refused:
            await self.error(op_id, [_plain_error(str(refused), refused.code)])
            return
        except _Invalid as invalid:
            await self.error(op_id, [_format(error, debug) for error in invalid.errors])
            return
        if operation.operation is not OperationType.SUBSCRIPTION:
            result = await _execute(self.schema, document, self.context, variables, name)
            await self.send({"id": op_id, "type": "next", "payload": _result_body(result, debug)})
            await self.send({"id": op_id, "type": "complete"})
            return
        stream = subscribe(
            self.schema,
            document,
            context_value=self.context,
            variable_values=variables,
            operation_name=name,
        )
        if not isinstance(stream, ExecutionResult) and not hasattr(stream, "__aiter__"):
            stream = await stream
        if isinstance(stream, ExecutionResult):
            await self.error(op_id, [_format(error, debug) for error in stream.errors or ()])
            return
        events = cast("AsyncIterator[ExecutionResult]", stream)
        try:
            async for result in events:
                await self.send(
                    {"id": op_id, "type": "next", "payload": _result_body(result, debug)}
                )
        except Exception as exc:  # the source stream failed: the operation ends with an error
            await self.error(op_id, [_format(GraphQLError(str(exc), original_error=exc), debug)])
            return
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        await self.send({"id": op_id, "type": "complete"})
