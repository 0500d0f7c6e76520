"""Separate request and response shapes for schemas with ``readOnly`` / ``writeOnly`` properties
(G25), as a pass over the IR between the parser and the emitters.

A readOnly property is only sent by the server, a writeOnly one only by the client. So a schema
``S`` that has either keeps its name for the response shape (its writeOnly properties left out),
and gets a request shape ``SInput`` (its readOnly properties optional, unset unless the caller sets
them, so an object received can be sent back); every schema that refers
to such a schema, directly or through arrays, maps, unions, aliases or an allOf base, gets an
``Input`` twin too, so a request body never contains a response-only type. Operation bodies and
parameters use the request shapes; responses, webhooks and callbacks (sent by the server) use the
response shapes. A discriminator property is never left out (the tag must stay on the wire).

It must never touch a schema without readOnly/writeOnly properties below it: documents without
them come out unchanged, names included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from . import ir

INPUT_SUFFIX = "Input"
_INPUT_ID = "#input"


def is_request_shape(def_id: str) -> bool:
    """Whether ``def_id`` names a request shape this pass added."""
    return def_id.endswith(_INPUT_ID)


def split_read_write(api: ir.Api) -> ir.Api:
    """``api`` with request shapes added and used by operation bodies and parameters."""
    defs = api.definitions
    direct = {
        def_id
        for def_id, d in defs.items()
        if isinstance(d, ir.SchemaModel) and any(f.read_only or f.write_only for f in d.fields)
    }
    if not direct:
        return api
    # Only what a request can carry gets a request shape (not, say, an inline error body).
    needs = _closure(defs, direct) & _reachable(defs, api.operations)
    taken = {d.name for d in defs.values()}
    input_ids = {def_id: def_id + _INPUT_ID for def_id in needs}
    tags = _discriminator_properties(defs)
    out: dict[str, ir.Definition] = {}
    for def_id, definition in defs.items():
        if def_id not in needs:
            out[def_id] = definition
            continue
        out[def_id] = _response_shape(definition, tags)
        name = _unique(definition.name + INPUT_SUFFIX, taken)
        out[input_ids[def_id]] = _request_shape(definition, name, input_ids, tags)
    operations = tuple(_request_side(op, input_ids) for op in api.operations)
    return replace(api, definitions=out, operations=operations)


def _refs(t: ir.TypeExpr | None) -> Iterator[str]:
    match t:
        case ir.Ref(id=def_id):
            yield def_id
        case ir.ArrayOf(item=inner) | ir.MapOf(value=inner) | ir.Nullable(inner=inner):
            yield from _refs(inner)
        case ir.UnionOf(variants=variants):
            for variant in variants:
                yield from _refs(variant)
        case _:
            pass


def _dependencies(definition: ir.Definition) -> set[str]:
    match definition:
        case ir.SchemaModel():
            found = {r for f in definition.fields for r in _refs(f.type)}
            if definition.base is not None:
                found.add(definition.base)
            return found
        case ir.UnionModel():
            return {r for v in definition.variants for r in _refs(v)}
        case ir.AliasModel():
            return set(_refs(definition.target))
        case _:
            return set()


def _closure(defs: Mapping[str, ir.Definition], direct: set[str]) -> set[str]:
    """Every definition with a readOnly/writeOnly property at or below it."""
    users: dict[str, set[str]] = {}
    for def_id, definition in defs.items():
        for dep in _dependencies(definition):
            users.setdefault(dep, set()).add(def_id)
    needs = set(direct)
    pending = sorted(direct)
    while pending:
        for user in users.get(pending.pop(), ()):
            if user not in needs:
                needs.add(user)
                pending.append(user)
    return needs


def _reachable(defs: Mapping[str, ir.Definition], operations: tuple[ir.Operation, ...]) -> set[str]:
    """The definitions an operation's body or parameters refer to, directly or below."""
    pending: list[str] = []
    for op in operations:
        contents = [
            *(op.body.contents if op.body else ()),
            *(c for p in op.parameters for c in p.content),
        ]
        pending += [r for p in op.parameters for r in _refs(p.type)]
        pending += [r for c in contents for r in _refs(c.type)]
    seen: set[str] = set()
    while pending:
        def_id = pending.pop()
        if def_id not in seen and def_id in defs:
            seen.add(def_id)
            pending.extend(_dependencies(defs[def_id]))
    return seen


