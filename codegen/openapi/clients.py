"""Emit the request side of a generated package: ``errors.py`` (typed status errors),
``operations.py`` (pure request builders and response parsers) and ``client.py`` (the async
client and its sync twin).

Direct emission, like models.py: the text depends on per-operation decisions (see plan.py).
The sync client is produced from the async client's text by a fixed set of token rewrites
(``async def`` -> ``def``, ``await`` dropped, ``AsyncFlextApiClient`` -> ``FlextApiClient``...),
so the two cannot drift. This module must never decide a type itself; plan.py does.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

from . import ir
from .models import BANNER
from .naming import pascal, snake, words
from .plan import BodyPlan, OperationPlan, ParamPlan, Planner, identifiers

GROUP_SIZE = 16
"""At most this many operations per lazily imported group module (``_ops_<tag>``)."""

TYPING_HEAD = [
    "import datetime as _dt",
    "import uuid as _uuid",
    "from typing import Any, Literal, TypeAlias",
]
_SYNC_REWRITES = (
    ("async def ", "def "),
    ("await ", ""),
    ("AsyncFlextApiClient", "FlextApiClient"),
    ("_fa.AsyncMiddleware", "_fa.Middleware"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    (".aclose()", ".close()"),
    ("def aclose(", "def close("),
    ("class Async", "class "),
    ("-> Async", "-> "),
    ("asynchronous (asyncio and trio)", "blocking"),
)


def doc(text: str, indent: str) -> str:
    """A docstring literal (triple-quoted, backslashes and quotes made safe)."""
    cleaned = text.replace("\\", "\\\\").replace('"""', "'''").strip()
    if cleaned.endswith('"'):
        cleaned += " "
    lines = cleaned.splitlines() or [""]
    body = ("\n" + indent).join(line.rstrip() for line in lines)
    return f'{indent}"""{body}"""' if len(lines) == 1 else f'{indent}"""{body}\n{indent}"""'


def api_class_name(api: ir.Api, taken: set[str]) -> str:
    parts = [w for w in words(api.title) if not w.isdigit()][:3]
    name = pascal("_".join(parts)) if parts else "Api"
    while f"{name}Client" in taken or f"Async{name}Client" in taken:
        name += "Api"
    return name


def default_base_url(api: ir.Api) -> str:
    """servers[0] with its variables' defaults substituted ("" when the document has none)."""
    if not api.servers:
        return ""
    server = api.servers[0]
    url = server.url
    for variable in server.variables:
        url = url.replace("{" + variable.name + "}", variable.default)
    return url.rstrip("/")


def server_prefix(api: ir.Api) -> str:
    """The path part of the default server (the stub router's prefix)."""
    return urlparse(default_base_url(api)).path.rstrip("/")


def model_imports(package: str, texts: list[str], exported: set[str]) -> list[str]:
    names = sorted({n for t in texts for n in identifiers(t)} & exported)
    if not names:
        return []
    return [f"from {package}.models import {', '.join(names)}"]


def security_table(plan: OperationPlan, api: ir.Api) -> str:
    schemes = {s.name: s for s in api.security_schemes}
    alternatives: list[str] = []
    for requirement in plan.security:
        items: list[str] = []
        for name, _scopes in requirement:
            scheme = schemes.get(name)
            if scheme is None:
                continue
            detail = (
                f"{scheme.location}:{scheme.parameter_name}"
                if scheme.type == "apiKey"
                else (scheme.scheme or "").lower()
            )
            items.append(f"({name!r}, {scheme.type!r}, {detail!r})")
        alternatives.append("(" + "".join(i + ", " for i in items) + ")")
    return "(" + "".join(a + ", " for a in alternatives) + ")"


