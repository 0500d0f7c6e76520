"""The request side of a generated package: ``errors.py`` (typed status errors),
``operations.py`` and the ``_ops_<group>.py`` modules (pure request builders and response
parsers) and ``client.py`` (the async client and its sync twin).

This module turns the per-operation decisions of plan.py into plain data (argument lists,
parameter serialization settings, response cases, credentials); the text is in the templates
``errors.py.jinja``, ``operations.py.jinja``, ``_ops.py.jinja`` and ``client.py.jinja``. It
must never decide a type itself; plan.py does.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from . import ir
from .diagnostics import Diagnostics
from .naming import pascal, snake, words
from .pagination import Pagination, detect
from .plan import BodyPlan, OperationPlan, ParamPlan, Planner, identifiers, media_kind
from .render import Renderer, doc

__all__ = ["ClientEmitter", "doc", "model_imports", "operation_groups", "server_prefix"]

GROUP_SIZE = 16
"""At most this many operations per lazily imported group module (``_ops_<tag>``)."""


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


def model_imports(texts: list[str], exported: set[str]) -> list[str]:
    """The model names the annotations in ``texts`` use (``_model_imports.jinja`` imports them)."""
    return sorted({n for t in texts for n in identifiers(t)} & exported)


def security_table(plan: OperationPlan, api: ir.Api) -> str:
    schemes = {s.name: s for s in api.security_schemes}
    alternatives: list[str] = []
    for requirement in plan.security:
        items: list[str] = []
        for name, _scopes in requirement:
            scheme = schemes.get(name)
            if scheme is None:
                items.append(f"({name!r}, 'unknown', '')")
                continue
            if scheme.type == "apiKey":
                detail = f"{scheme.location}:{scheme.parameter_name}"
            elif scheme.type in ("oauth2", "openIdConnect"):
                detail = " ".join(_scopes)
            else:
                detail = (scheme.scheme or "").lower()
            items.append(f"({name!r}, {scheme.type!r}, {detail!r})")
        alternatives.append("(" + "".join(i + ", " for i in items) + ")")
    return "(" + "".join(a + ", " for a in alternatives) + ")"


class ClientEmitter:
    """Renders errors.py, operations.py, the group modules and client.py of one planned API."""

    def __init__(
        self,
        api: ir.Api,
        package: str,
        planner: Planner,
        plans: list[OperationPlan],
        renderer: Renderer | None = None,
        *,
        diagnostics: Diagnostics | None = None,
    ) -> None:
        self.api = api
        self.package = package
        self.planner = planner
        self.plans = plans
        self.renderer = renderer or Renderer()
        self.exported = planner.exported
        self.name = api_class_name(api, self.exported)
        self.groups = operation_groups(plans)
        self.group_of = {p.name: module for module, members in self.groups for p in members}
        found = Diagnostics() if diagnostics is None else diagnostics
        self.pagination: dict[str, Pagination] = {
            plan.name: rule for plan in plans if (rule := detect(plan, planner, found)) is not None
        }

    # --- errors.py ------------------------------------------------------------------------------

    def errors_data(self) -> dict[str, Any]:
        texts = [a for _, a, _ in self.planner.error_classes.values()]
        what = {
            "none": "without a body",
            "text": "with a text body",
            "binary": "with a binary body",
        }
        classes = [
            {
                "name": name,
                "annotation": annotation,
                "described": what.get(kind, f"whose body is ``{annotation}``"),
            }
            for name, annotation, kind in sorted(self.planner.error_classes.values())
        ]
        aliases = []
        for plan in self.plans:
            own = sorted({r.error_class for r in plan.responses if r.error_class})
            members = [*own, "_rt.UnexpectedStatus", "_fa.DecodingError", "_fa.FlextApiError"]
            aliases.append({"name": plan.error_alias, "operation": plan.name, "members": members})
        return {
            "package": self.package,
            "model_names": model_imports(texts, self.exported),
            "error_classes": classes,
            "aliases": aliases,
        }

    def errors_module(self) -> str:
        return self.renderer.render("errors.py.jinja", self.errors_data())

    # --- operations.py and the group modules -----------------------------------------------------

    def operations_module(self) -> str:
        """The public facade: every group's builders, parsers and security tables re-exported
        (importing it imports every group; the clients import only the group they call)."""
        exports = [
            (module, name)
            for module, members in self.groups
            for plan in members
            for name in (
                f"build_{plan.name}",
                f"parse_{plan.name}",
                f"parse_{plan.name}_with_response",
                f"SECURITY_{plan.name.upper()}",
                *((f"PAGINATION_{plan.name.upper()}",) if plan.name in self.pagination else ()),
            )
        ]
        return self.renderer.render("operations.py.jinja", package=self.package, exports=exports)

    def group_modules(self) -> dict[str, str]:
        """``_ops_<group>`` module name -> source: the builders and parsers of that group."""
        return {
            module: self.renderer.render("_ops.py.jinja", self.group_data(members))
            for module, members in self.groups
        }

    def group_data(self, plans: list[OperationPlan]) -> dict[str, Any]:
        texts: list[str] = []
        for plan in plans:
            texts += [p.annotation for p in plan.params]
            texts += [r.annotation for r in plan.responses] + [plan.ok_annotation]
            if plan.body is not None:
                texts.append(plan.body.signature_annotation)
        return {
            "package": self.package,
            "names": ", ".join(f"``{p.name}``" for p in plans),
            "model_names": model_imports(texts, self.exported),
            "operations": [self.operation_data(plan) for plan in plans],
        }

    def operation_data(self, plan: OperationPlan) -> dict[str, Any]:
        """What the builder and the parsers of one operation need."""
        op = plan.op
        where = {p.param.location for p in plan.params}
        # Only the containers a request can fill are built (a call allocates nothing else).
        has_headers = bool(where & {"header", "cookie"}) or (
            plan.body is not None and plan.body.kind != "multipart"
        )
        body = None
        if plan.body is not None:
            b = plan.body
            body = {
                **_body_data(b),
                "required": b.required,
                "alternatives": [_body_data(a) for a in b.alternatives],
                "offered": {a.media_type: a.kind for a in (b, *b.alternatives)},
                "media_arg": b.media_arg,
            }
            has_headers = has_headers or bool(b.alternatives)
        has_headers = has_headers or bool(plan.accept)
        return {
            "name": plan.name,
            "method": op.method,
            "path": op.path,
            "braced_path": _brace(op.path),
            "locations": sorted(where),
            "has_headers": has_headers,
            "args": signature(plan),
            "params": [_param_data(p) for p in plan.params],
            "body": body,
            "accept": plan.accept,
            "accept_arg": plan.accept_arg,
            "statuses": tuple(r.status for r in plan.responses),
            "any_2xx": any(r.error_class is None for r in plan.responses),
            "responses": [
                {
                    "status": r.status,
                    "kind": r.kind,
                    "annotation": r.annotation,
                    "error_class": r.error_class,
                    "value": _decode_expr(r.kind),
                    "raw_media": r.raw_media,
                }
                for r in plan.responses
            ],
            "ok_annotation": plan.ok_annotation,
            "error_alias": plan.error_alias,
            "security": security_table(plan, self.api),
            "pagination": _rule_literal(self.pagination.get(plan.name)),
        }

    # --- client.py ------------------------------------------------------------------------------

    def client_data(self) -> dict[str, Any]:
        """One data model for both clients: ``client.py.jinja`` renders its class twice, with
        ``is_async`` true and false."""
        texts = [p.annotation for plan in self.plans for p in plan.params]
        texts += [plan.ok_annotation for plan in self.plans]
        texts += [plan.body.signature_annotation for plan in self.plans if plan.body is not None]
        texts += [rule.item_annotation for rule in self.pagination.values()]
        base_url = default_base_url(self.api)
        return {
            "package": self.package,
            "name": self.name,
            "title": _one_line(self.api.title),
            "version": _one_line(self.api.version),
            "base_url": base_url,
            "absolute": bool(urlparse(base_url).scheme),
            "deprecated": any(p.op.deprecated for p in self.plans),
            "model_names": model_imports(texts, self.exported),
            "credentials": self._credential_args(),
            "methods": [
                self._method(plan, with_response=with_response)
                for plan in self.plans
                for with_response in (False, True)
            ],
            "overloads": any(p.raw_overloads for p in self.plans),
            "event_methods": [
                {
                    **self._method(plan, with_response=False),
                    "doc": f"The events of ``{plan.op.method} {plan.op.path}`` "
                    "(text/event-stream), as ``client.sse`` gives them: reconnects with "
                    "``Last-Event-ID`` when the connection drops; a ``204`` ends the stream.",
                }
                for plan in self.plans
                if plan.events
            ],
            "paginated": [
                self._paginated(plan, self.pagination[plan.name])
                for plan in self.plans
                if plan.name in self.pagination
            ],
        }

    def _paginated(self, plan: OperationPlan, rule: Pagination) -> dict[str, Any]:
        method = self._method(plan, with_response=False)
        what = f"``{plan.op.method} {plan.op.path}``"
        limits = "``max_items`` and ``max_pages`` stop it earlier."
        method["doc"] = (
            f"Every item of {what}, page after page (pagination rule: {rule.rule}).\n\n"
            "Pages are fetched as the iteration reaches them. Each item comes as a "
            "``Success``; a page that fails is yielded as its ``Failure`` and ends the "
            f"iteration. It stops on the last page; {limits}"
        )
        method["item"] = rule.item_annotation
        return method

    def client_module(self) -> str:
        return self.renderer.render("client.py.jinja", self.client_data())

    def testing_module(self) -> str:
        """``testing.py``: ``mock_client``/``mock_async_client`` on ``flext_api.testing``."""
        base_url = default_base_url(self.api)
        path = urlparse(base_url).path.rstrip("/") if urlparse(base_url).scheme else (
            base_url.rstrip("/"))  # fmt: skip
        mock_base_url = "http://mock.test" + (
            path if path.startswith("/") or not path else f"/{path}"
        )
        data = {
            "package": self.package,
            "name": self.name,
            "title": _one_line(self.api.title),
            "mock_base_url": repr(mock_base_url),
        }
        return self.renderer.render("testing.py.jinja", data)

    def _credential_args(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        taken = {"base_url", "client", "timeout", "limits", "http2", "verify", "cert",
                 "middleware", "headers", "self"}  # fmt: skip
        for scheme in sorted(self.api.security_schemes, key=lambda s: s.name):
            arg = snake(scheme.name)
            while arg in taken:
                arg += "_auth"
            taken.add(arg)
            if scheme.type == "apiKey":
                kind, annotation = "apiKey", "_fa.ApiKeyAuth | str | None"
            elif scheme.type == "http" and (scheme.scheme or "").lower() == "basic":
                kind, annotation = "basic", "_fa.BasicAuth | tuple[str, str] | None"
            elif scheme.type == "oauth2":
                kind, annotation = "bearer", "_fa.OAuth2Flow | _fa.BearerAuth | str | None"
            elif scheme.type in ("http", "openIdConnect"):
                kind, annotation = "bearer", "_fa.BearerAuth | str | None"
            else:
                continue
            out.append(
                {
                    "arg": arg,
                    "key": scheme.name,
                    "kind": kind,
                    "annotation": annotation,
                    "parameter_name": scheme.parameter_name or scheme.name,
                    "location": scheme.location or "header",
                }
            )
        return out

    def _method(self, plan: OperationPlan, *, with_response: bool) -> dict[str, Any]:
        suffix = "_with_response" if with_response else ""
        call_args = [f"{p.arg}={p.arg}" for p in plan.params]
        if plan.body is not None:
            call_args.append("body=body")
            if plan.body.alternatives:
                call_args.append(f"{plan.body.media_arg}={plan.body.media_arg}")
        if plan.accept:
            call_args.append(f"{plan.accept_arg}={plan.accept_arg}")
        text = plan.doc
        if with_response:
            text = f"``{plan.name}`` with the response's status code and headers."
        if plan.op.deprecated:
            text += "\n\nDeprecated: the API document marks this operation deprecated."
        warning = f"{plan.name}{suffix}: {plan.op.method} {plan.op.path} is deprecated by the API"
        return {
            "name": plan.name,
            "suffix": suffix,
            "args": signature(plan),
            "ok": (
                # ApiResponse is invariant: the overloads say which body the call gives
                f"_rt.ApiResponse[{'Any' if plan.raw_overloads else plan.ok_annotation}]"
                if with_response
                else plan.ok_annotation
            ),
            "error_alias": plan.error_alias,
            "doc": text,
            "deprecated": plan.op.deprecated,
            "warning": warning,
            "group": self.group_of[plan.name],
            "call_args": ", ".join(call_args),
            "overloads": _overloads(plan, with_response=with_response),
        }


def _rule_literal(rule: Pagination | None) -> str | None:
    """The ``PageRule(...)`` expression a group module defines (``None``: not paginated)."""
    if rule is None:
        return None
    fields = [f"{rule.style!r}", f"items={rule.items!r}"]
    named = (("param", rule.param), ("size", rule.size), ("item_key", rule.item_key))
    fields += [f"{name}={value!r}" for name, value in named if value]
    if rule.source:
        fields.append(f"source={rule.source!r}")
    return f"_pg.PageRule({', '.join(fields)})"


def signature(plan: OperationPlan) -> list[dict[str, Any]]:
    """Keyword-only arguments, required first (path, then others), then the body; an optional
    one is ``T | None = None``."""
    required: list[dict[str, Any]] = []
    optional: list[dict[str, Any]] = []
    for p in plan.params:
        if p.param.required:
            required.append({"arg": p.arg, "annotation": p.annotation, "optional": False})
        else:
            optional.append({"arg": p.arg, "annotation": _optional(p.annotation), "optional": True})
    if plan.body is not None:
        body = plan.body.signature_annotation
        if plan.body.required:
            required.append({"arg": "body", "annotation": body, "optional": False})
        else:
            optional.append({"arg": "body", "annotation": _optional(body), "optional": True})
        if plan.body.alternatives:
            # several request media types: the caller picks one (default: the first)
            offered = [plan.body.media_type] + [a.media_type for a in plan.body.alternatives]
            annotation = "Literal[" + ", ".join(repr(m) for m in offered) + "] | None"
            optional.append(
                {"arg": plan.body.media_arg, "annotation": annotation, "optional": True}
            )
    if plan.accept:
        # several response media types: the caller picks one (default: the first JSON one)
        annotation = "Literal[" + ", ".join(repr(m) for m in plan.accept) + "] | None"
        optional.append({"arg": plan.accept_arg, "annotation": annotation, "optional": True})
    return required + optional


def _overloads(plan: OperationPlan, *, with_response: bool) -> list[dict[str, Any]]:
    """Typed by ``accept``: a JSON media type (or none) gives the JSON type, another one
    ``RawBody`` (only when that is exactly what the parser returns for it)."""
    if not plan.raw_overloads:
        return []
    out: list[dict[str, Any]] = []
    args = [a for a in signature(plan) if a["arg"] != plan.accept_arg]
    for is_json in (True, False):
        picked = [m for m in plan.accept if (media_kind(m) == "json") == is_json]
        literal = "Literal[" + ", ".join(repr(m) for m in picked) + "]"
        accept = {
            "arg": plan.accept_arg,
            "annotation": f"{literal} | None" if is_json else literal,
            "optional": is_json,
        }
        ok = plan.ok_json if is_json else "_rt.RawBody"
        out.append(
            {"args": [*args, accept], "ok": f"_rt.ApiResponse[{ok}]" if with_response else ok}
        )
    return out


def _body_data(b: BodyPlan) -> dict[str, Any]:
    """How the builder encodes a body in one media type."""
    return {
        "kind": b.kind,
        "media_type": b.media_type,
        "media": b.media_type + ("; charset=utf-8" if b.kind == "text" else ""),
        "part_types": dict(b.part_types),
        "base64": b.base64,
        "base64_parts": b.base64_parts,
    }


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


def _brace(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}").replace("'", "")


def _one_line(text: str) -> str:
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _decode_expr(kind: str) -> str:
    if kind == "text":
        return "response.text"
    if kind == "binary":
        return "response.content"
    return "None"


def _param_data(p: ParamPlan) -> dict[str, Any]:
    """How the builder serializes one parameter (``_rt.serialize`` arguments and target)."""
    param = p.param
    value = p.arg
    if p.content_json:
        value = f"msgspec.json.encode({p.arg}).decode()"
        style, explode = (
            ("simple", False) if param.location in ("path", "header") else ("form", True)
        )
    else:
        style, explode = param.style, param.explode
    return {
        "arg": p.arg,
        "name": param.name,
        "location": param.location,
        "required": param.required,
        "value": value,
        "style": style,
        "explode": explode,
        "allow_reserved": param.allow_reserved,
        # header values are not URI components: never percent-encoded
        "header": param.location == "header" and not p.content_json,
    }


def spec_json(root: object) -> str:
    return json.dumps(root, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