def _discriminator_properties(defs: Mapping[str, ir.Definition]) -> set[str]:
    return {
        d.discriminator.property
        for d in defs.values()
        if isinstance(d, ir.SchemaModel | ir.UnionModel) and d.discriminator is not None
    }


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate


def _rewrite(t: ir.TypeExpr, input_ids: Mapping[str, str]) -> ir.TypeExpr:
    match t:
        case ir.Ref(id=def_id):
            return ir.Ref(input_ids.get(def_id, def_id))
        case ir.ArrayOf():
            return replace(t, item=_rewrite(t.item, input_ids))
        case ir.MapOf():
            return replace(t, value=_rewrite(t.value, input_ids))
        case ir.Nullable():
            return replace(t, inner=_rewrite(t.inner, input_ids))
        case ir.UnionOf():
            return replace(t, variants=tuple(_rewrite(v, input_ids) for v in t.variants))
        case _:
            return t


def _rewrite_discriminator(
    discriminator: ir.Discriminator | None, input_ids: Mapping[str, str]
) -> ir.Discriminator | None:
    if discriminator is None:
        return None
    mapping = tuple(
        (value, input_ids.get(target, target)) for value, target in discriminator.mapping
    )
    return replace(discriminator, mapping=mapping)


def _response_shape(definition: ir.Definition, tags: set[str]) -> ir.Definition:
    if not isinstance(definition, ir.SchemaModel):
        return definition
    kept = tuple(f for f in definition.fields if not f.write_only or f.wire_name in tags)
    return definition if len(kept) == len(definition.fields) else replace(definition, fields=kept)


def _request_shape(
    definition: ir.Definition, name: str, input_ids: Mapping[str, str], tags: set[str]
) -> ir.Definition:
    about = (
        f"``{definition.name}`` as sent in requests: readOnly properties optional and unset "
        "(here or below), writeOnly ones included."
    )
    description = about + (f"\n\n{definition.description}" if definition.description else "")
    new_id = input_ids[definition.id]
    match definition:
        case ir.SchemaModel():
            # A readOnly property stays, optional and unset unless the caller sets it: servers
            # ignore it (the specification), and a client that echoes an object it received
            # back (PUT of a GET) must be able to.
            fields = tuple(
                replace(f, type=_rewrite(f.type, input_ids))
                if not f.read_only or f.wire_name in tags
                else replace(
                    f, type=_rewrite(f.type, input_ids), required=False, default=ir.MISSING
                )
                for f in definition.fields
            )
            base = None if definition.base is None else input_ids.get(definition.base)
            return replace(
                definition,
                id=new_id,
                name=name,
                fields=fields,
                base=base if base is not None else definition.base,
                description=description,
                discriminator=_rewrite_discriminator(definition.discriminator, input_ids),
            )
        case ir.UnionModel():
            return replace(
                definition,
                id=new_id,
                name=name,
                variants=tuple(_rewrite(v, input_ids) for v in definition.variants),
                discriminator=_rewrite_discriminator(definition.discriminator, input_ids),
                description=description,
            )
        case ir.AliasModel():
            return replace(
                definition,
                id=new_id,
                name=name,
                target=_rewrite(definition.target, input_ids),
                description=description,
            )
        case _:  # an enum has no properties: never in the closure
            raise AssertionError(definition)


def _request_side(op: ir.Operation, input_ids: Mapping[str, str]) -> ir.Operation:
    def content(c: ir.MediaContent) -> ir.MediaContent:
        return c if c.type is None else replace(c, type=_rewrite(c.type, input_ids))

    parameters = tuple(
        replace(
            p,
            type=_rewrite(p.type, input_ids),
            content=tuple(content(c) for c in p.content),
        )
        for p in op.parameters
    )
    body = op.body
    if body is not None:
        body = replace(body, contents=tuple(content(c) for c in body.contents))
    return replace(op, parameters=parameters, body=body)
