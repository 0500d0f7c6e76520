"""Emit ``stubs.py`` of a generated package: FastAPI-compatible server stubs (G21).

A typed handler ``Protocol`` (one async method per operation, the same argument names and
types as the clients) and ``make_router``/``make_app``, whose routes parse every parameter
style and body from the raw ``Request`` with the same msgspec models (FastAPI's own parameter
handling is pydantic-based and has no deepObject, matrix or label styles), check that the
credentials a security requirement needs are present (401 otherwise), answer invalid input with
a 422 naming the bad field, and serve the source document at ``/openapi.json``. This module only
emits text; the decisions come from plan.py.
"""

from __future__ import annotations

from . import ir
from .checks import CheckPlanner
from .clients import (
    TYPING_HEAD,
    doc,
    model_imports,
    server_prefix,
)
from .models import BANNER
from .plan import OperationPlan, ParamPlan, Planner

_HELPERS = '''
class _InvalidInput(_RequestRejected):
    code = "VALIDATION_ERROR"
    default_status = 422


def _problem(problems: list[dict[str, Any]], where: str, name: str, message: str) -> None:
    problems.append({"loc": [where, name], "msg": message})


def _convert(
    problems: list[dict[str, Any]],
    where: str,
    name: str,
    raw: object,
    type_: Any,
    required: bool,
    content_json: bool = False,
    check: _cv.Check | None = None,
) -> Any:
    if content_json and isinstance(raw, str) and _cv.json_depth(raw.encode()) > JSON_DEPTH_LIMIT:
        _problem(problems, where, name, f"JSON nested deeper than {JSON_DEPTH_LIMIT} levels")
        return None
    if raw is None or raw == "" and content_json:
        if required:
            _problem(problems, where, name, "missing required parameter")
        return None
    if _cv.nesting(raw) > JSON_DEPTH_LIMIT:  # deepObject keys nest one level per [...]
        _problem(problems, where, name, f"nested deeper than {JSON_DEPTH_LIMIT} levels")
        return None
    try:
        if content_json:
            value = msgspec.json.decode(str(raw), type=type_)
        else:
            value = msgspec.convert(raw, type_, strict=False)
        if check is not None:
            _cv.check(msgspec.to_builtins(value), check, _CHECKS, [where, name], problems)
    except msgspec.DecodeError as exc:
        _problem(problems, where, name, str(exc))
        return None
    return value


def _encoded(problems: list[dict[str, Any]], where: str, name: str, text: str | None) -> None:
    \"\"\"Refuse invalid percent-encoding (the lenient decoding that follows would pass it).\"\"\"
    if text is not None:
        reason = _cv.decode_percent(text)[1]
        if reason is not None:
            _problem(problems, where, name, reason)


def _query_encoded(problems: list[dict[str, Any]], pairs: list[tuple[str, str]]) -> None:
    for key, value in pairs:
        _encoded(problems, "query", key, value)


def _once(problems: list[dict[str, Any]], where: str, name: str, count: int) -> None:
    if count > 1:
        _problem(problems, where, name, f"given {count} times; this parameter takes one value")


async def _json_body(
    request: _Request,
    problems: list[dict[str, Any]],
    type_: Any,
    required: bool,
    check: _cv.Check | None = None,
) -> Any:
    raw = await request.body()
    if not raw:
        if required:
            _problem(problems, "body", "body", "missing required body")
        return None
    if _cv.json_depth(raw) > JSON_DEPTH_LIMIT:
        _problem(problems, "body", "body", f"JSON nested deeper than {JSON_DEPTH_LIMIT} levels")
        return None
    try:
        value = msgspec.json.decode(raw, type=type_)
    except msgspec.DecodeError as exc:
        _problem(problems, "body", "body", str(exc))
        return None
    if check is not None:
        _cv.check(msgspec.json.decode(raw), check, _CHECKS, ["body"], problems)
    return value


async def _form_body(
    request: _Request,
    problems: list[dict[str, Any]],
    type_: Any,
    required: bool,
    arrays: frozenset[str],
    multipart: bool,
    check: _cv.Check | None = None,
) -> Any:
    raw = await request.body()
    if not raw:
        if required:
            _problem(problems, "body", "body", "missing required body")
        return None
    fields: dict[str, Any] = {}
    if multipart:
        for part in _rt.parse_multipart(request.headers.get("content-type", ""), raw):
            value = _part_value(problems, part)
            if value is not None:
                _collect(fields, part.name, value, part.name in arrays)
    else:
        for key, text in _rt.split_query(raw.decode("latin-1").replace("+", "%20")):
            decoded, reason = _cv.decode_percent(text)
            if reason is not None:
                _problem(problems, "body", key, reason)
            _collect(fields, key, decoded, key in arrays)
    if problems:
        return None
    try:
        converted = msgspec.convert(fields, type_, strict=False)
    except msgspec.ValidationError as exc:
        _problem(problems, "body", "body", str(exc))
        return None
    if check is not None:
        # Raw keys (to see unknown ones) under the converted, typed values.
        typed = msgspec.to_builtins(converted)
        merged = {**fields, **typed} if isinstance(typed, dict) else typed
        _cv.check(merged, check, _CHECKS, ["body"], problems)
    return converted


def _part_value(problems: list[dict[str, Any]], part: _rt.Part) -> Any:
    \"\"\"A multipart part as the model expects it: JSON parts decoded, text parts as str.\"\"\"
    if part.content_type == "application/json":
        if _cv.json_depth(part.content) > JSON_DEPTH_LIMIT:
            _problem(problems, "body", part.name, "JSON nested too deeply")
            return None
        try:
            return msgspec.json.decode(part.content)
        except msgspec.DecodeError as exc:
            _problem(problems, "body", part.name, f"the JSON part is not valid JSON: {exc}")
            return None
    if part.filename is None:
        try:
            return part.content.decode()
        except UnicodeDecodeError:
            _problem(problems, "body", part.name, "the text part is not valid UTF-8")
            return None
    return part.content


async def _text_body(request: _Request, problems: list[dict[str, Any]]) -> str:
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError:
        _problem(problems, "body", "body", "the text body is not valid UTF-8")
        return ""


def _collect(fields: dict[str, Any], key: str, value: Any, array: bool) -> None:
    if array:
        fields.setdefault(key, []).append(value)
    else:
        fields[key] = value


def _authorized(
    request: _Request, alternatives: _Sequence[_Sequence[tuple[str, str, str]]]
) -> bool:
    if not alternatives:
        return True
    query = {
        k for k, _ in _rt.split_query(request.scope.get("query_string", b"").decode("latin-1"))
    }
    cookies = {k for k, _ in _rt.parse_cookies(request.headers.get("cookie", ""))}
    authorization = request.headers.get("authorization", "").lower()
    for alternative in alternatives:
        if all(_present(kind, detail, request, query, cookies, authorization)
               for _, kind, detail in alternative):
            return True
    return False


def _present(
    kind: str,
    detail: str,
    request: _Request,
    query: set[str],
    cookies: set[str],
    authorization: str,
) -> bool:
    if kind == "apiKey":
        where, _, name = detail.partition(":")
        if where == "header":
            return name in request.headers
        return name in (query if where == "query" else cookies)
    if kind == "http" and detail == "basic":
        return authorization.startswith("basic ")
    if kind in ("http", "oauth2", "openIdConnect"):
        return authorization.startswith("bearer ")
    return True


def _invalid(problems: list[dict[str, Any]], documented: Any = None) -> _Response:
    """A 422 naming each bad field: in the document's error schema for it when it has one,
    else in the server's error shape (``details`` holds the problems)."""
    names = ", ".join(".".join(str(p) for p in item["loc"]) for item in problems)
    message = f"invalid request: {names}"
    if documented is not None:
        body = _cv.documented_error_body(documented, message, problems)
        if body is not None:
            return _Response(msgspec.json.encode(body), 422, media_type="application/json")
    return _error_response(_InvalidInput(message, details=problems))


def _reply(
    result: object, default: int, documented: _Mapping[str, tuple[str, str | None]]
) -> _Response:
    status, body = default, result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, body = result[0], result[1]
    key = _rt.match_status(status, documented)
    kind, media = documented[key] if key is not None else ("json", "application/json")
    if status == 204 or status == 304 or kind == "none":
        return _Response(status_code=status)
    if kind == "text":
        return _Response(str(body).encode(), status, media_type=media or "text/plain")
    if kind == "binary":
        data = body if isinstance(body, bytes) else msgspec.json.encode(body)
        return _Response(data, status, media_type=media or "application/octet-stream")
    return _Response(msgspec.json.encode(body), status, media_type=media or "application/json")


def _raw_path(request: _Request) -> str:
    """The still-encoded path below the router's prefix (an encoded ``/`` stays ``%2F``)."""
    raw = request.scope.get("raw_path")
    path: str = raw.decode("latin-1").split("?")[0] if raw else request.url.path
    prefix = request.scope.get("flext_prefix", "")
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


_Route = tuple[str, str, _abc.Callable[[_Request], _abc.Awaitable[_Response]]]


def _dispatcher(
    routes: list[_Route], prefix: str
) -> _abc.Callable[[_Request], _abc.Awaitable[_Response]]:
    """One catch-all route: matches the raw path (FastAPI's routing decodes ``%2F`` first,
    which breaks parameters holding a slash), static templates before templated ones."""
    ordered = sorted(routes, key=lambda r: (r[1].count("{"), r[1]))

    async def dispatch(request: _Request) -> _Response:
        request.scope["flext_prefix"] = request.scope.get("root_path", "") + prefix
        path = _raw_path(request)
        allowed = False
        for method, template, handler in ordered:
            if _rt.match_path(template, path) is not None:
                if method == request.method:
                    return await handler(request)
                allowed = True
        if allowed:
            return _error_response(
                _RequestRejected("the operation does not take this method", status_code=405)
            )
        return _error_response(_NotFound("no operation has this path"))

    return dispatch


def _openapi_json() -> _Response:
    text = importlib.resources.files(__package__ or "").joinpath("openapi.json").read_bytes()
    return _Response(text, 200, media_type="application/json")
'''