class ClientEmitter:
    """Renders errors.py, operations.py and client.py for one planned API."""

    def __init__(
        self, api: ir.Api, package: str, planner: Planner, plans: list[OperationPlan]
    ) -> None:
        self.api = api
        self.package = package
        self.planner = planner
        self.plans = plans
        self.exported = planner.exported
        self.name = api_class_name(api, self.exported)
        self.groups = operation_groups(plans)
        self.group_of = {p.name: module for module, members in self.groups for p in members}

    # --- errors.py ------------------------------------------------------------------------------

    def errors_module(self) -> str:
        lines = [
            BANNER,
            '"""Typed failures of the operations: one ``HTTPStatusError`` subclass per distinct',
            "error body schema, and per operation the alias of everything it can fail with.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *TYPING_HEAD,
            "",
            "import flext_api as _fa",
            "from flext_api import codegen_runtime as _rt",
        ]
        texts = [a for _, a, _ in self.planner.error_classes.values()]
        lines += model_imports(self.package, texts, self.exported)
        lines += ["", ""]
        for name, annotation, kind in sorted(self.planner.error_classes.values()):
            what = {
                "none": "without a body",
                "text": "with a text body",
                "binary": "with a binary body",
            }
            described = what.get(kind, f"whose body is ``{annotation}``")
            lines += [
                f"class {name}(_rt.StatusError[{annotation}]):",
                doc(f"A documented error status {described}.", "    "),
                "",
                "",
            ]
        for plan in self.plans:
            classes = sorted({r.error_class for r in plan.responses if r.error_class})
            members = [*classes, "_rt.UnexpectedStatus", "_fa.DecodingError", "_fa.FlextApiError"]
            lines.append(f"{plan.error_alias}: TypeAlias = {' | '.join(members)}")
            lines.append(f'"""What ``{plan.name}`` can fail with."""')
            lines.append("")
        return "\n".join(lines) + "\n"

    # --- operations.py --------------------------------------------------------------------------

    def operations_module(self) -> str:
        """The public facade: every group's builders, parsers and security tables re-exported
        (importing it imports every group; the clients import only the group they call)."""
        lines = [
            BANNER,
            '"""Pure request builders and response parsers, one pair per operation.',
            "",
            "``build_<op>`` turns typed arguments into ``RequestParts`` (method, encoded path and",
            "query, headers, body) and ``parse_<op>`` turns a ``Response`` into the operation's",
            "``FlextResult``. Neither does I/O: the clients in ``client.py`` only send.",
            "",
            "They are defined in one private module per operation group (``_ops_<tag>``, loaded",
            "by a client on the first call of one of its operations) and re-exported here.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
        ]
        lines += [
            f"from {self.package}.{module} import {name} as {name}"
            for module, members in self.groups
            for plan in members
            for name in (
                f"build_{plan.name}",
                f"parse_{plan.name}",
                f"parse_{plan.name}_with_response",
                f"SECURITY_{plan.name.upper()}",
            )
        ]
        return "\n".join(lines) + "\n"

    def group_modules(self) -> dict[str, str]:
        """``_ops_<group>`` module name -> source: the builders and parsers of that group."""
        return {module: self._group_module(module, members) for module, members in self.groups}

    def _group_module(self, module: str, plans: list[OperationPlan]) -> str:
        texts: list[str] = []
        body: list[str] = []
        for plan in plans:
            body += self._builder(plan)
            body += self._parser(plan)
            texts += [p.annotation for p in plan.params]
            texts += [r.annotation for r in plan.responses] + [plan.ok_annotation]
            if plan.body is not None:
                texts.append(plan.body.annotation)
        names = ", ".join(f"``{p.name}``" for p in plans)
        lines = [
            BANNER,
            f'"""Request builders and response parsers of {names}.',
            "",
            f"Imported by the clients on the first call of one of these operations; public "
            f"through ``{self.package}.operations``.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *TYPING_HEAD,
            "",
            "import msgspec",
            "",
            "import flext_api as _fa",
            "from flext_api import codegen_runtime as _rt",
            f"from {self.package} import errors as _e",
            *model_imports(self.package, texts, self.exported),
            "",
            "",
            *body,
        ]
        return "\n".join(lines) + "\n"

    def _signature(self, plan: OperationPlan, with_defaults: bool = True) -> list[str]:
        """Keyword-only arguments, required first (path, then others), then the body."""
        required: list[str] = []
        optional: list[str] = []
        for p in plan.params:
            if p.param.required:
                required.append(f"{p.arg}: {p.annotation},")
            else:
                optional.append(f"{p.arg}: {_optional(p.annotation)} = None,")
        if plan.body is not None:
            if plan.body.required:
                required.append(f"body: {plan.body.annotation},")
            else:
                optional.append(f"body: {_optional(plan.body.annotation)} = None,")
        return required + optional

    def _builder(self, plan: OperationPlan) -> list[str]:
        op = plan.op
        args = self._signature(plan)
        out = [
            f"def build_{plan.name}(",
            *(["*,", *args] if args else []),
            ") -> _rt.RequestParts:",
        ]
        out.append(doc(f"The request of ``{op.method} {op.path}``.", "    "))
        # Only the containers a request can fill are built (a call allocates nothing else).
        where = {p.param.location for p in plan.params}
        has_headers = bool(where & {"header", "cookie"}) or (
            plan.body is not None and plan.body.kind != "multipart"
        )
        out.append(f"    _path = {op.path!r}")
        if "query" in where:
            out.append("    _query: list[str] = []")
        if has_headers:
            out.append("    _headers: list[tuple[str, str]] = []")
        if "cookie" in where:
            out.append("    _cookies: list[str] = []")
        for p in plan.params:
            out += _param_lines(p)
        content = "None"
        files = "None"
        if plan.body is not None:
            out += _body_lines(plan.body)
            content, files = "_content", "_files"
        if "cookie" in where:
            out.append("    if _cookies:")
            out.append("        _headers.append(('Cookie', _rt.cookie_header(_cookies)))")
        query = "'&'.join(_query)" if "query" in where else "''"
        headers = "tuple(_headers)" if has_headers else "()"
        out.append(
            f"    return _rt.RequestParts({op.method.upper()!r}, _path, {query}, "
            f"{headers}, {content}, {files})"
        )
        out += ["", ""]
        return out

    def _parser(self, plan: OperationPlan) -> list[str]:
        result = f"_fa.FlextResult[{plan.ok_annotation}, _e.{plan.error_alias}]"
        statuses = tuple(r.status for r in plan.responses)
        out = [
            f"def parse_{plan.name}(response: _fa.Response) -> {result}:",
            doc(f"The result of ``{plan.op.method} {plan.op.path}`` from its response.", "    "),
        ]
        if statuses:
            out.append(f"    _key = _rt.match_status(response.status_code, {statuses!r})")
        any_2xx = any(r.error_class is None for r in plan.responses)
        for r in plan.responses:
            out.append(f"    if _key == {r.status!r}:")
            value = _decode_expr(r)
            if r.kind == "json":
                out.append(f"        _decoded = _rt.decode_json(response, {r.annotation})")
                out.append("        if isinstance(_decoded, _fa.DecodingError):")
                out.append("            return _fa.Failure(_decoded)")
                out.append(f"        _body_{_ident(r.status)}: {r.annotation} = _decoded")
                value = f"_body_{_ident(r.status)}"
            if r.error_class is None:
                out.append(f"        return _fa.Success({value})")
            else:
                if r.status == "default" and not any_2xx:
                    out.append("        if 200 <= response.status_code < 300:")
                    out.append("            return _fa.Success(None)")
                out.append(
                    f"        return _fa.Failure(_e.{r.error_class}(f'{plan.op.method} "
                    f"{_brace(plan.op.path)} answered {{response.status_code}}', "
                    f"status_code=response.status_code, response=response, body={value}))"
                )
        if not any_2xx and "default" not in statuses:
            out.append("    if 200 <= response.status_code < 300:")
            out.append("        return _fa.Success(None)")
        out.append(
            "    return _fa.Failure(_rt.UnexpectedStatus("
            f"f'{plan.op.method} {_brace(plan.op.path)}: undocumented status "
            f"{{response.status_code}}', "
            "status_code=response.status_code, response=response, "
            "url=str(response.request.url) if response.request is not None else None))"
        )
        out += [
            "",
            "",
            f"def parse_{plan.name}_with_response(response: _fa.Response) -> "
            f"_fa.FlextResult[_rt.ApiResponse[{plan.ok_annotation}], _e.{plan.error_alias}]:",
            doc("Like ``parse_" + plan.name + "``, with the status code and headers.", "    "),
            f"    result = parse_{plan.name}(response)",
            "    if isinstance(result, _fa.Failure):",
            "        return result",
            "    return _fa.Success(_rt.ApiResponse(result.value, response.status_code, "
            "response.headers))",
            "",
            "",
            f"SECURITY_{plan.name.upper()} = {security_table(plan, self.api)}",
            "",
            "",
        ]
        return out

    # --- client.py ------------------------------------------------------------------------------

    def client_module(self) -> str:
        texts = [p.annotation for plan in self.plans for p in plan.params]
        texts += [plan.ok_annotation for plan in self.plans]
        texts += [plan.body.annotation for plan in self.plans if plan.body is not None]
        async_text = self._client_class()
        sync_text = async_text
        for old, new in _SYNC_REWRITES:
            sync_text = sync_text.replace(old, new)
        base_url = default_base_url(self.api)
        absolute = bool(urlparse(base_url).scheme)
        lines = [
            BANNER,
            f'"""Clients of {_one_line(self.api.title)}: ``Async{self.name}Client`` (asyncio '
            "and trio)",
            f"and ``{self.name}Client`` (blocking), with the same methods and signatures.",
            "",
            "Every method returns a ``FlextResult``; ``<method>_with_response`` also gives the "
            "status",
            "code and headers. The sync class is generated from the async one's text.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *(["import warnings as _warnings"] if any(p.op.deprecated for p in self.plans) else []),
            *TYPING_HEAD,
            "from collections.abc import Callable as _Callable",
            "from collections.abc import Mapping as _Mapping",
            "from collections.abc import Sequence as _Sequence",
            "from types import TracebackType",
            "from typing import TypeVar as _TypeVar",
            "",
            "import flext_api as _fa",
            "from flext_api import codegen_runtime as _rt",
            f"from {self.package} import errors as _e",
            *model_imports(self.package, texts, self.exported),
            "",
            f"DEFAULT_BASE_URL = {base_url!r}",
            '"""The first server of the '
            f'document{"" if absolute else " (relative: pass base_url=)"}."""',
            "",
            '_T = _TypeVar("_T")',
            "",
            "",
            async_text,
            "",
            "",
            sync_text,
        ]
        return "\n".join(lines) + "\n"

    def _credential_args(self) -> list[tuple[str, ir.SecurityScheme, str]]:
        out: list[tuple[str, ir.SecurityScheme, str]] = []
        taken = {"base_url", "client", "timeout", "limits", "http2", "verify", "cert",
                 "middleware", "headers", "self"}  # fmt: skip
        for scheme in sorted(self.api.security_schemes, key=lambda s: s.name):
            arg = snake(scheme.name)
            while arg in taken:
                arg += "_auth"
            taken.add(arg)
            if scheme.type == "apiKey":
                annotation = "_fa.ApiKeyAuth | str | None"
            elif scheme.type == "http" and (scheme.scheme or "").lower() == "basic":
                annotation = "_fa.BasicAuth | tuple[str, str] | None"
            elif scheme.type == "oauth2":
                annotation = "_fa.OAuth2Flow | _fa.BearerAuth | str | None"
            elif scheme.type in ("http", "openIdConnect"):
                annotation = "_fa.BearerAuth | str | None"
            else:
                continue
            out.append((arg, scheme, annotation))
        return out

    def _client_class(self) -> str:
        base_url = default_base_url(self.api)
        absolute = bool(urlparse(base_url).scheme)
        creds = self._credential_args()
        base_arg = "base_url: str = DEFAULT_BASE_URL" if absolute else "base_url: str"
        c: list[str] = [
            f"class Async{self.name}Client:",
            doc(
                f"{_one_line(self.api.title)} {_one_line(self.api.version)}: asynchronous "
                "(asyncio and trio) client.\n\n"
                "Pass ``client=`` to reuse a configured ``AsyncFlextApiClient`` (its base URL and "
                "settings are used as they are); otherwise one is built from ``base_url`` and "
                "the transport settings. Credentials are given per security scheme of the "
                "document; each operation applies the first of its requirements for which every "
                "credential was given. ``cert=`` serves mutual TLS.",
                "    ",
            ),
            "",
            "    def __init__(",
            "        self,",
            f"        {base_arg},",
            "        *,",
            "        client: _fa.AsyncFlextApiClient | None = None,",
            *(f"        {arg}: {annotation} = None," for arg, _, annotation in creds),
            "        timeout: _fa.Timeout | float | None = None,",
            "        limits: _fa.Limits | None = None,",
            "        http2: bool = False,",
            "        verify: bool | str = True,",
            "        cert: str | tuple[str, str] | None = None,",
            "        middleware: _Sequence[_fa.AsyncMiddleware] = (),",
            "        headers: _Mapping[str, str] | None = None,",
            "    ) -> None:",
            "        settings: dict[str, Any] = {'http2': http2, 'verify': verify, "
            "'middleware': middleware}",
            "        if timeout is not None:",
            "            settings['timeout'] = timeout",
            "        if limits is not None:",
            "            settings['limits'] = limits",
            "        if cert is not None:",
            "            settings['cert'] = cert",
            "        if headers is not None:",
            "            settings['headers'] = headers",
            "        self._base_url = base_url",
            "        self._settings = settings",
            "        self._owns_client = client is None",
            "        self._client = client if client is not None else "
            "_fa.AsyncFlextApiClient(base_url=base_url, **settings)",
            "        self._credentials: dict[str, _rt.Credential] = {}",
            "        self._oauth_clients: dict[str, _fa.AsyncFlextApiClient] = {}",
        ]
        for arg, scheme, _ in creds:
            key = scheme.name
            c.append(f"        if {arg} is not None:")
            if scheme.type == "apiKey":
                c.append(
                    f"            self._credentials[{key!r}] = {arg} if isinstance({arg}, "
                    "_fa.ApiKeyAuth) "
                    f"else _fa.ApiKeyAuth({scheme.parameter_name or scheme.name!r}, {arg}, "
                    f"{scheme.location or 'header'!r})"
                )
            elif scheme.type == "http" and (scheme.scheme or "").lower() == "basic":
                c.append(
                    f"            self._credentials[{key!r}] = {arg} if isinstance({arg}, "
                    f"_fa.BasicAuth) else _fa.BasicAuth(*{arg})"
                )
            else:
                c.append(
                    f"            self._credentials[{key!r}] = _fa.BearerAuth({arg}) if "
                    f"isinstance({arg}, str) else {arg}"
                )
        c += [
            "",
            "    async def __aenter__(self) -> Async" + self.name + "Client:",
            "        return self",
            "",
            "    async def __aexit__(",
            "        self,",
            "        exc_type: type[BaseException] | None,",
            "        exc: BaseException | None,",
            "        tb: TracebackType | None,",
            "    ) -> None:",
            "        await self.aclose()",
            "",
            "    async def aclose(self) -> None:",
            '        """Close the connections this client opened (not those of a ``client=`` '
            'given)."""',
            "        for oauth in self._oauth_clients.values():",
            "            await oauth.aclose()",
            "        if self._owns_client:",
            "            await self._client.aclose()",
            "",
            "    async def _send(",
            "        self,",
            "        parts: _rt.RequestParts,",
            "        security: _Sequence[_Sequence[tuple[str, str, str]]],",
            "        timeout: _fa.Timeout | float | None,",
            "        headers: _Mapping[str, str] | None,",
            "        idempotency_key: str | None,",
            "    ) -> _fa.Success[_fa.Response] | _fa.Failure[_fa.FlextApiError]:",
            "        parts, oauth = _rt.apply_security(parts, security, self._credentials)",
            "        client = self._client",
            "        if oauth is not None:",
            "            if oauth not in self._oauth_clients:",
            "                self._oauth_clients[oauth] = _fa.AsyncFlextApiClient(",
            "                    base_url=self._base_url, auth=self._credentials[oauth], "
            "**self._settings",
            "                )",
            "            client = self._oauth_clients[oauth]",
            "        sent: _Sequence[tuple[str, str]] = parts.headers",
            "        if headers or idempotency_key is not None:",
            "            extra = list(sent)",
            "            if headers:",
            "                extra += headers.items()",
            "            if idempotency_key is not None:",
            "                extra.append(('Idempotency-Key', idempotency_key))",
            "            sent = extra",
            "        options: dict[str, Any] = {} if timeout is None else {'timeout': timeout}",
            "        return await client.request(",
            "            parts.method,",
            "            parts.path,",
            "            params=parts.query or None,",
            "            headers=sent,",
            "            content=parts.content,",
            "            files=parts.files,",
            "            **options,",
            "        )",
            "",
            "    async def _call(",
            "        self,",
            "        parse: _Callable[[_fa.Response], _T],",
            "        parts: _rt.RequestParts,",
            "        security: _Sequence[_Sequence[tuple[str, str, str]]],",
            "        timeout: _fa.Timeout | float | None,",
            "        headers: _Mapping[str, str] | None,",
            "        idempotency_key: str | None,",
            "    ) -> _T | _fa.Failure[_fa.FlextApiError]:",
            "        sent = await self._send(parts, security, timeout, headers, idempotency_key)",
            "        if isinstance(sent, _fa.Failure):",
            "            return sent",
            "        return parse(sent.value)",
        ]
        for plan in self.plans:
            c += self._method(plan, with_response=False)
            c += self._method(plan, with_response=True)
        return "\n".join(c)

    def _method(self, plan: OperationPlan, *, with_response: bool) -> list[str]:
        ok = f"_rt.ApiResponse[{plan.ok_annotation}]" if with_response else plan.ok_annotation
        suffix = "_with_response" if with_response else ""
        call_args = [f"{p.arg}={p.arg}" for p in plan.params]
        if plan.body is not None:
            call_args.append("body=body")
        text = plan.doc
        if with_response:
            text = f"``{plan.name}`` with the response's status code and headers."
        warning: list[str] = []
        if plan.op.deprecated:
            text += "\n\nDeprecated: the API document marks this operation deprecated."
            message = (
                f"{plan.name}{suffix}: {plan.op.method} {plan.op.path} is deprecated by the API"
            )
            warning = [
                f"        _warnings.warn({message!r}, DeprecationWarning, stacklevel=2)",
            ]
        return [
            "",
            f"    async def {plan.name}{suffix}(",
            "        self,",
            "        *,",
            *("        " + a for a in self._signature(plan)),
            "        timeout: _fa.Timeout | float | None = None,",
            "        headers: _Mapping[str, str] | None = None,",
            "        idempotency_key: str | None = None,",
            f"    ) -> _fa.FlextResult[{ok}, _e.{plan.error_alias}]:",
            doc(text, "        "),
            *warning,
            f"        import {self.package}.{self.group_of[plan.name]} as _ops",
            "",
            "        return await self._call(",
            f"            _ops.parse_{plan.name}{suffix},",
            f"            _ops.build_{plan.name}({', '.join(call_args)}),",
            f"            _ops.SECURITY_{plan.name.upper()},",
            "            timeout,",
            "            headers,",
            "            idempotency_key,",
            "        )",
        ]


