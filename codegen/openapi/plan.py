"""Per-operation decisions shared by the client and stub emitters: Python argument names and
annotations, the parameter shapes (primitive / array / object), the request body kind, the
success and error response types, and one error class per distinct error schema.

It reads the IR and the model emitter (for annotations) and never emits code itself, so the
client and the stub cannot disagree about a name or a type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from . import ir
from .models import ModelEmitter
from .naming import NameRegistry, pascal, snake

BodyKind = str  # "json" | "form" | "multipart" | "binary" | "text"
# Names every generated method already takes; a parameter named like one is renamed.
RESERVED_ARGS = frozenset(
    {
        "self",
        "body",
        "timeout",
        "headers",
        "idempotency_key",
        "request",
        "response",
        "cls",
        "handlers",
        "router",
        "prefix",
    }
)


@dataclass(frozen=True, slots=True)
class ParamPlan:
    param: ir.Parameter
    arg: str
    annotation: str
    shape: str  # primitive | array | object
    content_json: bool  # a ``content``-encoded parameter (JSON text)


@dataclass(frozen=True, slots=True)
class BodyPlan:
    kind: BodyKind
    media_type: str
    annotation: str
    required: bool
    # multipart: the ``encoding.contentType`` the document gives a property (wire name -> type)
    part_types: tuple[tuple[str, str], ...] = ()
    # ``format: byte`` content travels as base64 text (the OpenAPI data-type table: "base64
    # encoded characters"); the caller passes the raw bytes. ``base64`` is the whole body,
    # ``base64_parts`` the multipart properties (wire names) so described.
    base64: bool = False
    base64_parts: tuple[str, ...] = ()
    # the other request media types the operation offers (the caller picks one with
    # ``media_arg``); the body argument's type is the union of all their annotations
    alternatives: tuple[BodyPlan, ...] = ()
    media_arg: str = "request_media_type"

    @property
    def signature_annotation(self) -> str:
        return _union([self.annotation, *(a.annotation for a in self.alternatives)])


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    status: str
    kind: str  # json | text | binary | none
    media_type: str | None
    annotation: str
    error_class: str | None  # None for a success response
    # a JSON success response also documented in other media types (XML, CSV...): those
    # arrive as ``RawBody`` (bytes with their media type), and ``annotation`` says so
    raw_media: tuple[str, ...] = ()

    @property
    def result_annotation(self) -> str:
        """What a caller gets for this response (``annotation`` is what JSON decodes into)."""
        if not self.raw_media or self.annotation == "Any":
            return self.annotation
        return _union([self.annotation, "_rt.RawBody"])


@dataclass(frozen=True, slots=True)
class OperationPlan:
    op: ir.Operation
    name: str
    pascal: str
    params: tuple[ParamPlan, ...]
    body: BodyPlan | None
    responses: tuple[ResponsePlan, ...]
    ok_annotation: str
    error_alias: str
    security: tuple[ir.SecurityRequirement, ...]
    # a success response is ``text/event-stream``: the clients add ``<name>_events``
    events: bool = False
    # several success media types: the caller picks one (sent as ``Accept``), by this argument
    accept: tuple[str, ...] = ()
    accept_arg: str = "accept"
    # the success type when the answer is JSON (``ok_annotation`` adds ``RawBody``)
    ok_json: str = "None"

    @property
    def raw_overloads(self) -> bool:
        """Whether ``accept`` picks the result type: JSON types give ``ok_json``, the others
        ``RawBody`` (every success response with a body is JSON documented in them too)."""
        json_types = [m for m in self.accept if media_kind(m) == "json"]
        others = {m.lower() for m in self.accept if media_kind(m) != "json"}
        success = [r for r in self.responses if r.error_class is None and r.kind != "none"]
        return bool(json_types and others and success) and all(
            r.kind == "json" and others <= set(r.raw_media) for r in success
        )

    @property
    def doc(self) -> str:
        parts = [p for p in (self.op.summary, self.op.description) if p]
        return "\n\n".join(parts) or f"{self.op.method} {self.op.path}"


def is_event_stream(media_type: str) -> bool:
    return media_type.split(";", maxsplit=1)[0].strip().lower() == "text/event-stream"


def media_kind(media_type: str) -> str:
    """How a media type travels: json, form, multipart, text or binary."""
    base = media_type.split(";", maxsplit=1)[0].strip().lower()
    if base == "application/json" or base.endswith("+json"):
        return "json"
    if base == "application/x-www-form-urlencoded":
        return "form"
    if base.startswith("multipart/"):
        return "multipart"
    if base.startswith("text/") and base != "text/event-stream":
        return "text"
    return "binary"


_BODY_PREFERENCE = ("json", "form", "multipart", "binary", "text")


class Planner:
    """Plans every operation of one API against one model emitter."""

    def __init__(self, api: ir.Api, models: ModelEmitter, exported: set[str]) -> None:
        self.api = api
        self.models = models
        self.exported = exported
        self.errors = NameRegistry(set(exported))
        self.error_classes: dict[str, tuple[str, str, str]] = {}  # key -> (name, annotation, kind)
        self.schemes = {s.name: s for s in api.security_schemes}

    def plan_all(self) -> list[OperationPlan]:
        return [self._plan(op) for op in self.api.operations]

    def render(self, t: ir.TypeExpr | None) -> str:
        return "Any" if t is None else self.models.render(t)

    def shape(self, t: ir.TypeExpr) -> str:
        seen: set[str] = set()
        while True:
            if isinstance(t, ir.Nullable):
                t = t.inner
            elif isinstance(t, ir.Ref) and t.id not in seen:
                seen.add(t.id)
                definition = self.api.definitions.get(t.id)
                if isinstance(definition, ir.AliasModel):
                    t = definition.target
                elif isinstance(definition, ir.SchemaModel):
                    return "object"
                else:
                    return "primitive"
            elif isinstance(t, ir.ArrayOf):
                return "array"
            elif isinstance(t, ir.MapOf):
                return "object"
            else:
                return "primitive"

    def _params(self, op: ir.Operation) -> tuple[ParamPlan, ...]:
        names = NameRegistry(set(RESERVED_ARGS))
        out: list[ParamPlan] = []
        ordered = sorted(op.parameters, key=lambda p: not p.required)
        for p in ordered:
            content_json = bool(p.content)
            t = p.content[0].type if p.content and p.content[0].type is not None else p.type
            annotation = self.render(t)
            out.append(
                ParamPlan(
                    p, names.claim(snake(p.python_name)), annotation, self.shape(t), content_json
                )
            )
        return tuple(out)

    def _body(self, op: ir.Operation, taken: set[str]) -> BodyPlan | None:
        if op.body is None or not op.body.contents:
            return None
        contents = sorted(
            op.body.contents, key=lambda c: _BODY_PREFERENCE.index(media_kind(c.media_type))
        )
        plans: list[BodyPlan] = []
        for content in contents:
            plan = self._body_content(op.body, content)
            if plan.media_type not in {p.media_type for p in plans}:
                plans.append(plan)
        if len(plans) == 1:
            return plans[0]
        media_arg = NameRegistry(taken).claim("request_media_type")
        return replace(plans[0], alternatives=tuple(plans[1:]), media_arg=media_arg)

    def _body_content(self, body: ir.Body, chosen: ir.MediaContent) -> BodyPlan:
        kind = media_kind(chosen.media_type)
        if kind in ("form", "multipart") and (
            chosen.type is None or self.shape(chosen.type) != "object"
        ):
            kind = "binary" if kind == "multipart" else "json"
        if kind == "binary":
            annotation = "bytes"
        elif kind == "text":
            annotation = "str"
        else:
            annotation = self.render(chosen.type)
        part_types = tuple(
            (prop, enc.content_type.split(",")[0].strip())
            for prop, enc in chosen.encoding
            # a wildcard (``image/*``) names no type a part can carry
            if kind == "multipart" and enc.content_type and "*" not in enc.content_type
        )
        base64_parts: tuple[str, ...] = ()
        if kind == "multipart" and chosen.type is not None:
            base64_parts = tuple(
                f.wire_name for f in self._fields(chosen.type) if self._is_byte(f.type)
            )
        return BodyPlan(
            kind,
            chosen.media_type.split(";")[0].strip(),
            annotation,
            body.required,
            part_types,
            base64=kind == "binary" and chosen.type is not None and self._is_byte(chosen.type),
            base64_parts=base64_parts,
        )

    def resolve(self, t: ir.TypeExpr) -> ir.TypeExpr | ir.Definition | None:
        """``t`` without nullability and aliases (pagination and the planners share it)."""
        return self._resolve(t)

    def fields(self, t: ir.TypeExpr) -> tuple[ir.Field, ...]:
        """An object's properties, its bases' included (empty for anything else)."""
        return self._fields(t)

    def _resolve(self, t: ir.TypeExpr) -> ir.TypeExpr | ir.Definition | None:
        """``t`` without nullability and aliases: a definition or a non-reference type."""
        seen: set[str] = set()
        while True:
            if isinstance(t, ir.Nullable):
                t = t.inner
            elif isinstance(t, ir.Ref) and t.id not in seen:
                seen.add(t.id)
                definition = self.api.definitions.get(t.id)
                if not isinstance(definition, ir.AliasModel):
                    return definition
                t = definition.target
            else:
                return t

    def _is_byte(self, t: ir.TypeExpr) -> bool:
        """``type: string, format: byte`` (or an array of it): base64 text on the wire."""
        resolved = self._resolve(t)
        if isinstance(resolved, ir.ArrayOf):
            resolved = self._resolve(resolved.item)
        return isinstance(resolved, ir.Primitive) and resolved.kind == "bytes"

    def _is_binary(self, t: ir.TypeExpr | None) -> bool:
        """The whole body is ``type: string, format: binary``: octets, not JSON."""
        if t is None:
            return False
        resolved = self._resolve(t)
        return isinstance(resolved, ir.Primitive) and resolved.kind == "binary"

    def _fields(self, t: ir.TypeExpr) -> tuple[ir.Field, ...]:
        # An object's properties, its bases' included (a subclass Struct inherits them).
        out: list[ir.Field] = []
        resolved = self._resolve(t)
        seen: set[str] = set()
        while isinstance(resolved, ir.SchemaModel) and resolved.id not in seen:
            seen.add(resolved.id)
            out += resolved.fields
            resolved = self.api.definitions.get(resolved.base) if resolved.base else None
        return tuple(out)

    def _response(self, op: ir.Operation, response: ir.Response) -> ResponsePlan:
        success = response.status.startswith("2")
        kind, media, annotation = "none", None, "None"
        # A 204, a 304 and any answer to HEAD have no body (RFC 9110), whatever schema the
        # document attaches: decoding one would fail on the empty content.
        if response.contents and not _bodiless(op.method, response.status):
            ordered = sorted(
                response.contents, key=lambda c: _RESPONSE_ORDER[media_kind(c.media_type)]
            )
            chosen = ordered[0]
            media = chosen.media_type.split(";")[0].strip()
            kind = media_kind(media)
            if kind in ("form", "multipart"):
                kind = "binary"
            if kind == "json" and self._is_binary(chosen.type):
                # `type: string, format: binary` is the body's own octets (docker's logs are a
                # raw stream whatever the document's `produces` says), never a JSON string;
                # served under another media type the response lists, else as octets.
                kind = "binary"
                media = next(
                    (
                        m
                        for c in ordered
                        if media_kind(m := c.media_type.split(";")[0].strip()) != "json"
                    ),
                    "application/octet-stream",
                )
            annotation = (
                self.render(chosen.type) if kind == "json" else "str" if kind == "text" else "bytes"
            )
            if kind == "json" and annotation == "None":
                kind = "none"
        raw_media: tuple[str, ...] = ()
        if success and kind == "json":
            raw_media = tuple(
                dict.fromkeys(
                    c.media_type.split(";")[0].strip().lower()
                    for c in response.contents
                    if media_kind(c.media_type) != "json" and not is_event_stream(c.media_type)
                )
            )
        error = None if success else self._error_class(annotation, kind, response, op)
        return ResponsePlan(response.status, kind, media, annotation, error, raw_media)

    def _error_class(
        self, annotation: str, kind: str, response: ir.Response, op: ir.Operation
    ) -> str:
        key = f"{kind}:{annotation}"
        if key not in self.error_classes:
            if kind == "none":
                base = "NoBody"
            elif kind == "text":
                base = "TextBody"
            elif kind == "binary":
                base = "BinaryBody"
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", annotation) and annotation != "Any":
                base = annotation.removesuffix("Error") or "Api"
            elif annotation == "Any":
                base = "Untyped"
            else:
                base = pascal(f"{op.python_name}_{response.status}")
            name = self.errors.claim(base + "Error")
            self.error_classes[key] = (name, annotation, kind)
        return self.error_classes[key][0]

    def _plan(self, op: ir.Operation) -> OperationPlan:
        responses = tuple(self._response(op, r) for r in op.responses)
        ok: list[str] = []
        ok_json: list[str] = []
        for r in responses:
            if r.error_class is None and r.result_annotation not in ok:
                ok.append(r.result_annotation)
            if r.error_class is None and r.annotation not in ok_json:
                ok_json.append(r.annotation)
        if not ok:
            ok = ["None"]
        name_pascal = pascal(op.python_name)
        alias = self.errors.claim(f"{name_pascal}Error")
        security = op.security if op.security is not None else self.api.security
        params = self._params(op)
        taken = set(RESERVED_ARGS) | {p.arg for p in params}
        body = self._body(op, taken)
        if body is not None:
            taken.add(body.media_arg)
        accept = tuple(
            dict.fromkeys(
                c.media_type.split(";")[0].strip()
                for r in op.responses
                if r.status.startswith("2") and not _bodiless(op.method, r.status)
                for c in r.contents
                if not is_event_stream(c.media_type)
            )
        )
        if len({m.lower() for m in accept}) < 2:
            accept = ()
        else:  # the first JSON type leads: it is the default
            accept = tuple(sorted(accept, key=lambda m: media_kind(m) != "json"))
        return OperationPlan(
            op=op,
            name=op.python_name,
            pascal=name_pascal,
            params=params,
            body=body,
            accept=accept,
            accept_arg=NameRegistry(taken).claim("accept"),
            ok_json=_union(ok_json or ["None"]),
            responses=responses,
            ok_annotation=_union(ok),
            error_alias=alias,
            security=security,
            events=any(
                r.status.startswith("2") and is_event_stream(c.media_type)
                for r in op.responses
                for c in r.contents
            ),
        )


def _bodiless(method: str, status: str) -> bool:
    return method.upper() == "HEAD" or status in {"204", "304"}


_RESPONSE_ORDER = {"json": 0, "text": 1, "binary": 2, "form": 3, "multipart": 4}


def _union(parts: list[str]) -> str:
    seen: list[str] = []
    for part in parts:
        for atom in _split_union(part):
            if atom not in seen:
                seen.append(atom)
    if "None" in seen:
        seen = [a for a in seen if a != "None"] + ["None"]
    if "Any" in seen:
        return "Any"
    return " | ".join(seen)


def _split_union(text: str) -> list[str]:
    depth = 0
    out: list[str] = []
    current = ""
    for char in text:
        depth += char in "[("
        depth -= char in "])"
        if char == "|" and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += char
    out.append(current.strip())
    return out


def identifiers(text: str) -> set[str]:
    """Names an annotation text refers to (outside string literals)."""
    without_strings = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", without_strings))
