"""Emit ``stubs.py`` of a generated package: FastAPI-compatible server stubs (G21).

A typed handler ``Protocol`` (one async method per operation, the same argument names and
types as the clients) and ``make_router``/``make_app``, whose routes parse every parameter
style and body from the raw ``Request`` with the same msgspec models (FastAPI's own parameter
handling is pydantic-based and has no deepObject, matrix or label styles), check that the
credentials a security requirement needs are present (401 otherwise), answer invalid input with
a 422 naming the bad field, and serve the source document at ``/openapi.json``. This module only
turns plan.py's decisions into data; the text is in ``templates/stubs.py.jinja`` (and its static
helpers in ``templates/_stub_helpers.jinja``).
"""

from __future__ import annotations

from typing import Any

from . import ir
from .checks import CheckPlanner
from .clients import model_imports, server_prefix
from .plan import BodyPlan, OperationPlan, ParamPlan, Planner
from .render import Renderer


class StubEmitter:
    def __init__(
        self,
        api: ir.Api,
        package: str,
        planner: Planner,
        plans: list[OperationPlan],
        name: str,
        *,
        renderer: Renderer | None = None,
    ) -> None:
        self.api = api
        self.package = package
        self.planner = planner
        self.plans = plans
        self.name = name
        self.renderer = renderer or Renderer()
        self.checks = CheckPlanner(api, planner.models)

    def module(self) -> str:
        return self.renderer.render("stubs.py.jinja", self.module_data())

    def module_data(self) -> dict[str, Any]:
        """What ``stubs.py.jinja`` renders: the handler Protocol and one route per operation."""
        texts = [p.annotation for plan in self.plans for p in plan.params]
        texts += [plan.ok_annotation for plan in self.plans]
        texts += [plan.body.signature_annotation for plan in self.plans if plan.body is not None]
        texts += [e for e in map(_documented_error, self.plans) if e is not None]
        for status in ("401", "415", "500"):
            texts += [e for p in self.plans if (e := _documented_error(p, status)) is not None]
        texts += list(document_errors(self.plans).values())
        return {
            "package": self.package,
            "name": self.name,
            "title": self.api.title.strip() or "API",
            "prefix": server_prefix(self.api),
            "media_types": self._media_types(),
            "checks": self.checks.table(),
            "model_names": model_imports(texts, self.planner.exported),
            "operations": [self._operation(plan) for plan in self.plans],
            "document_errors_text": "{"
            + ", ".join(f"{k}: {v}" for k, v in document_errors(self.plans).items())
            + "}",
        }

    def _media_types(self) -> tuple[str, ...]:
        found = {
            c.media_type.split(";", 1)[0].strip().lower()
            for op in self.api.operations
            if op.body is not None
            for c in op.body.contents
        }
        return tuple(sorted(found)) or ("application/json",)

    def _operation(self, plan: OperationPlan) -> dict[str, Any]:
        op = plan.op
        args = [
            {"arg": p.arg, "annotation": _maybe(p.annotation, p.param.required)}
            for p in plan.params
        ]
        call = [f"{p.arg}={p.arg}" for p in plan.params]
        body = None
        if plan.body is not None:
            b = plan.body
            signature = _maybe(b.signature_annotation, b.required)
            args.append({"arg": "body", "annotation": signature})
            call.append("body=body")
            body = {
                **self._body(plan, b),
                "signature": signature,
                "alternatives": [self._body(plan, a) for a in b.alternatives],
                "accepted": _accepted(op),
            }
        default = next(
            (
                int(r.status)
                for r in plan.responses
                if r.status.isdigit() and r.status.startswith("2")
            ),
            200,
        )
        return {
            "name": plan.name,
            "method": op.method,
            "path": op.path,
            "doc": plan.doc,
            "ok_annotation": plan.ok_annotation,
            "args": args,
            "locations": sorted({p.param.location for p in plan.params}),
            "params": [self._param(plan, p) for p in plan.params],
            "body": body,
            "call": ", ".join(call),
            "error": _documented_error(plan),
            "error401": _documented_error(plan, "401"),
            "error415": _documented_error(plan, "415"),
            "error500": _documented_error(plan, "500"),
            "default_status": default,
            "documented": {r.status: (r.kind, r.media_type) for r in plan.responses},
        }

    def _body(self, plan: OperationPlan, b: BodyPlan) -> dict[str, Any]:
        """How a route reads a body in one media type."""
        return {
            "kind": b.kind,
            "media_type": b.media_type.lower(),
            "annotation": _maybe(b.annotation, b.required),
            "required": b.required,
            "node": self.checks.node(self.checks.body_type(plan.op, b.media_type)),
            "arrays": sorted(self._array_fields(plan)),
            "base64": b.base64,
        }

    def _param(self, plan: OperationPlan, p: ParamPlan) -> dict[str, Any]:
        """How a route reads one parameter: its style, shape, and for an exploded object in the
        query or cookies, the names of the operation's other parameters there (not its keys)."""
        param = p.param
        style, explode = param.style, param.explode
        if p.content_json:
            style, explode = (
                ("simple", False) if param.location in ("path", "header") else ("form", True)
            )
        siblings = {q.param.name for q in plan.params if q.param.location == param.location}
        t = param.content[0].type if param.content and param.content[0].type else param.type
        return {
            "arg": p.arg,
            "name": param.name,
            "location": param.location,
            "annotation": _maybe(p.annotation, param.required),
            "required": param.required,
            "content_json": p.content_json,
            "style": style,
            "explode": explode,
            "shape": "primitive" if p.content_json else p.shape,
            # a header value is read as sent: never percent-decoded (nor refused for a ``%``)
            "header": param.location == "header" and not p.content_json,
            "others": sorted(siblings - {param.name}),
            "node": self.checks.node(t),
        }

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


def _documented_error(plan: OperationPlan, status: str = "422") -> str | None:
    """The JSON body type the document gives a refusal ``status`` of the operation (or its
    range, ``4XX``/``5XX``, or ``default``): the stub answers that refusal in it."""
    return next(
        (
            r.annotation
            for status in (status, f"{status[0]}XX", "default")
            for r in plan.responses
            if r.status == status and r.kind == "json" and r.annotation not in ("Any", "None")
        ),
        None,
    )


def document_errors(plans: list[OperationPlan]) -> dict[int, str]:
    """The error body types of refusals that belong to no single operation (an unknown path:
    404, a method a path does not take: 405): for each, the first operation's documented
    schema for that status, else for its range, else its ``default``."""
    out: dict[int, str] = {}
    for status in ("404", "405"):
        for key in (status, f"{status[0]}XX", "default"):
            found = next(
                (
                    r.annotation
                    for plan in plans
                    for r in plan.responses
                    if r.status == key and r.kind == "json" and r.annotation not in ("Any", "None")
                ),
                None,
            )
            if found is not None:
                out[int(status)] = found
                break
    return out


def _accepted(op: ir.Operation) -> tuple[str, ...]:
    contents = op.body.contents if op.body is not None else ()
    return tuple(sorted({c.media_type.split(";", 1)[0].strip().lower() for c in contents}))


def _maybe(annotation: str, required: bool) -> str:
    if required or annotation in ("Any", "None") or annotation.endswith("| None"):
        return annotation
    return f"{annotation} | None"