def operation_groups(plans: list[OperationPlan]) -> list[tuple[str, list[OperationPlan]]]:
    """Operations split into lazily imported modules: per first OpenAPI tag (untagged ones
    together), each tag cut into runs of at most ``GROUP_SIZE`` in document order. A module is
    ``_ops_<tag>`` (``_ops_<tag>_<n>`` when the tag needs several; ``_ops_<n>`` untagged)."""
    by_tag: dict[str, list[OperationPlan]] = {}
    for plan in plans:
        by_tag.setdefault(plan.op.tags[0] if plan.op.tags else "", []).append(plan)
    out: list[tuple[str, list[OperationPlan]]] = []
    taken: set[str] = set()
    for tag, members in by_tag.items():
        stem = "_ops_" + snake(tag).rstrip("_") if tag else "_ops"
        chunks = [members[i : i + GROUP_SIZE] for i in range(0, len(members), GROUP_SIZE)]
        for index, chunk in enumerate(chunks, 1):
            name = stem if tag and len(chunks) == 1 else f"{stem}_{index}"
            while name in taken:
                name += "_"
            taken.add(name)
            out.append((name, chunk))
    return out


def _optional(annotation: str) -> str:
    if annotation == "Any" or annotation.endswith("| None") or annotation == "None":
        return annotation
    return f"{annotation} | None"


