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

from codegen.openapi import ir
from codegen.openapi.clients import (
    TYPING_HEAD,
    doc,
    model_imports,
    server_prefix,
)
from codegen.openapi.models import BANNER
from codegen.openapi.plan import OperationPlan, Planner

_HELPERS = '''
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
) -> Any:
    if raw is None or raw == "" and content_json:
        if required:
            _problem(problems, where, name, "missing required parameter")
        return None
    try:
        if content_json:
            return msgspec.json.decode(str(raw), type=type_)
        return msgspec.convert(raw, type_, strict=False)
    except msgspec.DecodeError as exc:
        _problem(problems, where, name, str(exc))
        return None


async def _json_body(
    request: _Request, problems: list[dict[str, Any]], type_: Any, required: bool
) -> Any:
    raw = await request.body()
    if not raw:
        if required:
            _problem(problems, "body", "body", "missing required body")
        return None
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.DecodeError as exc:
        _problem(problems, "body", "body", str(exc))
        return None


async def _form_body(
    request: _Request,
    problems: list[dict[str, Any]],
    type_: Any,
    required: bool,
    arrays: frozenset[str],
    multipart: bool,
) -> Any:
    raw = await request.body()
    if not raw:
        if required:
            _problem(problems, "body", "body", "missing required body")
        return None
    fields: dict[str, Any] = {}
    if multipart:
        for part in _rt.parse_multipart(request.headers.get("content-type", ""), raw):
            value: Any = part.content
            if part.content_type == "application/json":
                value = msgspec.json.decode(part.content)
            elif part.filename is None:
                value = part.content.decode()
            _collect(fields, part.name, value, part.name in arrays)
    else:
        for key, text in _rt.parse_form(raw):
            _collect(fields, key, text, key in arrays)
    try:
        return msgspec.convert(fields, type_, strict=False)
    except msgspec.ValidationError as exc:
        _problem(problems, "body", "body", str(exc))
        return None


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


def _invalid(problems: list[dict[str, Any]]) -> _Response:
    return _Response(msgspec.json.encode({"detail": problems}), 422, media_type="application/json")


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
        status = 405 if allowed else 404
        return _Response(msgspec.json.encode({"detail": "no such operation"}), status)

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

    def module(self) -> str:
        texts = [p.annotation for plan in self.plans for p in plan.params]
        texts += [plan.ok_annotation for plan in self.plans]
        texts += [plan.body.annotation for plan in self.plans if plan.body is not None]
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
            f"from {self.package} import operations as _ops",
            *model_imports(self.package, texts, self.planner.exported),
            "",
            f"SERVER_PREFIX = {prefix!r}",
            '"""The path of the document\'s first server: where ``make_app`` mounts the routes."""',
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
            f"def make_app(handlers: {self.name}Handlers, *, prefix: str = SERVER_PREFIX) -> "
            "_FastAPI:",
            doc(
                "A FastAPI app serving ``make_router(handlers)`` (FastAPI's own docs off).", "    "
            ),
            "    app = _FastAPI(openapi_url=None, docs_url=None, redoc_url=None)",
            "    app.include_router(make_router(handlers, prefix=prefix))",
            "    if prefix:",
            "        app.add_api_route('/openapi.json', _openapi_json, methods=['GET'], "
            "include_in_schema=False)",
            "    return app",
        ]
        return "\n".join(lines) + "\n"

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
            '            return _Response(b\'{"detail":"missing credentials"}\', 401, '
            "media_type='application/json')",
            "        _problems: list[dict[str, Any]] = []",
        ]
        where = {p.param.location for p in plan.params}
        if "path" in where:
            out.append(f"        _path = _rt.match_path({op.path!r}, _raw_path(request)) or {{}}")
        if "query" in where:
            out.append(
                "        _query = _rt.split_query(request.scope.get('query_string', "
                "b'').decode('latin-1'))"
            )
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
            value = f"_rt.deserialize({param.name!r}, {raw}, {style!r}, {explode!r}, {shape!r})"
            out.append(
                f"        {p.arg}: {_maybe(p.annotation, param.required)} = "
                f"_convert(_problems, {param.location!r}, {param.name!r}, "
                f"{value}, {_maybe(p.annotation, param.required)}, {param.required!r}, "
                f"{p.content_json!r})"
            )
            call.append(f"{p.arg}={p.arg}")
        if plan.body is not None:
            b = plan.body
            annotation = _maybe(b.annotation, b.required)
            if b.kind == "json":
                out.append(
                    f"        body: {annotation} = await _json_body(request, _problems, "
                    f"{annotation}, {b.required!r})"
                )
            elif b.kind in ("form", "multipart"):
                arrays = self._array_fields(plan)
                out.append(
                    f"        body: {annotation} = await _form_body(request, _problems, "
                    f"{annotation}, {b.required!r}, "
                    f"frozenset({sorted(arrays)!r}), {b.kind == 'multipart'!r})"
                )
            elif b.kind == "text":
                out.append("        body = (await request.body()).decode()")
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
        out += [
            "        if _problems:",
            "            return _invalid(_problems)",
            f"        _result = await handlers.{plan.name}({', '.join(call)})",
            f"        return _reply(_result, {default}, {documented!r})",
            "",
            f"    routes.append(({op.method.upper()!r}, {op.path!r}, {fn}))",
        ]
        return out

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


def _maybe(annotation: str, required: bool) -> str:
    if required or annotation in ("Any", "None") or annotation.endswith("| None"):
        return annotation
    return f"{annotation} | None"