class StubEmitter:
    def __init__(
        self, api: ir.Api, package: str, planner: Planner, plans: list[OperationPlan], name: str
    ) -> None:
        self.api = api
        self.package = package
        self.planner = planner
        self.plans = plans
        self.name = name
        self.checks = CheckPlanner(api, planner.models)

    def module(self) -> str:
        texts = [p.annotation for plan in self.plans for p in plan.params]
        texts += [plan.ok_annotation for plan in self.plans]
        texts += [plan.body.annotation for plan in self.plans if plan.body is not None]
        texts += [e for e in map(_documented_error, self.plans) if e is not None]
        protocol = [
            f"class {self.name}Handlers(_Protocol):",
            doc(
                "The operations a server implements: each returns the documented success body "
                "(answered with the first documented 2xx status) or a ``(status, body)`` pair.",
                "    ",
            ),
        ]
        routes: list[str] = []
        for plan in self.plans:
            protocol += self._protocol_method(plan)
        for plan in self.plans:
            routes += self._route(plan)
        if not self.plans:
            protocol.append("    pass")
        prefix = server_prefix(self.api)
        lines = [
            BANNER,
            '"""FastAPI-compatible server stubs: implement the handler Protocol, then',
            "``make_app(handlers)`` (or ``make_router``) serves every operation with "
            "parameters and",
            "bodies parsed by the same msgspec models as the clients.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "import collections.abc as _abc",
            "import importlib.resources",
            *TYPING_HEAD,
            "from collections.abc import Mapping as _Mapping",
            "from collections.abc import Sequence as _Sequence",
            "from typing import Protocol as _Protocol",
            "",
            "import msgspec",
            "from fastapi import APIRouter as _APIRouter",
            "from fastapi import FastAPI as _FastAPI",
            "from fastapi import Request as _Request",
            "from fastapi import Response as _Response",
            "",
            "from flext_api import codegen_runtime as _rt",
            "from flext_api import codegen_validation as _cv",
            "from flext_api.server import FlextApiConfig as _Config",
            "from flext_api.server import NotFound as _NotFound",
            "from flext_api.server import RequestRejected as _RequestRejected",
            "from flext_api.server import Unauthorized as _Unauthorized",
            "from flext_api.server import create_fastapi_app as _create_app",
            "from flext_api.server import error_response as _error_response",
            f"from {self.package} import operations as _ops",
            *model_imports(self.package, texts, self.planner.exported),
            "",
            f"SERVER_PREFIX = {prefix!r}",
            '"""The path of the document\'s first server: where ``make_app`` mounts the routes."""',
            f"REQUEST_MEDIA_TYPES = {self._media_types()!r}",
            '"""The request body media types the document declares: the only ones ``make_app``',
            'accepts by default (anything else is a 415 before a handler runs)."""',
            "JSON_DEPTH_LIMIT = 128",
            '"""JSON bodies nested deeper are refused (422) before decoding, unknown fields',
            'included."""',
            *self._check_table(),
            _HELPERS,
            "",
            *protocol,
            "",
            "",
            f"def make_router(handlers: {self.name}Handlers, *, prefix: str = SERVER_PREFIX) "
            "-> _APIRouter:",
            doc("A router with one route per operation, and ``/openapi.json``.", "    "),
            "    router = _APIRouter(prefix=prefix)",
            "    routes: list[_Route] = []",
            *routes,
            "    router.add_api_route('/openapi.json', _openapi_json, methods=['GET'], "
            "include_in_schema=False)",
            "    methods = sorted({method for method, _, _ in routes})",
            "    if methods:",
            "        router.add_api_route('/{rest:path}', _dispatcher(routes, prefix), "
            "methods=methods, include_in_schema=False)",
            "    return router",
            "",
            "",
            "def make_app(",
            f"    handlers: {self.name}Handlers,",
            "    *,",
            "    prefix: str = SERVER_PREFIX,",
            "    config: _Config | None = None,",
            ") -> _FastAPI:",
            doc(
                "``make_router(handlers)`` in an app from ``create_fastapi_app``, so the stub runs "
                "behind the same guards as any flext-api server: body size and read-time limits "
                "(413, 408), allowed content types (415; by default ``REQUEST_MEDIA_TYPES``) and "
                "one JSON error shape. ``config`` replaces the default settings; FastAPI's own "
                "docs stay off (``/openapi.json`` serves the source document).",
                "    ",
            ),
            "    if config is None:",
            f"        config = _Config(title={self.api.title.strip() or 'API'!r}, "
            "allowed_content_types=REQUEST_MEDIA_TYPES)",
            "    app = _create_app(config, expose_docs=False)",
            "    app.include_router(make_router(handlers, prefix=prefix))",
            "    if prefix:",
            "        app.add_api_route('/openapi.json', _openapi_json, methods=['GET'], "
            "include_in_schema=False)",
            "    return app",
        ]
        return "\n".join(lines) + "\n"

    def _media_types(self) -> tuple[str, ...]:
        found = {
            c.media_type.split(";", 1)[0].strip().lower()
            for op in self.api.operations
            if op.body is not None
            for c in op.body.contents
        }
        return tuple(sorted(found)) or ("application/json",)

    def _check_table(self) -> list[str]:
        rows = self.checks.table()
        if not rows:
            return ["_CHECKS: dict[str, _cv.Check] = {}"]
        return [
            "_CHECKS: dict[str, _cv.Check] = {",
            *(f"    {name!r}: {node}," for name, node in rows),
            "}",
            '"""What each schema refuses beyond its type (enum values, unknown properties,',
            "bounds, lengths, patterns, item counts): checked after decoding, since the models",
            'are tolerant."""',
        ]

    def _protocol_method(self, plan: OperationPlan) -> list[str]:
        args = [f"{p.arg}: {_maybe(p.annotation, p.param.required)}," for p in plan.params]
        if plan.body is not None:
            args.append(f"body: {_maybe(plan.body.annotation, plan.body.required)},")
        return [
            "",
            f"    async def {plan.name}(",
            "        self,",
            *(["        *,"] if args else []),
            *("        " + a for a in args),
            f"    ) -> {plan.ok_annotation} | tuple[int, object]:",
            doc(plan.doc, "        "),
            "        ...",
        ]

    def _route(self, plan: OperationPlan) -> list[str]:
        op = plan.op
        fn = f"_{plan.name}"
        out = [
            "",
            f"    async def {fn}(request: _Request) -> _Response:",
            f"        if not _authorized(request, _ops.SECURITY_{plan.name.upper()}):",
            "            return _error_response(_Unauthorized("
            "'missing credentials: send one of the documented security schemes'))",
            "        _problems: list[dict[str, Any]] = []",
        ]
        where = {p.param.location for p in plan.params}
        if "path" in where:
            out.append(f"        _path = _rt.match_path({op.path!r}, _raw_path(request)) or {{}}")
        if "query" in where:
            out += [
                "        _query = _rt.split_query(request.scope.get('query_string', "
                "b'').decode('latin-1'))",
                "        _query_encoded(_problems, _query)",
            ]
        if "cookie" in where:
            out.append("        _cookies = _rt.parse_cookies(request.headers.get('cookie', ''))")
        names = {p.param.name for p in plan.params if p.param.location == "query"}
        cookie_names = {p.param.name for p in plan.params if p.param.location == "cookie"}
        call: list[str] = []
        for p in plan.params:
            param = p.param
            style, explode = param.style, param.explode
            if p.content_json:
                style, explode = (
                    ("simple", False) if param.location in ("path", "header") else ("form", True)
                )
            shape = "primitive" if p.content_json else p.shape
            if param.location == "path":
                raw = f"_path.get({param.name!r})"
            elif param.location == "header":
                raw = f"request.headers.get({param.name!r})"
            elif param.location == "cookie":
                others = sorted(cookie_names - {param.name})
                raw = (
                    f"[c for c in _cookies if c[0] not in {others!r}]"
                    if shape == "object" and explode
                    else "_cookies"
                )
            else:
                others = sorted(names - {param.name})
                raw = (
                    f"[q for q in _query if q[0] not in {others!r}]"
                    if shape == "object" and explode and style == "form"
                    else "_query"
                )
            out += self._param_guards(p, shape)
            value = f"_rt.deserialize({param.name!r}, {raw}, {style!r}, {explode!r}, {shape!r})"
            t = param.content[0].type if param.content and param.content[0].type else param.type
            node = self.checks.node(t)
            out.append(
                f"        {p.arg}: {_maybe(p.annotation, param.required)} = "
                f"_convert(_problems, {param.location!r}, {param.name!r}, "
                f"{value}, {_maybe(p.annotation, param.required)}, {param.required!r}, "
                f"{p.content_json!r}{', ' + node if node else ''})"
            )
            call.append(f"{p.arg}={p.arg}")
        if plan.body is not None:
            b = plan.body
            annotation = _maybe(b.annotation, b.required)
            node = self.checks.node(self.checks.body_type(op, b.media_type))
            check = f", {node}" if node else ""
            if b.kind == "json":
                out.append(
                    f"        body: {annotation} = await _json_body(request, _problems, "
                    f"{annotation}, {b.required!r}{check})"
                )
            elif b.kind in ("form", "multipart"):
                arrays = self._array_fields(plan)
                out.append(
                    f"        body: {annotation} = await _form_body(request, _problems, "
                    f"{annotation}, {b.required!r}, "
                    f"frozenset({sorted(arrays)!r}), {b.kind == 'multipart'!r}{check})"
                )
            elif b.kind == "text":
                out.append("        body = await _text_body(request, _problems)")
            else:
                out.append("        body = await request.body()")
            call.append("body=body")
        documented = {r.status: (r.kind, r.media_type) for r in plan.responses}
        default = next(
            (
                int(r.status)
                for r in plan.responses
                if r.status.isdigit() and r.status.startswith("2")
            ),
            200,
        )
        error = _documented_error(plan)
        out += [
            "        if _problems:",
            f"            return _invalid(_problems{', ' + error if error else ''})",
            f"        _result = await handlers.{plan.name}({', '.join(call)})",
            f"        return _reply(_result, {default}, {documented!r})",
            "",
            f"    routes.append(({op.method.upper()!r}, {op.path!r}, {fn}))",
        ]
        return out

    def _param_guards(self, p: ParamPlan, shape: str) -> list[str]:
        """Percent-encoding (query pairs are checked once per route) and repeated scalars."""
        param = p.param
        name = param.name
        if param.location == "path":
            return [f"        _encoded(_problems, 'path', {name!r}, _path.get({name!r}))"]
        if param.location == "header":
            out = [
                f"        _encoded(_problems, 'header', {name!r}, request.headers.get({name!r}))"
            ]
            if shape == "primitive":
                out.append(
                    f"        _once(_problems, 'header', {name!r}, "
                    f"len(request.headers.getlist({name!r})))"
                )
            return out
        if param.location == "cookie":
            return [
                f"        _encoded(_problems, 'cookie', {name!r}, "
                f"next((v for k, v in _cookies if k == {name!r}), None))"
            ]
        if shape == "primitive":
            return [
                f"        _once(_problems, 'query', {name!r}, "
                f"sum(1 for k, _ in _query if k == {name!r}))"
            ]
        return []

    def _array_fields(self, plan: OperationPlan) -> set[str]:
        body = plan.op.body
        if body is None:
            return set()
        out: set[str] = set()
        for content in body.contents:
            t = content.type
            while isinstance(t, ir.Nullable):
                t = t.inner
            if isinstance(t, ir.Ref):
                for f in self.planner.models.all_fields(t.id):
                    if self.planner.shape(f.type) == "array":
                        out.add(f.wire_name)
        return out


def _documented_error(plan: OperationPlan) -> str | None:
    """The JSON body type the document gives a 422 (or ``4XX``) of the operation."""
    return next(
        (
            r.annotation
            for status in ("422", "4XX")
            for r in plan.responses
            if r.status == status and r.kind == "json" and r.annotation not in ("Any", "None")
        ),
        None,
    )


def _maybe(annotation: str, required: bool) -> str:
    if required or annotation in ("Any", "None") or annotation.endswith("| None"):
        return annotation
    return f"{annotation} | None"