def _ident(status: str) -> str:
    return status.lower()


def _brace(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}").replace("'", "")


def _one_line(text: str) -> str:
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _decode_expr(r: object) -> str:
    kind = getattr(r, "kind", "none")
    if kind == "text":
        return "response.text"
    if kind == "binary":
        return "response.content"
    return "None"


def _body_lines(b: BodyPlan) -> list[str]:
    out = [
        "    _content: bytes | None = None",
        "    _files: tuple[tuple[str, Any], ...] | None = None",
    ]
    indent = "    "
    if not b.required:
        out.append("    if body is not None:")
        indent = "        "
    if b.kind == "multipart":
        return [*out, f"{indent}_files = _rt.multipart_parts(body)"]
    media = b.media_type + ("; charset=utf-8" if b.kind == "text" else "")
    out.append(f"{indent}_headers.append(('Content-Type', {media!r}))")
    if b.kind == "json":
        out.append(f"{indent}_content = msgspec.json.encode(body)")
    elif b.kind == "form":
        out.append(f"{indent}_content = _rt.encode_form(body)")
    elif b.kind == "text":
        out.append(f"{indent}_content = body.encode()")
    else:
        out.append(f"{indent}_content = body")
    return out


def _param_lines(p: ParamPlan) -> list[str]:
    param = p.param
    value = p.arg
    indent = "    "
    out: list[str] = []
    if not param.required:
        out.append(f"    if {p.arg} is not None:")
        indent = "        "
    if p.content_json:
        value = f"msgspec.json.encode({p.arg}).decode()"
        style, explode = (
            ("simple", False) if param.location in ("path", "header") else ("form", True)
        )
    else:
        style, explode = param.style, param.explode
    name = param.name
    serialized = (
        f"_rt.serialize({name!r}, {value}, {style!r}, {explode!r}"
        + (", allow_reserved=True" if param.allow_reserved else "")
        + ")"
    )
    if param.location == "path":
        out.append(f"{indent}_path = _path.replace({'{' + name + '}'!r}, {serialized})")
    elif param.location == "query":
        out.append(f"{indent}_query.append({serialized})")
    elif param.location == "header":
        out.append(f"{indent}_headers.append(({name!r}, {serialized}))")
    else:
        out.append(f"{indent}_cookies.append({serialized})")
    return out


def spec_json(root: object) -> str:
    return json.dumps(root, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
